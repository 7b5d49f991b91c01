"""Periodic checkpoints go to the trial's run once complete; their names give their epochs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sweeper.trial.resume import CheckpointUploader, checkpoint_epoch


class _Tracker:
    tracking_uri = "http://ana:hunter2@mlflow:5000"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.logged: list[str] = []
        self.deleted: list[str] = []

    def log_checkpoint(self, run_id: str, path: Path) -> None:
        if self.fail:
            raise ConnectionError(f"API request to {self.tracking_uri}/api failed")
        self.logged.append(path.name)

    def delete_checkpoint(self, run_id: str, name: str) -> None:
        self.deleted.append(name)


def _epochs(uploader: CheckpointUploader, *epochs: int) -> None:
    for epoch in epochs:
        uploader.after_epoch(epoch)
        uploader.close(wait=True)  # the upload thread, done before the next epoch here


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


def test_the_newest_complete_checkpoint_is_kept_in_the_run(tmp_path: Path) -> None:
    tracker: Any = _Tracker()
    uploader = CheckpointUploader(tracker, "run", tmp_path)
    for epoch in (0, 1):
        (tmp_path / f"epoch={epoch}.ckpt").write_bytes(b"x")
    (tmp_path / "best.ckpt").write_bytes(b"x")
    _epochs(uploader, 1)  # epoch 1's file may still be being written
    assert tracker.logged == ["epoch=0.ckpt"]
    _epochs(uploader, 2, 3)
    assert tracker.logged == ["epoch=0.ckpt", "epoch=1.ckpt"]
    assert tracker.deleted == ["epoch=0.ckpt"]  # a retry needs only the newest


def test_checkpoints_are_ordered_by_epoch_not_by_name(tmp_path: Path) -> None:
    tracker: Any = _Tracker()
    uploader = CheckpointUploader(tracker, "run", tmp_path)
    for epoch in (9, 10):
        (tmp_path / f"epoch={epoch}.ckpt").write_bytes(b"x")
    _epochs(uploader, 11, 12)
    assert tracker.logged == ["epoch=10.ckpt"]  # epoch 9 is older: never uploaded after it


def test_a_failed_upload_is_tried_again_after_the_next_epoch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tracker: Any = _Tracker(fail=True)
    uploader = CheckpointUploader(tracker, "run", tmp_path)
    (tmp_path / "epoch=0.ckpt").write_bytes(b"x")
    _epochs(uploader, 1)  # no exception reaches the trial
    assert "not logged yet" in caplog.text and "hunter2" not in caplog.text
    tracker.fail = False
    _epochs(uploader, 2)
    assert tracker.logged == ["epoch=0.ckpt"]
