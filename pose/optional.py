"""The one way to import an optional dependency: a lazy import whose failure names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from pose.errors import PoseError


class MissingExtraError(PoseError):
    """An optional dependency a feature needs is not installed."""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or fail in one line naming ``pip install 'pose-sweeper[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(
            f"{feature} needs {module.split('.')[0]}, which is not installed "
            f"(pip install 'pose-sweeper[{extra}]'): {err}"
        ) from None
