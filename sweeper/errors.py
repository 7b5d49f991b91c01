"""Error type of the sweep layer.

A :class:`SweepError` is a :class:`~pose.errors.PoseError`, so the CLI reports it the same way: one
line on stderr and exit code 2, no traceback.
"""

from __future__ import annotations

from pose.errors import PoseError


class SweepError(PoseError):
    """A bad search space, CLI argument, storage URL or study state caused by the user's input."""
