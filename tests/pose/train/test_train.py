"""End-to-end training on tiny synthetic data: outputs, and one test per ``training.*`` key."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pose.config import PoseConfig, load_config
from pose.data import read_labels
from pose.errors import ConfigError, WeightsError
from pose.pipeline import train
from pose.predict import read_predictions
from pose.train.callbacks import BackboneUnfreeze

FAST = [
    "data.image_resize_dims.height=64",
    "data.image_resize_dims.width=64",
    "training.max_epochs=2",
    "training.min_epochs=1",
    "training.unfreezing_epoch=0",
    "training.check_val_every_n_epoch=1",
    "training.lr_scheduler_params.multisteplr.milestones=[1]",
    "training.num_workers=0",
    "training.train_batch_size=8",
    "training.imgaug=default",
    "training.log_every_n_steps=1",
    "training.precision=32",
]


def fast_cfg(data_dir: Path, *overrides: str) -> PoseConfig:
    return load_config(data_dir / "config.yaml", [*FAST, *overrides])


def run(cfg: PoseConfig, out: Path, **kwargs):
    return train(cfg, out, progress_bar=False, **kwargs)


def logged(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "logs" / "metrics.csv")


def test_outputs_written(synthetic_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run(fast_cfg(synthetic_dir), out)
    for name in (
        "config.yaml",
        "best.ckpt",
        "predictions.csv",
        "predictions_pixel_error.csv",
        "metrics.json",
    ):
        assert (out / name).is_file(), name
    preds = read_predictions(out / "predictions.csv")
    assert len(preds) == 40
    assert list(preds.columns.get_level_values(2)[:3]) == ["x", "y", "likelihood"]
    assert set(preds[("set", "", "")]) <= {"train", "validation", "test", "unused"}
    assert (preds[("set", "", "")] == "train").sum() == result.metrics["num_train_frames"]
    likelihood = preds.xs("likelihood", axis=1, level=2).to_numpy(dtype=float)
    assert np.all((likelihood >= 0) & (likelihood <= 1))
    errors = pd.read_csv(out / "predictions_pixel_error.csv", index_col=0)
    assert list(errors.columns[:5]) == ["nose", "ear_left", "ear_right", "tail_base", "tail_tip"]
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "best_val_loss",
        "pixel_error",
        "epochs_run",
        "train_seconds",
        "train_images_per_second",
    ):
        assert key in metrics
    assert metrics["epochs_run"] == 2
    assert set(metrics["pixel_error"]) == {"train", "validation", "test"}
    assert metrics["train_images_per_second"] > 0
    # the resolved config reloads and names the keypoints read from the CSV
    again = load_config(out / "config.yaml")
    assert again.data.keypoint_names == ["nose", "ear_left", "ear_right", "tail_base", "tail_tip"]
    state = torch.load(out / "best.ckpt", weights_only=True)
    assert any(k.startswith("model.") for k in state["state_dict"])


def test_existing_output_dir_is_never_overwritten(synthetic_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(ConfigError, match="not empty"):
        run(fast_cfg(synthetic_dir), out)
    assert (out / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_batch_sizes_and_splits(synthetic_dir: Path, tmp_path: Path) -> None:
    cfg = fast_cfg(
        synthetic_dir,
        "training.train_batch_size=4",
        "training.max_epochs=1",
        "training.train_prob=0.5",
        "training.val_prob=0.25",
        "training.train_frames=10",
    )
    result = run(cfg, tmp_path / "r")
    m = result.metrics
    assert (m["num_train_frames"], m["num_val_frames"], m["num_test_frames"]) == (10, 10, 10)
    # one epoch of 10 frames at batch 4 -> 3 optimizer steps (last batch kept or dropped: 2 or 3)
    assert m["steps_run"] in (2, 3)


def test_unfreezing_epoch_keeps_backbone_fixed(synthetic_dir: Path, tmp_path: Path) -> None:
    cfg = fast_cfg(synthetic_dir, "training.unfreezing_epoch=2", "training.max_epochs=2")
    from pose.models.pose_model import build_model

    torch.manual_seed(cfg.training.rng_seed_model_pt)
    reference = build_model("resnet18", "heatmap", 5, (64, 64), 2, pretrained=False)
    run(cfg, tmp_path / "r")
    state = torch.load(tmp_path / "r" / "best.ckpt", weights_only=True)["state_dict"]
    conv = state[
        "model.backbone."
        + next(k for k in reference.backbone.state_dict() if k.endswith("conv1.weight"))
    ]
    assert torch.equal(
        conv,
        reference.backbone.state_dict()[
            next(k for k in reference.backbone.state_dict() if k.endswith("conv1.weight"))
        ],
    )


def test_unfreeze_callback_by_epoch_and_step() -> None:
    by_epoch, by_step = BackboneUnfreeze(epoch=3), BackboneUnfreeze(step=10)

    class T:
        current_epoch, global_step = 2, 9

    assert not by_epoch._due(T()) and not by_step._due(T())
    T.current_epoch, T.global_step = 3, 10
    assert by_epoch._due(T()) and by_step._due(T())


@pytest.mark.parametrize("mode", ["epoch", "step"])
def test_backbone_learning_rate_ramps_up_as_lightning_pose(mode: str) -> None:
    """Frozen (rate 0) before unfreezing; then 0.1x the head's rate, 1.5x more per epoch (per
    step in step mode), until it meets the head's; the scheduler alone sets it afterwards."""
    backbone, head = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(
        [{"params": backbone.parameters(), "name": "backbone"}, {"params": head.parameters()}],
        lr=1e-3,
    )

    class Module:
        model = torch.nn.Module()

    Module.model.backbone = backbone

    class Trainer:
        optimizers = [optimizer]
        current_epoch = global_step = 0

    callback = BackboneUnfreeze(**{mode: 2})
    trainer, module = Trainer(), Module()
    callback.on_fit_start(trainer, module)
    seen = []
    for t in range(10):
        trainer.current_epoch = trainer.global_step = t
        if t >= 8:  # milestones halve both groups' rates
            for group in optimizer.param_groups:
                group["lr"] *= 0.5
        callback.on_train_epoch_start(trainer, module)
        callback.on_train_batch_start(trainer, module, None, 0)
        seen.append(optimizer.param_groups[0]["lr"])
        assert backbone.weight.requires_grad == (t >= 2)
    ramp = [1e-4 * 1.5**k for k in range(6)]  # epochs 2..7: 1e-4 .. 7.6e-4
    # capped by the head's halved rate at 8, where it meets it; halved by the scheduler at 9
    assert seen == pytest.approx([0.0, 0.0, *ramp, 5e-4, 2.5e-4])
    assert callback.ramped


