"""The multi-camera example: a Lightning Pose multiview layout whose calibration reproduces the
2D truth, labels that are NaN exactly where the body hides a keypoint, and images that agree."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from pose.config import load_config
from pose.data.labels import read_labels
from pose.data.synthetic_multiview import (
    HEIGHT,
    KEYPOINTS,
    WIDTH,
    make_multiview_example_dataset,
    read_occlusion,
    read_points_3d,
)
from tests.conftest import PEER_CONFIGS, require

VIEWS = ["cam0", "cam1", "cam2"]
N_FRAMES, N_VIDEO_FRAMES = 16, 8


@pytest.fixture(scope="module")
def multiview_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("multiview")
    make_multiview_example_dataset(
        out, views=3, n_frames=N_FRAMES, n_video_frames=N_VIDEO_FRAMES, seed=0
    )
    return out


def _truth(data: Path, stem: str, view: str) -> tuple[np.ndarray, np.ndarray]:
    """``[N, K, 2]`` true pixels and ``[N, K]`` occlusion of one view."""
    truth = read_labels(data / "ground_truth" / f"{stem}_{view}.csv")
    return truth.keypoints, read_occlusion(data / "ground_truth" / f"{stem}_{view}_occluded.csv")


def _frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_layout_is_a_lightning_pose_multiview_project(multiview_dir: Path) -> None:
    labels = {view: read_labels(multiview_dir / f"CollectedData_{view}.csv") for view in VIEWS}
    for view, data in labels.items():
        assert data.keypoint_names == KEYPOINTS and data.keypoints.shape == (N_FRAMES, 7, 2)
        assert data.image_paths[3] == f"labeled-data/poses_{view}/img0003.png"
        for path in data.image_paths:
            image = cv2.imread(str(multiview_dir / path))
            assert image is not None and image.shape == (HEIGHT, WIDTH, 3)
    # row i is the same moment in every view: the same file name, as Lightning Pose checks
    names = {view: [Path(p).name for p in data.image_paths] for view, data in labels.items()}
    assert all(names[view] == names["cam0"] for view in VIEWS)
    videos = sorted((multiview_dir / "videos").iterdir())
    assert [v.name for v in videos] == [f"synthetic_{view}.mp4" for view in VIEWS]
    assert [_frame_count(v) for v in videos] == [N_VIDEO_FRAMES] * 3
    params = pd.read_csv(multiview_dir / "camera_params.csv", index_col=0)
    assert list(params.index) == labels["cam0"].image_paths
    assert set(params["file"]) == {"calibration.toml"}
    for stem, n in (("labeled", N_FRAMES), ("synthetic", N_VIDEO_FRAMES)):
        assert read_points_3d(multiview_dir / "ground_truth" / f"{stem}_3d.csv").shape == (n, 7, 3)
        for view in VIEWS:
            pixels, occluded = _truth(multiview_dir, stem, view)
            assert pixels.shape == (n, 7, 2) and occluded.shape == (n, 7)
            assert not np.isnan(pixels).any()  # the truth keeps hidden keypoints
            inside = (pixels >= 0).all() and (pixels[..., 0] < WIDTH - 1).all()
            assert inside and (pixels[..., 1] < HEIGHT - 1).all()


def test_calibration_projects_the_3d_truth_onto_the_2d_truth(multiview_dir: Path) -> None:
    from aniposelib.cameras import CameraGroup

    group = CameraGroup.load(str(multiview_dir / "calibration.toml"))
    assert group.get_names() == VIEWS
    assert all(list(camera.get_size()) == [WIDTH, HEIGHT] for camera in group.cameras)
    for stem in ("labeled", "synthetic"):
        points = read_points_3d(multiview_dir / "ground_truth" / f"{stem}_3d.csv")
        projected = group.project(points.reshape(-1, 3)).reshape(3, *points.shape[:2], 2)
        for v, view in enumerate(VIEWS):
            pixels, _ = _truth(multiview_dir, stem, view)
            assert np.abs(projected[v] - pixels).max() < 0.01


def test_labels_are_the_truth_where_seen_and_nan_where_hidden(multiview_dir: Path) -> None:
    hidden_somewhere = 0
    for view in VIEWS:
        labels = read_labels(multiview_dir / f"CollectedData_{view}.csv").keypoints
        pixels, occluded = _truth(multiview_dir, "labeled", view)
        assert np.isnan(labels[occluded]).all()
        np.testing.assert_array_equal(labels[~occluded], pixels[~occluded])
        hidden_somewhere += int(occluded.sum())
    assert 0 < hidden_somewhere < 0.5 * N_FRAMES * 7 * 3


def test_some_keypoint_is_hidden_in_exactly_one_view(multiview_dir: Path) -> None:
    occluded = np.stack([_truth(multiview_dir, "labeled", view)[1] for view in VIEWS])
    assert ((occluded.sum(axis=0) == 1).any(axis=1)).sum() >= 3  # frames with such a keypoint
    assert not occluded.all(axis=0).any()  # three cameras around the arena: seen at least once


@pytest.mark.parametrize(("name", "channel", "min_hidden"), [("nose", 0, 3), ("tail_tip", 2, 0)])
def test_images_show_the_seen_markers_only(
    multiview_dir: Path, name: str, channel: int, min_hidden: int
) -> None:
    """The red nose and the blue tail tip are the only markers of their colour. Where the labels
    say hidden, the body (or a nearer marker) covers the marker's centre; where seen, the marker
    shows within a pixel of it, if only in part past the body's outline."""

    def dominance(rgb: np.ndarray) -> np.ndarray:  # > 45: the marker's colour (the body's < 45)
        return rgb[..., channel] - np.delete(rgb, channel, axis=-1).max(axis=-1)

    k = KEYPOINTS.index(name)
    seen, hidden = [], []
    for view in VIEWS:
        labels = read_labels(multiview_dir / f"CollectedData_{view}.csv")
        pixels, occluded = _truth(multiview_dir, "labeled", view)
        for i, path in enumerate(labels.image_paths):
            bgr = cv2.imread(str(multiview_dir / path))
            assert bgr is not None
            rgb = bgr[..., ::-1].astype(float)
            x, y = np.round(pixels[i, k]).astype(int)
            if occluded[i, k]:
                hidden.append(dominance(rgb[y, x]))
            else:
                seen.append(dominance(rgb[y - 1 : y + 2, x - 1 : x + 2]).max())
    assert len(seen) > 20 and min(seen) > 45
    assert len(hidden) >= min_hidden and max(hidden, default=0) < 45


