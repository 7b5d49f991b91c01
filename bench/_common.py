"""Helpers shared by the benchmarks: machine description and peak memory."""

from __future__ import annotations

import os
import platform
import statistics
import threading
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


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def tree_pss_gb() -> float:
    """Proportional set size of this process and all its descendants, in GB."""
    pids = [os.getpid()]
    for pid in pids:  # grows while iterating: the whole tree
        pids.extend(_children(pid))
    return sum(_pss_kb(pid) for pid in pids) / 1024**2


class PeakMemory:
    """Peak proportional set size (PSS) of this process and its children, sampled in a thread.

    PSS counts pages shared by forked data-loader workers once, so the figure is the tree's real
    footprint (summing each process's RSS would count the shared pages once per worker). Reading
    PSS costs the kernel a page-table walk per process, so timed runs must not sample: measure
    speed and memory in separate runs.
    """

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_pss_gb())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
