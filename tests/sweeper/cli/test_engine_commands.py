"""The ``sweeper`` CLI: train/validate/example-data, and bad input -> one line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pose.predict import read_predictions
from tests.conftest import MIRROR_MOUSE, PEER_CONFIGS, require
from tests.sweeper.conftest import MULTIVIEW_FAST, cli, overrides

FAST = [
    "data.image_resize_dims.height=64",
    "data.image_resize_dims.width=64",
    "training.max_epochs=1",
    "training.min_epochs=1",
    "training.unfreezing_epoch=0",
    "training.check_val_every_n_epoch=1",
    "training.lr_scheduler_params.multisteplr.milestones=[1]",
    "training.num_workers=0",
    "training.imgaug=default",
]


def test_train_writes_outputs(synthetic_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "run"
    code, stdout, _ = cli(
        monkeypatch,
        capsys,
        "train",
        synthetic_dir / "config.yaml",
        *overrides(*FAST),
        "--output-dir",
        out,
    )
    assert code == 0
    assert "pixel error" in stdout
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 1
    assert (out / "best.ckpt").is_file() and (out / "predictions.csv").is_file()


def test_validate_prints_summary(synthetic_dir: Path, monkeypatch, capsys) -> None:
    code, stdout, _ = cli(monkeypatch, capsys, "validate", synthetic_dir / "config.yaml")
    assert code == 0
    assert "40 labeled frames" in stdout
    assert "keypoints 5: nose, ear_left, ear_right, tail_base, tail_tip" in stdout


def test_validate_peer_config_on_real_data(monkeypatch, capsys) -> None:
    path = require(PEER_CONFIGS / "lightning-pose_config_mirror-mouse-example.yaml")
    data = require(MIRROR_MOUSE)
    code, stdout, _ = cli(
        monkeypatch, capsys, "validate", path, "--override", f"data.data_dir={data}"
    )
    assert code == 0
    assert "90 labeled frames" in stdout
    assert "cannot be trained here yet" not in stdout  # its pca_singleview loss trains
    words = " ".join(stdout.split())  # the console wraps long lines
    assert f"videos 1 in {data}/videos: unlabeled frames for pca_singleview" in words


def test_example_data(tmp_path: Path, monkeypatch, capsys) -> None:
    code, stdout, _ = cli(monkeypatch, capsys, "example-data", tmp_path / "ex", "--n-images", "12")
    assert code == 0
    assert (tmp_path / "ex" / "config.yaml").is_file()
    assert len(list((tmp_path / "ex" / "labeled-data").glob("*.png"))) == 12
    code, stdout, _ = cli(monkeypatch, capsys, "example-data", tmp_path / "ex")
    assert code == 0 and "reusing" in stdout  # a rerun of the quick start keeps the data
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    code, _, err = cli(monkeypatch, capsys, "example-data", tmp_path / "other")
    assert code == 2 and "not empty" in err
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_context_example_data_and_validate(tmp_path: Path, monkeypatch, capsys) -> None:
    args = ("example-data", tmp_path / "ex", "--n-images", "10", "--context")
    code, _, _ = cli(monkeypatch, capsys, *args)
    assert code == 0
    clips = sorted((tmp_path / "ex" / "labeled-data").glob("clip*"))
    assert len(clips) == 10 and all(len(list(c.glob("img*.png"))) == 5 for c in clips)
    config = tmp_path / "ex" / "config.yaml"
    assert yaml.safe_load(config.read_text())["model"]["model_type"] == "heatmap_mhcrnn"
    (clips[3] / "img0004.png").unlink()  # one labeled frame loses a neighbour
    code, stdout, _ = cli(monkeypatch, capsys, "validate", config)
    assert code == 0 and "cannot be trained" not in stdout
    assert "context   9 of 10 labeled frames have their 4 neighbouring frames" in stdout


def test_multiview_example_data_and_validate(tmp_path: Path, monkeypatch, capsys) -> None:
    args = ("example-data", tmp_path / "ex", "--n-images", "10", "--views", "3")
    code, stdout, _ = cli(monkeypatch, capsys, *args)
    assert code == 0 and "3-camera" in stdout
    data = tmp_path / "ex"
    views = ["cam0", "cam1", "cam2"]
    assert (data / "calibration.toml").is_file()
    for view in views:
        assert len(list((data / "labeled-data" / f"poses_{view}").glob("img*.png"))) == 10
        assert (data / "videos" / f"synthetic_{view}.mp4").is_file()
    raw = yaml.safe_load((data / "config.yaml").read_text())
    assert raw["data"]["view_names"] == views
    assert raw["data"]["csv_file"] == [f"CollectedData_{view}.csv" for view in views]
    assert raw["model"]["model_type"] == "heatmap_multiview_transformer"
    code, stdout, _ = cli(monkeypatch, capsys, "validate", data / "config.yaml")
    assert code == 0 and "model     heatmap_multiview_transformer, backbone vits_dino" in stdout
    code, stdout, _ = cli(monkeypatch, capsys, *args)
    assert code == 0 and "reusing" in stdout
    code, _, err = cli(monkeypatch, capsys, "example-data", data, "--views", "4")
    assert code == 2 and "not empty" in err  # a 3-camera set is not the 4-camera one asked for


@pytest.mark.parametrize("views", ["1", "7"])
def test_example_data_refuses_a_rig_it_cannot_build(
    tmp_path: Path, monkeypatch, capsys, views: str
) -> None:
    code, stdout, err = cli(monkeypatch, capsys, "example-data", tmp_path / "ex", "--views", views)
    assert code == 2 and stdout == ""
    assert err.strip().splitlines() == [f"error: --views: expected 2 to 6 cameras, got {views}"]
    assert not (tmp_path / "ex").exists()


def _bad_config(tmp_path: Path, synthetic_dir: Path, edit) -> Path:
    raw = yaml.safe_load((synthetic_dir / "config.yaml").read_text())
    edit(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _set(key: str, value):
    def edit(raw: dict) -> None:
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return edit


def _both(*edits):
    def edit(raw: dict) -> None:
        for one in edits:
            one(raw)

    return edit


def _copy_data(synthetic_dir: Path, tmp_path: Path) -> Path:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(synthetic_dir, data)
    return data


BAD = [
    ("unknown key", _set("training.bogus", 1), "unknown config key 'training.bogus'"),
    (
        "wrong type",
        _set("training.max_epochs", "many"),
        "config key 'training.max_epochs': expected an integer, got 'many'",
    ),
    (
        "backbone",
        _set("model.backbone", "resnet7"),
        "config key 'model.backbone': expected one of the registered backbones",
    ),
    ("optimizer", _set("training.optimizer", "SGD"), "config key 'training.optimizer'"),
    ("model_type", _set("model.model_type", "blob"), "config key 'model.model_type'"),
    ("loss", _set("model.heatmap_loss_type", "l1"), "config key 'model.heatmap_loss_type'"),
    ("imgaug", _set("training.imgaug", "fancy"), "training.imgaug"),
    (
        "probability",
        _set("training.train_prob", 1.2),
        "config key 'training.train_prob': expected a probability in [0, 1]",
    ),
    (
        "resize",
        _set("data.image_resize_dims.width", 100),
        "config key 'data.image_resize_dims.width': expected one of",
    ),
    ("names", _set("data.num_keypoints", 4), "config key 'data.keypoint_names': expected 4 names"),
    (
        "milestones",
        _set("training.lr_scheduler_params.multisteplr.milestones", [5, 99]),
        "expected values <= training.max_epochs",
    ),
    (
        "ckpt",
        _both(_set("training.check_val_every_n_epoch", 2), _set("training.ckpt_every_n_epochs", 3)),
        "expected a multiple of training.check_val_every_n_epoch",
    ),
]


@pytest.mark.parametrize(("name", "edit", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_one_line_exit_2_nothing_written(
    name: str, edit, message: str, synthetic_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    path = _bad_config(tmp_path, synthetic_dir, edit)
    out = tmp_path / "out"
    code, _, err = cli(monkeypatch, capsys, "train", path, "--output-dir", out)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_yaml_syntax_error(tmp_path: Path, monkeypatch, capsys) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("data:\n  data_dir: [oops\n")
    code, _, err = cli(monkeypatch, capsys, "train", path, "--output-dir", tmp_path / "out")
    assert code == 2 and "broken.yaml: line" in err and "YAML syntax error" in err
    assert not (tmp_path / "out").exists()


def test_missing_csv(synthetic_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    data = _copy_data(synthetic_dir, tmp_path)
    (data / "CollectedData.csv").unlink()
    code, _, err = cli(
        monkeypatch,
        capsys,
        "train",
        data / "config.yaml",
        "--override",
        f"data.data_dir={data}",
        "--output-dir",
        tmp_path / "out",
    )
    assert code == 2 and "CollectedData.csv" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_image(synthetic_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    data = _copy_data(synthetic_dir, tmp_path)
    victim = sorted((data / "labeled-data").glob("*.png"))[3]
    victim.unlink()
    for command in ("validate", "train"):
        extra = ["--output-dir", str(tmp_path / "out")] if command == "train" else []
        code, _, err = cli(
            monkeypatch,
            capsys,
            command,
            data / "config.yaml",
            "--override",
            f"data.data_dir={data}",
            *extra,
        )
        assert code == 2 and victim.name in err, command
    assert not (tmp_path / "out").exists()


def test_csv_header_mismatch(synthetic_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    data = _copy_data(synthetic_dir, tmp_path)
    code, _, err = cli(
        monkeypatch,
        capsys,
        "train",
        data / "config.yaml",
        *overrides(
            f"data.data_dir={data}",
            "data.keypoint_names=[nose,ear_left,ear_right,tail_base,whisker]",
        ),
        "--output-dir",
        tmp_path / "out",
    )
    assert code == 2 and "CollectedData.csv" in err and "whisker" in err
    assert not (tmp_path / "out").exists()


def test_bad_override_and_missing_config(tmp_path: Path, monkeypatch, capsys) -> None:
    code, _, err = cli(monkeypatch, capsys, "validate", tmp_path / "nope.yaml")
    assert code == 2 and "config file not found" in err
    code, _, err = cli(monkeypatch, capsys, "train")
    assert code == 2  # usage error from the CLI parser


def test_validate_multiview_peer_config_on_the_crops_example(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """LP's multiview template names cam0, cam1, their CSVs and bboxes_<view>.csv: the 2-camera
    example written as crops is its data with only the data paths overridden."""
    data = tmp_path / "crops"
    code, _, _ = cli(
        monkeypatch, capsys, "example-data", data, "--views", "2", "--crops", "--n-images", "10"
    )
    assert code == 0 and (data / "bboxes_cam1.csv").is_file()
    path = require(PEER_CONFIGS / "lightning-pose_config_default_multiview.yaml")
    paths = [f"data.data_dir={data}", f"data.video_dir={data / 'videos'}"]
    code, stdout, _ = cli(monkeypatch, capsys, "validate", path, *overrides(*paths))
    assert code == 0 and "cannot be trained" not in stdout
    assert "10 labeled moments seen by 2 cameras" in stdout
    assert "crops" in stdout and "bboxes_cam0.csv, bboxes_cam1.csv" in stdout
    # without the crops it names the file it misses, in one line
    (data / "bboxes_cam1.csv").unlink()
    code, _, err = cli(monkeypatch, capsys, "validate", path, *overrides(*paths))
    assert code == 2 and "data.bbox_file" in err and "bboxes_cam1.csv" in err
    code, _, err = cli(monkeypatch, capsys, "example-data", tmp_path / "one", "--crops")
    assert code == 2 and "--crops" in err and not (tmp_path / "one").exists()


def test_hflip_without_partner_is_refused_by_validate(
    synthetic_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    data = _copy_data(synthetic_dir, tmp_path)
    csv = (data / "CollectedData.csv").read_text().replace("ear_right", "ear_other")
    (data / "CollectedData.csv").write_text(csv)
    code, _, err = cli(
        monkeypatch,
        capsys,
        "validate",
        data / "config.yaml",
        *overrides(
            f"data.data_dir={data}",
            "data.keypoint_names=[nose,ear_left,ear_other,tail_base,tail_tip]",
            "training.imgaug_hflip=true",
        ),
    )
    assert code == 2 and "training.imgaug_hflip" in err and "ear_left" in err


def test_validate_prints_config_warnings(synthetic_dir: Path, monkeypatch, capsys) -> None:
    code, _, err = cli(
        monkeypatch,
        capsys,
        "validate",
        synthetic_dir / "config.yaml",
        *overrides("training.unfreezing_epoch=40"),
    )
    assert code == 0
    assert "warning: training.unfreezing_epoch=40 >= training.max_epochs=40" in err


def test_predict_videos_from_a_training_output(
    synthetic_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    run = tmp_path / "run"
    code, _, err = cli(
        monkeypatch,
        capsys,
        "train",
        synthetic_dir / "config.yaml",
        *overrides(*FAST),
        "--output-dir",
        run,
    )
    assert code == 0, err
    video = synthetic_dir / "videos" / "synthetic.mp4"
    code, out, err = cli(monkeypatch, capsys, "predict", run, video.parent, "--save-video")
    assert code == 0, err
    assert "synthetic.mp4: 24 frames" in out
    preds = read_predictions(run / "video_preds" / "synthetic.csv")
    assert len(preds) == 24 and preds.shape[1] == 5 * 3
    assert (run / "video_preds" / "synthetic_temporal_norm.csv").is_file()
    assert (run / "video_preds" / "labeled_videos" / "synthetic_labeled.mp4").stat().st_size > 0
    # the example names its PCA columns: the label-free metrics, fitted on the run's training labels
    errors = pd.read_csv(run / "video_preds" / "synthetic_pca_singleview_error.csv", index_col=0)
    assert errors.shape == (24, 5) and (errors.to_numpy() >= 0).all()
    words = " ".join(out.split())
    assert "label-free: pca_singleview_error" in words and "temporal_jump_rate" in words

    code, _, err = cli(monkeypatch, capsys, "predict", run, tmp_path / "nope.mp4")
    assert code == 2 and "nope.mp4: file not found" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(monkeypatch, capsys, "predict", tmp_path, video)
    assert code == 2 and "config.yaml not found" in err


@pytest.mark.slow
def test_predict_synchronized_videos_with_a_multiview_model(
    multiview_data: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    run = tmp_path / "run"
    code, _, err = cli(
        monkeypatch,
        capsys,
        "train",
        multiview_data / "config.yaml",
        *overrides(*MULTIVIEW_FAST),
        "--output-dir",
        run,
    )
    assert code == 0, err
    videos = multiview_data / "videos"
    code, out, err = cli(monkeypatch, capsys, "predict", run, videos, "--save-video")
    assert code == 0, err
    assert "synthetic: 16 frames x 3 views" in " ".join(out.split())
    keypoints = yaml.safe_load((run / "config.yaml").read_text())["data"]["keypoint_names"]
    for view in ("cam0", "cam1", "cam2"):
        preds = read_predictions(run / "video_preds" / f"synthetic_{view}.csv")
        assert preds.shape == (16, 3 * len(keypoints))
        labeled = run / "video_preds" / "labeled_videos" / f"synthetic_{view}_labeled.mp4"
        assert labeled.stat().st_size > 0
    points = pd.read_csv(run / "video_preds" / "synthetic_3d.csv", header=[0, 1, 2], index_col=0)
    assert points.shape == (16, 3 * len(keypoints))
    assert {c[2] for c in points.columns} == {"x", "y", "z"}

    # a view with fewer frames than the others is one line naming the videos, exit code 2
    short = tmp_path / "short"
    short.mkdir()
    for view in ("cam0", "cam1", "cam2"):
        (short / f"s_{view}.mp4").write_bytes((videos / f"synthetic_{view}.mp4").read_bytes())
    longer = require(MIRROR_MOUSE / "videos" / "test_vid.mp4")  # 994 frames
    (short / "s_cam1.mp4").write_bytes(longer.read_bytes())
    code, _, err = cli(monkeypatch, capsys, "predict", run, short)
    assert code == 2 and "disagree in frame count" in err and "s_cam1.mp4" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = cli(monkeypatch, capsys, "predict", run, short / "s_cam0.mp4")
    assert code == 2 and "no video for view cam1, cam2" in err


def test_validate_reads_the_calibration_of_a_multiview_config(
    multiview_data: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    import shutil

    data = tmp_path / "d"
    shutil.copytree(multiview_data, data)
    config = data / "config.yaml"
    config.write_text(config.read_text().replace(str(multiview_data), str(data)))
    code, out, err = cli(monkeypatch, capsys, "validate", config)
    assert code == 0, err
    words = " ".join(out.split())
    assert "24 labeled moments seen by 3 cameras (cam0, cam1, cam2)" in words
    assert "calibrated by calibration.toml: 3D augmentation" in words
    assert "the reprojection loss (log_weight 3)" in words
    # a calibration without one of the views: one line naming the view, exit code 2
    toml = data / "calibration.toml"
    toml.write_text(toml.read_text().replace('name = "cam2"', 'name = "cam9"'))
    code, _, err = cli(monkeypatch, capsys, "validate", config)
    assert code == 2 and "cam2" in err and len(err.strip().splitlines()) == 1
    toml.unlink()
    code, _, err = cli(
        monkeypatch, capsys, "validate", config, "--override", "data.camera_params_file=null"
    )
    assert code == 2 and "training.imgaug_3d': 3D augmentation needs" in err
