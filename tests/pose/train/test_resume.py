"""Resuming from a periodic checkpoint: the epochs, rates and best weights go on where they were."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from pose.errors import WeightsError
from pose.train.resume import BEST_KEY, RESUME_FILE, read_resumable, relocate
from tests.pose.train.test_train import fast_cfg, logged, run

EPOCHS = [
    "training.max_epochs=4",
    "training.min_epochs=4",
    "training.ckpt_every_n_epochs=1",
    "training.lr_scheduler_params.multisteplr.milestones=[2]",
]
RATES = ["lr-Adam/backbone", "lr-Adam/head"]


@pytest.fixture(scope="module")
def interrupted(synthetic_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-epoch run with a full-state checkpoint after every epoch."""
    out = tmp_path_factory.mktemp("resume") / "first"
    run(fast_cfg(synthetic_dir, *EPOCHS), out)
    return out


def _rates(out: Path) -> pd.DataFrame:
    return logged(out).dropna(subset=RATES).set_index("step")[RATES]


class _BestAtStart(Callback):
    """Records the best score the checkpoint callback holds when the first resumed epoch starts."""

    score: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.score is None:
            self.score = float(trainer.checkpoint_callback.best_model_score)  # type: ignore[union-attr]


def test_a_resumed_run_trains_the_remaining_epochs_at_the_rates_it_had(
    interrupted: Path, synthetic_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resumed into a relative directory (a sweep's default ``mlruns/trials/...``): Lightning
    keeps checkpoint state only for its own spelling of the directory, best score included."""
    monkeypatch.chdir(tmp_path)
    out = Path("resumed")
    probe = _BestAtStart()
    checkpoint = interrupted / "checkpoints" / "epoch=1.ckpt"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*dirpath has changed")
        result = run(
            fast_cfg(synthetic_dir, *EPOCHS), out, resume_from=checkpoint, extra_callbacks=[probe]
        )
    assert probe.score == pytest.approx(read_resumable(checkpoint)[BEST_KEY]["score"], rel=1e-6)
    resumed_val = logged(out).dropna(subset=["val/loss"])["val/loss"]
    assert result.metrics["best_val_loss"] == pytest.approx(
        min(probe.score, resumed_val.min()), rel=1e-6
    )
    assert sorted(logged(out)["epoch"].dropna().unique()) == [2, 3]
    assert result.metrics["epochs_run"] == 2
    # the scheduler's halving at epoch 2 and the backbone's ramp go on as in the first run
    first, resumed = _rates(interrupted), _rates(out)
    assert list(resumed.index) == [8, 12]
    pd.testing.assert_frame_equal(resumed, first.loc[[8, 12]])
    assert (out / "best.ckpt").is_file()
    assert not (out / "checkpoints" / RESUME_FILE).exists()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "epoch=2.ckpt",
        "epoch=3.ckpt",
    ]


def test_the_best_weights_so_far_travel_with_the_checkpoint(
    interrupted: Path, tmp_path: Path
) -> None:
    """Relocated into another directory, the checkpoint's best (epoch 0 or 1, whichever validated
    lower) is the best the resumed run must beat."""
    val = logged(interrupted).dropna(subset=["val/loss"]).set_index("epoch")["val/loss"]
    checkpoint = read_resumable(interrupted / "checkpoints" / "epoch=1.ckpt")
    carried = checkpoint[BEST_KEY]
    assert carried["score"] == pytest.approx(min(val[0], val[1]), rel=1e-6)
    target = relocate(checkpoint, tmp_path / "ckpts")
    [best_state] = [
        s for k, s in torch.load(target, weights_only=True)["callbacks"].items() if "val/loss" in k
    ]
    assert best_state["dirpath"] == str(tmp_path / "ckpts")
    assert best_state["best_model_path"] == str(tmp_path / "ckpts" / "best.ckpt")
    assert float(best_state["best_model_score"]) == pytest.approx(carried["score"])
    written = torch.load(tmp_path / "ckpts" / "best.ckpt", weights_only=True)["state_dict"]
    assert written.keys() == carried["state_dict"].keys()
    assert all(torch.equal(written[k], carried["state_dict"][k]) for k in written)


def test_a_weights_only_checkpoint_cannot_be_resumed_from(
    interrupted: Path, synthetic_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "resumed"
    with pytest.raises(WeightsError, match=r"best\.ckpt: no training state .*ckpt_every_n_epochs"):
        run(fast_cfg(synthetic_dir, *EPOCHS), out, resume_from=interrupted / "best.ckpt")
    assert not out.exists()
