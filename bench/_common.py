"""Helpers shared by the benchmarks: machine description and peak memory."""

from __future__ import annotations

import os
import platform
import resource
import statistics
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
MIRROR_MOUSE = REPO.parent / "shared" / "data" / "mirror-mouse-example"
BASE_CONFIG = REPO / "configs" / "base" / "mirror-mouse-resnet18.yaml"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}; torch {torch.__version__}, {torch.get_num_threads()} threads"


def peak_rss_gb() -> float:
    """Peak resident memory of this process and of its largest child (data-loader workers), in GB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024**2


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
