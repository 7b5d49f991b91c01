"""Loading real Lightning Pose configs, overrides, defaults, and every bad-input error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pose.config import build_config, load_config, save_config
from pose.errors import ConfigError
from tests.conftest import MIRROR_MOUSE, PEER_CONFIGS, require

MINIMAL = {
    "data": {
        "data_dir": "/data",
        "csv_file": "CollectedData.csv",
        "image_resize_dims": {"height": 128, "width": 128},
        "num_keypoints": 2,
        "keypoint_names": ["a", "b"],
    },
    "training": {
        "max_epochs": 10,
        "min_epochs": 1,
        "unfreezing_epoch": 0,
        "check_val_every_n_epoch": 1,
    },
}


def _with(**dotted: object) -> dict:
    """MINIMAL with dotted keys set (``training__max_epochs`` style is awkward, so use a dict)."""
    import copy

    raw = copy.deepcopy(MINIMAL)
    for key, value in dotted.items():
        node = raw
        parts = key.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return raw


def _peer_configs() -> list[Path]:
    return sorted(PEER_CONFIGS.glob("*.yaml")) if PEER_CONFIGS.exists() else []


@pytest.mark.parametrize("path", _peer_configs(), ids=lambda p: p.stem)
def test_peer_configs_load_unchanged(path: Path, tmp_path: Path) -> None:
    cfg = load_config(path, [f"data.data_dir={tmp_path}"])
    assert cfg.data.data_dir == str(tmp_path)
    assert cfg.data.image_resize_dims.height in (64, 128, 256, 384, 512)
    raw = yaml.safe_load(path.read_text())
    assert cfg.model.backbone == raw["model"]["backbone"]
    assert cfg.training.train_batch_size == raw["training"]["train_batch_size"]
    if "hydra" in raw:  # accepted and kept as written, never resolved
        assert cfg.hydra["run"]["dir"] == raw["hydra"]["run"]["dir"]
    # interpolation follows the override: video_dir / test_videos_directory derive from data_dir
    if raw["data"].get("video_dir", "").startswith("${data.data_dir}"):
        assert cfg.data.video_dir == f"{tmp_path}/videos"
        assert cfg.eval.test_videos_directory == f"{tmp_path}/videos"


def test_peer_configs_present() -> None:
    require(PEER_CONFIGS)
    assert len(_peer_configs()) >= 4


def test_env_default_interpolation(monkeypatch: pytest.MonkeyPatch) -> None:
    path = require(PEER_CONFIGS / "lightning-pose_config_mirror-mouse-example.yaml")
    monkeypatch.delenv("LP_ROOT_PATH", raising=False)
    assert load_config(path).data.data_dir == "/data/mirror-mouse-example"
    monkeypatch.setenv("LP_ROOT_PATH", "/opt/lp")
    cfg = load_config(path)
    assert cfg.data.data_dir == "/opt/lp/data/mirror-mouse-example"
    assert cfg.eval.test_videos_directory == "/opt/lp/data/mirror-mouse-example/videos"


def test_defaults_fill_every_section() -> None:
    cfg = build_config({"data": {"data_dir": "/d"}})
    t = cfg.training
    assert (t.train_batch_size, t.val_batch_size, t.test_batch_size) == (16, 32, 32)
    assert (t.train_prob, t.val_prob, t.train_frames) == (0.95, 0.05, 1)
    assert (t.unfreezing_epoch, t.min_epochs, t.max_epochs) == (20, 300, 300)
    assert t.lr_scheduler_params.multisteplr.milestones == [150, 200, 250]
    assert t.optimizer == "Adam" and t.optimizer_params.learning_rate == 1e-3
    assert cfg.model.backbone == "resnet50_animal_ap10k" and cfg.model.backbone_pretrained is True
    assert cfg.data.downsample_factor == 2
    assert cfg.dali.base.predict.sequence_length == 96 and cfg.dali.context.train.batch_size == 16
    assert cfg.eval.confidence_thresh_for_vid == 0.9 and cfg.eval.colormap == "cool"
    assert (cfg.data.image_resize_dims.height, cfg.data.image_resize_dims.width) == (256, 256)


def test_scientific_notation_is_a_float(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    raw = _with(training__optimizer_params={"learning_rate": "PLACEHOLDER"})
    path.write_text(yaml.safe_dump(raw).replace("PLACEHOLDER", "5e-4"))
    assert load_config(path).training.optimizer_params.learning_rate == pytest.approx(5e-4)


def test_overrides_are_typed() -> None:
    cfg = build_config(
        MINIMAL,
        [
            "training.max_epochs=5",
            "training.lr_scheduler_params.multisteplr.milestones=[2,4]",
            "model.losses_to_use=[]",
            "training.imgaug=default",
            "data.image_resize_dims.height=64",
        ],
    )
    assert cfg.training.max_epochs == 5
    assert cfg.training.lr_scheduler_params.multisteplr.milestones == [2, 4]
    assert cfg.training.imgaug == "default"
    assert cfg.data.image_resize_dims.height == 64


def test_short_max_epochs_scales_default_milestones() -> None:
    raw = _with(training={"max_epochs": 12})
    cfg = build_config(raw)
    assert cfg.training.min_epochs == 12
    assert cfg.training.lr_scheduler_params.multisteplr.milestones == [6, 8, 10]


def test_step_based_training() -> None:
    raw = _with(
        training={
            "unfreezing_step": 50,
            "min_steps": 100,
            "max_steps": 300,
            "lr_scheduler_params": {"multisteplr": {"milestone_steps": [150, 250], "gamma": 0.5}},
        }
    )
    cfg = build_config(raw)
    t = cfg.training
    assert (t.unfreezing_step, t.min_steps, t.max_steps) == (50, 100, 300)
    assert t.max_epochs is None and t.min_epochs is None and t.unfreezing_epoch is None
    assert t.lr_scheduler_params.multisteplr.milestone_steps == [150, 250]


def test_lightning_pose_extras_accepted() -> None:
    raw = _with(
        training__imgaug_hflip=True,
        callbacks={
            "anneal_weight": {
                "attr_name": "x",
                "init_val": 0.0,
                "increase_factor": 0.01,
                "final_val": 1.0,
                "freeze_until_epoch": 5,
            }
        },
        hydra={"run": {"dir": "outputs/${now:%Y-%m-%d}"}},
        model={"backbone": "resnet18", "backbone_pretrained": False},
    )
    cfg = build_config(raw)
    assert cfg.training.imgaug_hflip is True
    assert cfg.callbacks.anneal_weight.freeze_until_epoch == 5
    assert cfg.hydra == {"run": {"dir": "outputs/${now:%Y-%m-%d}"}}
    assert cfg.model.backbone_pretrained is False


def test_custom_imgaug_pipeline_accepted() -> None:
    raw = _with(training__imgaug={"Rotate": {"p": 0.5, "kwargs": {"rotate": [-10, 10]}}})
    assert build_config(raw).training.imgaug["Rotate"]["p"] == 0.5


def test_save_and_reload_round_trip(tmp_path: Path) -> None:
    raw = _with(hydra={"run": {"dir": "outputs/${now:%H}"}})
    cfg = build_config(raw, ["training.max_epochs=7"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == cfg


BAD_INPUTS = [
    (_with(data__bogus=1), "unknown config key 'data.bogus'"),
    (_with(training__train_batch_size="big"), "training.train_batch_size"),
    (
        _with(model={"backbone": "resnet9000"}),
        "config key 'model.backbone': expected one of the registered backbones",
    ),
    (
        _with(training__optimizer="SGD"),
        "config key 'training.optimizer': expected one of the registered optimizers (Adam, AdamW)",
    ),
    (_with(model={"model_type": "blob"}), "config key 'model.model_type'"),
    (_with(model={"heatmap_loss_type": "l1"}), "config key 'model.heatmap_loss_type'"),
    (
        _with(model={"losses_to_use": ["magic"]}, data__video_dir="/videos"),
        "config key 'model.losses_to_use': expected one of the registered unsupervised losses",
    ),
    # what the unsupervised losses read (num_keypoints is 2 here)
    (
        _with(model={"losses_to_use": ["temporal", "temporal"]}, data__video_dir="/v"),
        "config key 'model.losses_to_use': expected each loss once",
    ),
    (
        _with(model={"losses_to_use": ["temporal"]}),
        "config key 'data.video_dir': expected a directory of videos, whose frames temporal train on",
    ),
    (
        _with(data__columns_for_singleview_pca=[0, 2]),
        "config key 'data.columns_for_singleview_pca': expected indices in [0, 2)",
    ),
    (
        _with(data__columns_for_singleview_pca=[1, 1]),
        "config key 'data.columns_for_singleview_pca': expected each keypoint column once, got '[1] repeated'",
    ),
    (
        _with(data__mirrored_column_matches=[[0], [1, 0]]),
        "config key 'data.mirrored_column_matches': expected lists of equal length",
    ),
    (
        _with(data__mirrored_column_matches=[[0], [0]]),
        "config key 'data.mirrored_column_matches': expected each keypoint column once",
    ),
    (
        _with(data__mirrored_column_matches=[[0], [5]]),
        "config key 'data.mirrored_column_matches': expected indices in [0, 2)",
    ),
    (
        _with(model={"losses_to_use": ["pca_multiview"]}, data__video_dir="/v"),
        "config key 'data.mirrored_column_matches': expected the keypoints' columns per view",
    ),
    (
        _with(losses={"pca_singleview": {"components_to_keep": 1.5}}),
        "config key 'losses.pca_singleview.components_to_keep': expected a variance fraction in (0, 1]",
    ),
    (
        _with(losses={"temporal": {"epsilon": -1}}),
        "config key 'losses.temporal.epsilon': expected a number >= 0",
    ),
    (
        _with(losses={"temporal": {"epsilon": [5, 5, 5]}}),
        "config key 'losses.temporal.epsilon': expected one value per keypoint (2), got '3 values'",
    ),
    (
        _with(losses={"pca_multiview": {"epsilon": -0.5}}),
        "config key 'losses.pca_multiview.epsilon': expected null",
    ),
    (
        _with(losses={"temporal": {"prob_threshold": 1.5}}),
        "config key 'losses.temporal.prob_threshold': expected a probability in [0, 1]",
    ),
    (_with(training__imgaug="fancy"), "training.imgaug'"),
    (
        _with(training__train_prob=1.5),
        "config key 'training.train_prob': expected a probability in [0, 1], got 1.5",
    ),
    (
        _with(training__val_prob=-0.1),
        "config key 'training.val_prob': expected a probability in [0, 1]",
    ),
    (_with(eval={"confidence_thresh_for_vid": 2.0}), "eval.confidence_thresh_for_vid"),
    (
        _with(data__image_resize_dims={"height": 100, "width": 128}),
        "config key 'data.image_resize_dims.height': expected one of",
    ),
    (
        _with(data__num_keypoints=3),
        "config key 'data.keypoint_names': expected 3 names (data.num_keypoints), got '2 names'",
    ),
    (
        _with(training__lr_scheduler_params={"multisteplr": {"milestones": [5, 20]}}),
        "milestones': expected values <= training.max_epochs (10)",
    ),
    (
        _with(training__ckpt_every_n_epochs=3, training__check_val_every_n_epoch=2),
        "config key 'training.ckpt_every_n_epochs': expected a multiple of training.check_val_every_n_epoch (2), got 3",
    ),
    (_with(training__max_steps=100), "mixes epoch-based keys"),
    (
        _with(training__min_epochs=20),
        "config key 'training.min_epochs': expected <= training.max_epochs (10)",
    ),
    (_with(training__train_frames=0), "training.train_frames"),
    (_with(eval={"colormap": "not-a-map"}), "eval.colormap"),
    (_with(training__precision="fp8"), "training.precision"),
    ({"data": "oops"}, "config section 'data' must be a mapping"),
    # multiview: one label file per camera
    (
        _with(data__csv_file=["a.csv", "b.csv"], data__view_names=["top"]),
        "config key 'data.view_names': expected one name per csv file (2)",
    ),
    (
        _with(data__csv_file=["a.csv", "b.csv"], training__imgaug_hflip=True),
        "config key 'training.imgaug_hflip': expected false for multiview configs",
    ),
    (_with(training__imgaug_3d=True), "config key 'training.imgaug_3d': expected false for one"),
    (
        _with(data__csv_file=["a.csv", "b.csv"], model__model_type="heatmap_mhcrnn"),
        "config key 'model.model_type': expected a model type for several cameras",
    ),
    (
        _with(model__model_type="heatmap_multiview_transformer", model__backbone="vits_dino"),
        "config key 'data.csv_file': expected a list of label files, one per camera",
    ),
    (
        _with(
            data__csv_file=["a.csv", "b.csv"],
            model__model_type="heatmap_multiview_transformer",
            model__backbone="resnet18",
        ),
        "config key 'model.backbone': expected a backbone heatmap_multiview_transformer can use",
    ),
    (
        _with(data__csv_file=["a.csv", "b.csv"], data__bbox_file=["a.csv"]),
        "config key 'data.bbox_file': expected one bounding-box file per csv file (2)",
    ),
    (
        _with(data__csv_file=["a.csv", "b.csv"], data__bbox_file="a_bbox.csv"),
        "config key 'data.bbox_file': expected a list of bounding-box files, one per csv file (2)",
    ),
    (
        _with(data__bbox_file=["a_bbox.csv"]),
        "config key 'data.bbox_file': expected a bounding-box file path",
    ),
]


@pytest.mark.parametrize(("raw", "message"), BAD_INPUTS, ids=[m[:40] for _, m in BAD_INPUTS])
def test_bad_values_give_one_clear_line(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config(raw, source="my.yaml")
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert text.startswith("my.yaml") or "override" in text


# keys whose allowed values come from a registry (read from pose.config.catalog)
REGISTERED_KEYS = (
    "model.losses_to_use': expected one of the registered",
    "model.backbone",
    "model.model_type",
    "model.backbone': expected a backbone",
    "data.csv_file': expected a list of label files",
    "model.heatmap_loss_type",
    "'training.optimizer'",
    "training.imgaug'",
    "training.imgaug.",
    "eval.colormap",
)


@pytest.mark.parametrize(("raw", "message"), BAD_INPUTS, ids=[m[:40] for _, m in BAD_INPUTS])
def test_first_pass_without_registries(raw: dict, message: str) -> None:
    """``registries=False`` refuses every mistake but an unregistered name, with the same line."""
    if any(key in message for key in REGISTERED_KEYS):
        build_config(raw, source="my.yaml", registries=False)  # left to the full check
        with pytest.raises(ConfigError, match=re.escape(message)):
            build_config(raw, source="my.yaml")
    else:
        with pytest.raises(ConfigError, match=re.escape(message)):
            build_config(raw, source="my.yaml", registries=False)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("data:\n  data_dir: /x\n  csv_file: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: line \d+, column \d+: YAML syntax error"):
        load_config(path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="config file is empty"):
        load_config(tmp_path / "empty.yaml")


def test_bad_override_syntax() -> None:
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        build_config(MINIMAL, ["training.max_epochs"])


def test_unresolvable_interpolation_names_key() -> None:
    raw = _with(data__video_dir="${data.nothing_here}/videos")
    with pytest.raises(ConfigError, match="data.video_dir"):
        build_config(raw)


def test_mirror_mouse_data_dir_exists() -> None:
    require(MIRROR_MOUSE)
    assert (MIRROR_MOUSE / "CollectedData.csv").is_file()


def test_warns_when_backbone_would_stay_frozen() -> None:
    from pose.config import config_warnings

    frozen = build_config(_with(training__unfreezing_epoch=10))  # MINIMAL has max_epochs 10
    assert config_warnings(frozen) == [
        "training.unfreezing_epoch=10 >= training.max_epochs=10: the backbone stays frozen for the whole run"
    ]
    assert config_warnings(build_config(MINIMAL)) == []