def test_epochs_validation_logging_and_checkpoints(synthetic_dir: Path, tmp_path: Path) -> None:
    cfg = fast_cfg(
        synthetic_dir,
        "training.max_epochs=4",
        "training.min_epochs=4",
        "training.check_val_every_n_epoch=2",
        "training.ckpt_every_n_epochs=2",
        "training.log_every_n_steps=2",
        "training.lr_scheduler_params.multisteplr.milestones=[2]",
    )
    out = tmp_path / "r"
    result = run(cfg, out)
    assert result.metrics["epochs_run"] == 4
    log = logged(out)
    val_epochs = sorted(log.dropna(subset=["val/loss"])["epoch"].astype(int).tolist())
    assert val_epochs == [1, 3]  # validation after epochs 2 and 4 (0-based 1 and 3)
    step_rows = log.dropna(subset=["train/loss_step"])
    assert (step_rows["step"] % 2 == 1).all()  # logged every 2 steps
    assert sorted(p.name for p in (out / "checkpoints").glob("epoch=*.ckpt")) == [
        "epoch=1.ckpt",
        "epoch=3.ckpt",
    ]


def test_early_stopping_honors_patience(synthetic_dir: Path, tmp_path: Path) -> None:
    # a zero-ish learning rate means val loss never improves after the first check
    cfg = fast_cfg(
        synthetic_dir,
        "training.max_epochs=20",
        "training.min_epochs=3",
        "training.early_stopping=true",
        "training.early_stop_patience=2",
        "training.optimizer_params.learning_rate=1e-12",
        "training.lr_scheduler_params.multisteplr.milestones=[10]",
    )
    result = run(cfg, tmp_path / "r")
    assert (
        3 <= result.metrics["epochs_run"] <= 4
    )  # min_epochs holds it to 3; patience 2 stops it soon after