def test_config_is_the_default_multiview_config_for_this_data(multiview_dir: Path) -> None:
    raw = yaml.safe_load((multiview_dir / "config.yaml").read_text())
    cfg = load_config(multiview_dir / "config.yaml")
    d, t, m = cfg.data, cfg.training, cfg.model
    assert d.view_names == VIEWS and d.csv_file == [f"CollectedData_{v}.csv" for v in VIEWS]
    assert d.data_dir == str(multiview_dir.resolve()) and d.num_keypoints == 7
    assert Path(d.camera_params_file or "").is_file() and d.mirrored_column_matches is None
    assert (d.image_resize_dims.height, d.image_resize_dims.width) == (128, 128)
    assert (m.model_type, m.backbone, m.backbone_pretrained) == (
        "heatmap_multiview_transformer",
        "vits_dino",
        False,
    )
    assert t.imgaug_3d and not t.imgaug_hflip and m.losses_to_use == []
    assert max(t.lr_scheduler_params.multisteplr.milestones or []) <= (t.max_epochs or 0)
    # the default's keys, less the bounding boxes this data set has none of, plus its calibration
    # and the switch that keeps the ViT from downloading pretrained weights
    assert _keys(raw) == _keys(_default_multiview()) - {"data.bbox_file"} | ADDED_KEYS


