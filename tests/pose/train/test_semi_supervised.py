"""Semi-supervised training: the anneal schedule, the objective's composition, and Lightning Pose's
configs training with every loss on CPU (synthetic data always, mirror-mouse where ../shared is)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pose.config import load_config
from pose.errors import ConfigError, DataError
from pose.losses.unsupervised import UNSUPERVISED_LOSSES, Needs, build_unsupervised_losses
from pose.models import build_model_for
from pose.pipeline import train
from pose.train.callbacks import AnnealWeight
from pose.train.module import PoseLightningModule
from tests.conftest import MIRROR_MOUSE, PEER_CONFIGS, require
from tests.pose.train.test_train import FAST

ALL_LOSSES = "[pca_multiview,pca_singleview,temporal]"
# the mirror-mouse example's two views: keypoints 0-6 seen from the top, 8-14 from the bottom
MIRROR_VIEWS = "[[0,1,2,3,4,5,6],[8,9,10,11,12,13,14]]"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # Lightning Pose's defaults: nothing through epoch 0, then +0.01 per epoch up to 1
        ({}, {0: 0.0, 1: 0.01, 50: 0.5, 100: 1.0, 150: 1.0}),
        (
            {"init_val": 0.1, "increase_factor": 0.25, "final_val": 0.6, "freeze_until_epoch": 2},
            {0: 0.1, 2: 0.1, 3: 0.35, 4: 0.6, 9: 0.6},
        ),
    ],
)
def test_anneal_weight_ramps_as_lightning_pose(options: dict, expected: dict) -> None:
    anneal = AnnealWeight(**options)
    assert {epoch: pytest.approx(anneal.value(epoch)) for epoch in expected} == expected


def _module(cfg_path: Path, *overrides: str) -> tuple[PoseLightningModule, object]:
    from pose.data import PoseDataModule

    cfg = load_config(cfg_path, [*FAST, *overrides])
    dm = PoseDataModule(cfg, None)
    dm.setup()
    losses = build_unsupervised_losses(cfg, dm.labels.keypoints[dm.splits.train])
    torch.manual_seed(0)
    return PoseLightningModule(build_model_for(cfg, pretrained=False), cfg, unsupervised=losses), dm


def test_objective_adds_each_weighted_term_times_the_anneal_share(synthetic_dir: Path) -> None:
    module, dm = _module(
        synthetic_dir / "config.yaml",
        "model.losses_to_use=[pca_singleview,temporal]",
        "losses.temporal.epsilon=0",
        "losses.temporal.prob_threshold=0",
        "losses.pca_singleview.log_weight=0.5",
        "losses.temporal.log_weight=-1",
    )
    batch, _, _ = next(iter(dm.train_dataloader()))
    module.unsupervised_importance = 0.5
    # eval mode: batch norm uses running statistics, so the step's one forward over labeled and
    # unlabeled images together gives what two separate forwards give
    module.eval()
    calls = []
    module.model.register_forward_hook(lambda *_: calls.append(1))
    total = module.training_step(batch, 0)
    assert len(calls) == 1  # labeled images and the clip in one batch
    supervised = module.loss(module(batch["labeled"]["image"]), batch["labeled"]["keypoints"])
    terms = module.unsupervised_terms(batch["unlabeled"])
    assert set(terms) == {"pca_singleview", "temporal"}
    assert all(float(t) > 0 for t in terms.values())  # a random model's poses jump and deform
    weights = {"pca_singleview": 1 / (2 * math.exp(0.5)), "temporal": 1 / (2 * math.exp(-1))}
    expected = supervised + 0.5 * sum(weights[n] * t for n, t in terms.items())
    assert float(total) == pytest.approx(float(expected), rel=1e-4)
    # the terms reach the network through the soft-argmax: they alone give gradients
    module.zero_grad()
    sum(terms.values()).backward()
    grads = [p.grad.abs().sum() for p in module.model.head.parameters() if p.grad is not None]
    assert grads and float(sum(grads)) > 0


def test_synthetic_run_logs_each_term_per_epoch_and_the_video_metrics(
    synthetic_dir: Path, tmp_path: Path
) -> None:
    cfg = load_config(
        synthetic_dir / "config.yaml",
        [
            *FAST,
            "model.losses_to_use=[pca_singleview,temporal]",
            "callbacks.anneal_weight.init_val=0.5",
            "callbacks.anneal_weight.increase_factor=0.25",
            "eval.predict_vids_after_training=true",
        ],
    )
    out = tmp_path / "run"
    result = train(cfg, out, progress_bar=False)
    log = pd.read_csv(out / "logs" / "metrics.csv")
    epochs = log.dropna(subset=["train/temporal_loss"])
    assert len(epochs) == 2
    for column in ("train/temporal_loss", "train/pca_singleview_loss", "train/supervised_loss"):
        assert np.isfinite(epochs[column]).all() and (epochs[column] >= 0).all()
    np.testing.assert_allclose(epochs["train/unsupervised_importance"], [0.5, 0.75])
    metrics = json.loads((out / "metrics.json").read_text())
    video = metrics["videos"]["synthetic.mp4"]
    assert video["frames"] == 24
    assert video["pca_singleview_error"] > 0 and 0 <= video["temporal_jump_rate"] <= 1
    assert metrics["video"]["pca_singleview_error"] == pytest.approx(video["pca_singleview_error"])
    errors = pd.read_csv(out / "video_preds" / "synthetic_pca_singleview_error.csv", index_col=0)
    assert errors.shape == (24, 5) and list(errors.columns) == cfg.data.keypoint_names
    assert result.metrics["video"] == metrics["video"]


def test_bad_unsupervised_input_fails_before_anything_is_written(
    synthetic_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    empty = tmp_path / "no-videos"
    empty.mkdir()
    cfg = load_config(
        synthetic_dir / "config.yaml",
        [*FAST, "model.losses_to_use=[temporal]", f"data.video_dir={empty}"],
    )
    with pytest.raises(DataError, match="holds no videos"):
        train(cfg, out, progress_bar=False)
    cfg = load_config(
        synthetic_dir / "config.yaml",
        [*FAST, "model.losses_to_use=[pca_singleview]", "training.train_frames=8"],
    )
    with pytest.raises(ConfigError, match="pca_singleview needs more fully labeled"):
        train(cfg, out, progress_bar=False)
    # keypoints left to the CSV: the columns are checked once it is read, before anything is written
    unnamed = ["data.num_keypoints=null", "data.keypoint_names=null"]
    cfg = load_config(
        synthetic_dir / "config.yaml",
        [
            *FAST,
            *unnamed,
            "model.losses_to_use=[temporal]",
            "data.columns_for_singleview_pca=[0,7]",
        ],
    )
    with pytest.raises(
        ConfigError, match=r"columns_for_singleview_pca': expected indices in \[0, 5\)"
    ):
        train(cfg, out, progress_bar=False)
    assert not out.exists()


def _mirror_mouse(losses: str, model_type: str, *extra: str):
    data = require(MIRROR_MOUSE)
    return load_config(
        PEER_CONFIGS / "lightning-pose_config_mirror-mouse-example.yaml",
        [
            f"data.data_dir={data}",
            f"data.video_dir={data / 'videos'}",
            f"model.losses_to_use={losses}",
            f"model.model_type={model_type}",
            *extra,
        ],
    )


TINY = [
    "model.backbone=resnet18",
    "model.backbone_pretrained=false",
    "data.image_resize_dims.height=64",
    "data.image_resize_dims.width=64",
    "training.max_epochs=1",
    "training.min_epochs=1",
    "training.unfreezing_epoch=0",
    "training.check_val_every_n_epoch=1",
    "training.lr_scheduler_params.multisteplr.milestones=[]",
    "training.num_workers=0",
    "dali.base.train.sequence_length=4",
    "dali.context.train.batch_size=2",
    "callbacks.anneal_weight.init_val=1.0",
    "eval.predict_vids_after_training=false",
]


@pytest.mark.parametrize(
    ("losses", "model_type"),
    [
        ("[pca_singleview]", "heatmap"),
        ("[pca_multiview]", "heatmap"),
        ("[temporal]", "heatmap"),
        (ALL_LOSSES, "heatmap"),
        (ALL_LOSSES, "heatmap_mhcrnn"),
    ],
)
def test_mirror_mouse_trains_with_each_loss(tmp_path: Path, losses: str, model_type: str) -> None:
    cfg = _mirror_mouse(losses, model_type, *TINY)
    assert cfg.data.mirrored_column_matches == json.loads(MIRROR_VIEWS)
    train(cfg, tmp_path / "run", progress_bar=False)
    log = pd.read_csv(tmp_path / "run" / "logs" / "metrics.csv")
    for name in losses.strip("[]").split(","):
        terms = log[f"train/{name}_loss"].dropna()
        assert len(terms) == 1 and float(terms.iloc[0]) > 0, name  # a random model pays each loss


@pytest.mark.slow
def test_lightning_pose_mirror_mouse_example_config_trains_with_only_data_paths_changed(
    tmp_path: Path,
) -> None:
    """LP's own example config as it is (resnet50_animal_ap10k, 300 epochs, [pca_singleview]),
    shortened to one epoch so that the test ends; pretrained weights are not downloadable here."""
    cfg = _mirror_mouse(
        "[pca_singleview]",
        "heatmap",
        "model.backbone_pretrained=false",
        "training.max_epochs=1",
        "training.min_epochs=1",
        "training.lr_scheduler_params.multisteplr.milestones=[]",
        "eval.predict_vids_after_training=false",
    )
    assert (
        cfg.dali.base.train.sequence_length == 16 and cfg.losses.pca_singleview.log_weight == 10.7
    )
    train(cfg, tmp_path / "run", progress_bar=False)
    log = pd.read_csv(tmp_path / "run" / "logs" / "metrics.csv")
    assert len(log["train/pca_singleview_loss"].dropna()) == 1


def test_every_registered_loss_trains_on_the_synthetic_example(
    synthetic_dir: Path, tmp_path: Path
) -> None:
    """The registry's losses that need no views, together in one short run; a loss that needs two
    views of each keypoint (pca_multiview) cannot run on the synthetic animal (mirror-mouse above)."""
    names = [n for n in UNSUPERVISED_LOSSES if Needs.VIEWS not in UNSUPERVISED_LOSSES.get(n).needs]
    assert "temporal" in names and "pca_singleview" in names
    cfg = load_config(
        synthetic_dir / "config.yaml",
        [*FAST, f"model.losses_to_use=[{','.join(names)}]", "training.max_epochs=1"],
    )
    train(cfg, tmp_path / "run", progress_bar=False)
    log = pd.read_csv(tmp_path / "run" / "logs" / "metrics.csv")
    assert all(log[f"train/{n}_loss"].notna().any() for n in names)