def test_seeds_make_runs_reproducible(synthetic_dir: Path, tmp_path: Path) -> None:
    a = run(fast_cfg(synthetic_dir, "training.max_epochs=1"), tmp_path / "a")
    b = run(fast_cfg(synthetic_dir, "training.max_epochs=1"), tmp_path / "b")
    c = run(
        fast_cfg(synthetic_dir, "training.max_epochs=1", "training.rng_seed_model_pt=7"),
        tmp_path / "c",
    )
    pa, pb, pc = (read_predictions(r.output_dir / "predictions.csv") for r in (a, b, c))
    assert np.allclose(pa.iloc[:, :-1].to_numpy(float), pb.iloc[:, :-1].to_numpy(float), atol=1e-4)
    assert not np.allclose(
        pa.iloc[:, :-1].to_numpy(float), pc.iloc[:, :-1].to_numpy(float), atol=1e-4
    )
    d = run(
        fast_cfg(synthetic_dir, "training.max_epochs=1", "training.rng_seed_data_pt=3"),
        tmp_path / "d",
    )
    sa = pa[("set", "", "")].tolist()
    sd = read_predictions(d.output_dir / "predictions.csv")[("set", "", "")].tolist()
    assert sa != sd


def test_optimizer_lr_scheduler_and_accumulation(synthetic_dir: Path, tmp_path: Path) -> None:
    cfg = fast_cfg(
        synthetic_dir,
        "training.optimizer=AdamW",
        "training.optimizer_params.learning_rate=0.004",
        "training.max_epochs=3",
        "training.lr_scheduler_params.multisteplr.milestones=[1,2]",
        "training.lr_scheduler_params.multisteplr.gamma=0.25",
        "training.accumulate_grad_batches=2",
    )
    lrs: list[dict[str, float]] = []

    from lightning.pytorch.callbacks import Callback

    class RecordLR(Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            opt = trainer.optimizers[0]
            assert type(opt).__name__ == "AdamW"
            lrs.append({g["name"]: g["lr"] for g in opt.param_groups})

    result = run(cfg, tmp_path / "r", extra_callbacks=[RecordLR()])
    assert [lr["head"] for lr in lrs] == pytest.approx([0.004, 0.001, 0.00025])
    # the backbone (unfrozen at epoch 0) starts at 0.1x the head's rate, then 1.5x per epoch,
    # capped by the head's rate as the scheduler lowers it
    assert [lr["backbone"] for lr in lrs] == pytest.approx([0.0004, 0.0006, 0.00025])
    logged = pd.read_csv(tmp_path / "r" / "logs" / "metrics.csv")
    assert logged["lr-AdamW/backbone"].dropna().tolist() == pytest.approx([0.0004, 0.0006, 0.00025])
    assert logged["lr-AdamW/head"].dropna().tolist() == pytest.approx([0.004, 0.001, 0.00025])
    n_train = result.metrics["num_train_frames"]
    batches = -(-n_train // 8) if n_train % 8 else n_train // 8
    # two batches per optimizer step
    assert result.metrics["steps_run"] == 3 * (-(-batches // 2))


def test_step_based_training(synthetic_dir: Path, tmp_path: Path) -> None:
    cfg = load_config(
        synthetic_dir / "config.yaml",
        [o for o in FAST if "epoch" not in o and "milestones" not in o]
        + [
            "training.max_epochs=null",
            "training.min_epochs=null",
            "training.unfreezing_epoch=null",
            "training.lr_scheduler_params.multisteplr.milestones=null",
            "training.max_steps=7",
            "training.min_steps=7",
            "training.unfreezing_step=3",
            "training.lr_scheduler_params.multisteplr.milestone_steps=[5]",
        ],
    )
    result = run(cfg, tmp_path / "r")
    assert result.metrics["steps_run"] == 7


def test_model_checkpoint_initializes_weights(synthetic_dir: Path, tmp_path: Path) -> None:
    first = run(fast_cfg(synthetic_dir, "training.max_epochs=1"), tmp_path / "a")
    cfg = fast_cfg(
        synthetic_dir,
        "training.max_epochs=1",
        "training.optimizer_params.learning_rate=1e-12",
        f"model.checkpoint={first.best_checkpoint}",
        "training.rng_seed_model_pt=99",
    )
    second = run(cfg, tmp_path / "b")
    wa = torch.load(first.best_checkpoint, weights_only=True)["state_dict"]
    wb = torch.load(second.best_checkpoint, weights_only=True)["state_dict"]
    conv = [k for k in wa if k.endswith("weight") and wa[k].ndim == 4]
    assert conv and all(
        torch.allclose(wa[k], wb[k], atol=1e-6) for k in conv
    )  # lr ~ 0: still the loaded weights
    third = run(
        fast_cfg(
            synthetic_dir,
            "training.max_epochs=1",
            "training.optimizer_params.learning_rate=1e-12",
            "training.rng_seed_model_pt=99",
        ),
        tmp_path / "c",
    )
    wc = torch.load(third.best_checkpoint, weights_only=True)["state_dict"]
    assert not torch.allclose(
        wa[conv[0]], wc[conv[0]]
    )  # without model.checkpoint: a different init


@pytest.mark.parametrize("start_wins", [True, False])
def test_starting_weights_compete_for_best_checkpoint(
    synthetic_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_wins: bool
) -> None:
    """With model.checkpoint, best.ckpt is the start when no epoch has a lower val loss."""
    import pose.train.run as run_module

    first = run(fast_cfg(synthetic_dir, "training.max_epochs=1"), tmp_path / "a")
    real = run_module._score_start

    def scored(*args, **kwargs):
        start = real(*args, **kwargs)
        start.val_loss = -1.0 if start_wins else float("nan")  # always best / never usable
        return start

    monkeypatch.setattr(run_module, "_score_start", scored)
    cfg = fast_cfg(
        synthetic_dir, "training.max_epochs=2", f"model.checkpoint={first.best_checkpoint}"
    )
    result = run(cfg, tmp_path / "b")
    m = result.metrics
    assert m["best_is_start"] is start_wins
    assert m["start_val_pixel_error"] is not None
    start = torch.load(first.best_checkpoint, weights_only=True)["state_dict"]
    best = torch.load(result.best_checkpoint, weights_only=True)["state_dict"]
    same = all(torch.equal(start[k], best[k]) for k in start if k.endswith("weight"))
    assert same is start_wins
    assert (m["best_val_loss"] == -1.0) is start_wins
    assert not (tmp_path / "b" / "checkpoints" / "best.ckpt").exists()


def test_pretrained_backbone_from_explicit_weights_file(
    synthetic_dir: Path, tmp_path: Path
) -> None:
    from pose.models.backbones import build_backbone

    torch.manual_seed(123)
    source = build_backbone("resnet18", pretrained=False, image_hw=(64, 64))
    weights = tmp_path / "resnet18-mine.pth"
    torch.save(source.model.state_dict(), weights)
    cfg = fast_cfg(
        synthetic_dir,
        "training.max_epochs=1",
        "training.unfreezing_epoch=5",
        "model.backbone_pretrained=true",
        f"model.backbone_weights={weights}",
    )
    result = run(cfg, tmp_path / "r")
    state = torch.load(result.best_checkpoint, weights_only=True)["state_dict"]
    assert torch.equal(state["model.backbone.model.conv1.weight"], source.model.conv1.weight)


def test_bad_checkpoint_is_a_clear_error(synthetic_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="model.checkpoint"):
        run(
            fast_cfg(synthetic_dir, f"model.checkpoint={tmp_path / 'missing.ckpt'}"), tmp_path / "r"
        )
    assert not (tmp_path / "r").exists()


def test_bf16_precision_and_regression_head(synthetic_dir: Path, tmp_path: Path) -> None:
    result = run(
        fast_cfg(
            synthetic_dir,
            "training.max_epochs=1",
            "training.precision=bf16",
            "model.model_type=regression",
        ),
        tmp_path / "r",
    )
    assert result.metrics["precision"] == "bf16"
    preds = read_predictions(tmp_path / "r" / "predictions.csv")
    assert np.isfinite(preds.xs("x", axis=1, level=2).to_numpy(float)).all()


@pytest.mark.parametrize("uniform", [True, False])
def test_uniform_heatmaps_for_nan_keypoints(
    synthetic_dir: Path, tmp_path: Path, uniform: bool
) -> None:
    result = run(
        fast_cfg(
            synthetic_dir,
            "training.max_epochs=1",
            f"training.uniform_heatmaps_for_nan_keypoints={uniform}",
        ),
        tmp_path / "r",
    )
    assert np.isfinite(result.metrics["best_val_loss"])


def test_num_workers_and_gpus_fall_back_to_cpu(synthetic_dir: Path, tmp_path: Path) -> None:
    result = run(
        fast_cfg(
            synthetic_dir, "training.max_epochs=1", "training.num_workers=1", "training.num_gpus=0"
        ),
        tmp_path / "r",
    )
    assert result.metrics["accelerator"] == "cpu"


def test_several_devices_train_with_ddp(
    synthetic_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """num_gpus > 1 runs DDP in spawned ranks; CPU ranks (gloo) stand in for GPUs here."""
    monkeypatch.setattr("pose.train.run._devices", lambda accelerator, num_gpus: 2)
    out = tmp_path / "ddp"
    result = run(fast_cfg(synthetic_dir, "training.train_batch_size=4"), out)
    m = result.metrics
    assert m["devices"] == 2
    # each rank trains on its half of the train frames; totals come back from rank 0
    steps_per_epoch = math.ceil(math.ceil(m["num_train_frames"] / 2) / 4)
    assert (m["epochs_run"], m["steps_run"]) == (2, 2 * steps_per_epoch)
    assert m["train_images_per_second"] > 0 and m["best_val_loss"] is not None
    assert len(read_predictions(out / "predictions.csv")) == 40
    state = torch.load(out / "best.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    best = {k: v for k, v in state.items() if k.endswith("weight")}
    assert best and all(torch.isfinite(v).all() for v in best.values())


def frame_errors(preds: pd.DataFrame, truth: np.ndarray) -> np.ndarray:
    """``[N, K]`` distances of a predictions CSV's x, y to full-frame labels ``truth``."""
    xy = np.stack([preds.xs(c, axis=1, level=2).to_numpy(float) for c in ("x", "y")], axis=-1)
    return np.linalg.norm(xy - truth, axis=-1)


def test_crops_train_and_predict_in_full_frame_pixels(
    cropped_synthetic_dir: Path, synthetic_dir: Path, tmp_path: Path
) -> None:
    """``data.bbox_file``: predictions.csv and its errors are in the frames' pixels (the
    uncropped labels), and the videos after training are predicted as whole frames."""
    out = tmp_path / "run"
    cfg = fast_cfg(
        cropped_synthetic_dir, "training.max_epochs=1", "eval.predict_vids_after_training=true"
    )
    result = run(cfg, out)
    truth = read_labels(synthetic_dir / "CollectedData.csv").keypoints
    errors = pd.read_csv(out / "predictions_pixel_error.csv", index_col=0)
    written = errors[list(cfg.data.keypoint_names or [])].to_numpy(float)
    np.testing.assert_allclose(
        frame_errors(read_predictions(out / "predictions.csv"), truth), written, rtol=1e-4
    )
    train_rows = (errors["set"] == "train").to_numpy()
    mean_train = np.nanmean(written[train_rows])
    assert result.metrics["pixel_error"]["train"] == pytest.approx(mean_train, rel=1e-4)
    assert len(read_predictions(out / "video_preds" / "synthetic.csv")) == 24


def test_context_model_trains_and_reloads(tmp_path: Path) -> None:
    """heatmap_mhcrnn end to end: windows in training, a video after training, and the reloaded
    checkpoint (reading each image's neighbouring frames beside it) reproducing predictions.csv."""
    from pose.data.synthetic import make_example_dataset
    from pose.predict.images import load_trained, predict_images

    data = tmp_path / "data"
    make_example_dataset(data, n_images=16, n_video_frames=9, seed=2, context=True)
    out = tmp_path / "run"
    result = run(fast_cfg(data, "eval.predict_vids_after_training=true"), out)
    m = result.metrics
    assert m["epochs_run"] == 2 and m["best_val_loss"] is not None
    assert m["videos"]["synthetic.mp4"]["frames"] == 9
    assert len(read_predictions(out / "video_preds" / "synthetic.csv")) == 9

    preds = read_predictions(out / "predictions.csv")
    assert len(preds) == 16 and str(preds.index[0]).endswith("clip0000/img0002.png")
    trained = load_trained(out / "config.yaml", out / "best.ckpt", device="cpu")
    assert trained.module.model.context_offsets == (-2, -1, 0, 1, 2)
    trained.precision = "32"  # as trained (the CPU default for inference is bf16)
    xy, likelihood = predict_images(trained, [data / p for p in preds.index[:4]])
    written = np.stack([preds.xs(c, axis=1, level=2).to_numpy(float)[:4] for c in ("x", "y")], -1)
    assert np.allclose(xy, written, atol=0.01)
    # without neighbours beside it, an image is its own context: as if its 4 neighbours were copies
    lone = tmp_path / "lone" / "img0002.png"
    lone.parent.mkdir()
    lone.write_bytes((data / preds.index[0]).read_bytes())
    alone, alone_likelihood = predict_images(trained, [lone])
    for f in (0, 1, 3, 4):
        (tmp_path / "copies" / f"img{f:04d}.png").parent.mkdir(exist_ok=True)
        (tmp_path / "copies" / f"img{f:04d}.png").write_bytes(lone.read_bytes())
    (tmp_path / "copies" / "img0002.png").write_bytes(lone.read_bytes())
    copies, copies_likelihood = predict_images(trained, [tmp_path / "copies" / "img0002.png"])
    assert np.array_equal(alone, copies) and np.array_equal(alone_likelihood, copies_likelihood)