ADDED_KEYS = {"data.camera_params_file", "model.backbone_pretrained"}


def _default_multiview() -> dict:
    path = require(PEER_CONFIGS / "lightning-pose_config_default_multiview.yaml")
    return yaml.safe_load(path.read_text())


def _keys(node: object, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return set()
    return {f"{prefix}{k}" for k in node} | {
        key for k, v in node.items() for key in _keys(v, f"{prefix}{k}.")
    }


def test_crops_are_windows_of_the_frames_placed_by_bbox_files(
    multiview_dir: Path, tmp_path: Path
) -> None:
    """``crops=True``: the same frames (same seed), each labeled image a window of its frame,
    labels in the window's pixels, and ``bboxes_<view>.csv`` as Lightning Pose's default multiview
    config names them (its every key, ``bbox_file`` included)."""
    crops = tmp_path / "crops"
    make_multiview_example_dataset(
        crops, views=3, n_frames=N_FRAMES, n_video_frames=N_VIDEO_FRAMES, seed=0, crops=True
    )
    raw = yaml.safe_load((crops / "config.yaml").read_text())
    assert raw["data"]["bbox_file"] == [f"bboxes_{v}.csv" for v in VIEWS]
    assert _keys(raw) == _keys(_default_multiview()) | ADDED_KEYS
    for view in VIEWS:
        boxes = pd.read_csv(crops / f"bboxes_{view}.csv", index_col=0)
        labels = read_labels(crops / f"CollectedData_{view}.csv")
        full = read_labels(multiview_dir / f"CollectedData_{view}.csv")
        assert list(boxes.columns) == ["x", "y", "h", "w"]
        assert boxes.index.tolist() == labels.image_paths == full.image_paths
        corners = boxes[["x", "y"]].to_numpy()[:, None, :]
        np.testing.assert_allclose(labels.keypoints + corners, full.keypoints, equal_nan=True)
        seen = ~np.isnan(labels.keypoints[..., 0])
        sizes = boxes[["w", "h"]].to_numpy()[:, None, :]
        assert ((labels.keypoints >= 0) & (labels.keypoints <= sizes - 1)).all(-1)[seen].all()
        for path, (x, y, h, w) in zip(labels.image_paths, boxes.to_numpy(), strict=True):
            crop, frame = cv2.imread(str(crops / path)), cv2.imread(str(multiview_dir / path))
            assert crop.shape == (h, w, 3) and w < WIDTH
            np.testing.assert_array_equal(crop, frame[y : y + h, x : x + w])
    # the videos and the ground truth stay full frames
    video = "videos/synthetic_cam0.mp4"
    assert (crops / video).read_bytes() == (multiview_dir / video).read_bytes()


def test_deterministic_per_seed(tmp_path: Path) -> None:
    def files(seed: int, name: str) -> dict[str, bytes]:
        out = tmp_path / name
        make_multiview_example_dataset(out, views=2, n_frames=3, n_video_frames=2, seed=seed)
        return {
            str(p.relative_to(out)): p.read_bytes().replace(str(out).encode(), b"OUT")
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }

    first, again, other = files(3, "a"), files(3, "b"), files(4, "c")
    assert first == again
    assert first.keys() == other.keys()
    assert first["calibration.toml"] != other["calibration.toml"]
    assert first["CollectedData_cam1.csv"] != other["CollectedData_cam1.csv"]


@pytest.mark.parametrize("views", [1, 7])
def test_refuses_a_rig_it_cannot_build(tmp_path: Path, views: int) -> None:
    with pytest.raises(ValueError, match=f"views: expected 2 to 6 cameras, got {views}"):
        make_multiview_example_dataset(tmp_path / "rig", views=views, n_frames=2)
    assert not (tmp_path / "rig").exists()
