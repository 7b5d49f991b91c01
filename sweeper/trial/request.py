"""What a trial process is asked to do: pickled from the sweep to the child (no engine imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrialRequest:
    """Everything a trial process needs; pickled to the child."""

    raw_config: dict[str, Any]
    output_dir: Path
    log_file: Path
    source: str
    cuda_devices: str | None = None  # CUDA_VISIBLE_DEVICES for this trial; None = leave as is
    torch_threads: int | None = None
    resume_from: Path | None = None  # a periodic checkpoint of a dead worker's trial to go on from
    env: dict[str, str] = field(default_factory=dict)
