"""Error types of the pose engine.

The CLI turns any ``PoseError`` into one line and exit code 2; every other exception is a bug and
keeps its traceback.
"""

from __future__ import annotations


class PoseError(Exception):
    """Base class for errors caused by the user's input (config, data, weights), not by a bug."""


class ConfigError(PoseError):
    """A config key has a bad value, or the config file cannot be read."""


class DataError(PoseError):
    """Label files, images or videos are missing or do not match the config."""


class WeightsError(PoseError):
    """Pretrained weights or a checkpoint cannot be found or loaded."""
