"""Pick the device and numeric precision a run trains and predicts in."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path

import torch

from pose.errors import ConfigError

_LIGHTNING_PRECISION = {"32": "32-true", "bf16": "bf16-mixed", "16": "16-mixed"}


@functools.cache
def cpu_supports_bf16() -> bool:
    """True on CPUs with native bf16 instructions (AVX512-BF16 or AMX), where autocast pays off."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def resolve_precision(setting: str, accelerator: str) -> str:
    """Map ``training.precision`` (auto/32/bf16/16) to the precision used on ``accelerator``.

    ``auto`` uses bf16 autocast on GPUs that support it and on CPUs with native bf16, else fp32.
    """
    if setting == "auto":
        if accelerator == "gpu":
            return "bf16" if torch.cuda.is_bf16_supported() else "16"
        return "bf16" if cpu_supports_bf16() else "32"
    if setting == "16" and accelerator == "cpu":
        raise ConfigError(
            "config key 'training.precision': fp16 autocast needs a GPU; use bf16 or 32 on CPU"
        )
    return setting


def lightning_precision(precision: str) -> str:
    return _LIGHTNING_PRECISION[precision]


def pick_accelerator(num_gpus: int) -> str:
    """'gpu' when the config asks for GPUs and one is present, else 'cpu'."""
    return "gpu" if num_gpus > 0 and torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """Autocast for inference outside Lightning (same precision as training)."""
    if precision in ("bf16", "16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        with torch.autocast(device_type=device.type, dtype=dtype):
            yield
    else:
        yield
