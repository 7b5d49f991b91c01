"""Periodic checkpoints go to the trial's run once complete; their names give their epochs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sweeper.trial.resume import CheckpointUploader, checkpoint_epoch


class _Tracker:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.logged: list[str] = []

    def log_checkpoint(self, run_id: str, path: Path) -> None:
        if self.fail:
            raise ConnectionError("server away")
        self.logged.append(path.name)


@pytest.mark.parametrize(
    ("name", "epoch"),
    [
        ("epoch=3.ckpt", 3),
        ("checkpoints/epoch=12.ckpt", 12),
        ("best.ckpt", None),
        ("epoch=x.ckpt", None),
    ],
)
def test_checkpoint_epoch(name: str, epoch: int | None) -> None:
    assert checkpoint_epoch(name) == epoch


def test_a_checkpoint_is_logged_once_the_trial_is_past_its_epoch(tmp_path: Path) -> None:
    tracker: Any = _Tracker()
    uploader = CheckpointUploader(tracker, "run", tmp_path)
    for epoch in (0, 1):
        (tmp_path / f"epoch={epoch}.ckpt").write_bytes(b"x")
    (tmp_path / "best.ckpt").write_bytes(b"x")
    uploader.after_epoch(1)  # epoch 1's file may still be being written
    assert tracker.logged == ["epoch=0.ckpt"]
    uploader.after_epoch(2)
    uploader.after_epoch(3)
    assert tracker.logged == ["epoch=0.ckpt", "epoch=1.ckpt"]


def test_a_failed_upload_is_tried_again_after_the_next_epoch(tmp_path: Path) -> None:
    tracker: Any = _Tracker(fail=True)
    uploader = CheckpointUploader(tracker, "run", tmp_path)
    (tmp_path / "epoch=0.ckpt").write_bytes(b"x")
    uploader.after_epoch(1)  # no exception reaches the trial
    tracker.fail = False
    uploader.after_epoch(2)
    assert tracker.logged == ["epoch=0.ckpt"]
