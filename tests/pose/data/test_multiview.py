"""Multiview label sets and datasets: alignment checks, item layout, 3D augmentation, synchronized
video clips."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pose.config import load_config
from pose.data import PoseDataModule
from pose.data.bboxes import from_frame, to_frame
from pose.data.multiview import CalibratedAugment3D, MultiviewDataset, MultiviewImageCache, load_rig
from pose.data.multiview_labels import calibration_file, read_multiview_labels, view_names
from pose.data.unlabeled import MultiviewClips
from pose.errors import DataError
from pose.geometry import reprojection_error
from pose.video_files import group_videos_by_view

VIEWS = ["cam0", "cam1", "cam2"]


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    text = (dst / "config.yaml").read_text().replace(str(src), str(dst))
    (dst / "config.yaml").write_text(text)
    return dst


def _cfg(data: Path, *overrides: str):
    return load_config(data / "config.yaml", list(overrides))


def test_labels_of_every_view_are_aligned(multiview_data: Path) -> None:
    cfg = _cfg(multiview_data)
    labels = read_multiview_labels(cfg)
    k = len(labels.keypoint_names)
    assert labels.views == VIEWS and labels.keypoints.shape == (24, 3, k, 2)
    flat = labels.flat()
    assert flat.keypoints.shape == (24, 3 * k, 2) and flat.keypoint_names[k] == "cam1_nose"
    np.testing.assert_array_equal(flat.keypoints[:, k : 2 * k], labels.keypoints[:, 1])
    # the same moment in every view: same file name under each view's folder
    assert [Path(p[5]).name for p in labels.image_paths] == ["img0005.png"] * 3


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("tail_tip", "tail_end"), "keypoints .* differ from"),
        (lambda t: "\n".join(t.splitlines()[:-1]) + "\n", "rows, CollectedData_cam0.csv has 24"),
        (lambda t: t.replace("img0003.png", "img9999.png"), "row 3 is .*must name the same frame"),
    ],
)
def test_a_view_that_disagrees_is_one_line_naming_both_files(
    multiview_data: Path, tmp_path: Path, edit, message: str
) -> None:
    data = _copy(multiview_data, tmp_path / "d")
    csv = data / "CollectedData_cam2.csv"
    csv.write_text(edit(csv.read_text()))
    cfg = _cfg(data, "data.keypoint_names=null", "data.num_keypoints=null")
    with pytest.raises(DataError, match=message) as err:
        read_multiview_labels(cfg)
    assert "CollectedData_cam2.csv" in str(err.value) and "\n" not in str(err.value)


def test_calibration_is_found_as_lightning_pose_finds_it(
    multiview_data: Path, tmp_path: Path
) -> None:
    data = _copy(multiview_data, tmp_path / "d")
    # the config names LP's per-frame table; every row names calibration.toml
    assert calibration_file(_cfg(data)) == data / "calibration.toml"
    assert calibration_file(_cfg(data, "data.camera_params_file=null")) == data / "calibration.toml"
    rig = load_rig(_cfg(data))
    assert rig is not None and list(rig.names) == VIEWS
    with pytest.raises(DataError, match="camera_params_file.*not found"):
        calibration_file(_cfg(data, "data.camera_params_file=nope.toml"))
    table = data / "camera_params.csv"
    rows = table.read_text().splitlines()
    table.write_text("\n".join([*rows[:-1], rows[-1].replace("calibration.toml", "b.toml")]))
    with pytest.raises(DataError, match="2 calibrations"):
        calibration_file(_cfg(data))
    (data / "calibration.toml").unlink()
    assert calibration_file(_cfg(data, "data.camera_params_file=null")) is None


def test_items_put_the_views_side_by_side(multiview_data: Path) -> None:
    cfg = _cfg(multiview_data)
    labels = read_multiview_labels(cfg)
    cache = MultiviewImageCache(multiview_data, labels, (64, 64))
    item = MultiviewDataset(cache, labels, np.arange(4))[2]
    k = len(labels.keypoint_names)
    assert item["image"].shape == (3, 3, 64, 64) and item["image"].dtype == torch.uint8
    assert item["keypoints"].shape == (3 * k, 2) and item["scale"].shape == (3 * k, 2)
    original = labels.keypoints[2].reshape(-1, 2)
    back = (item["keypoints"].numpy() + 0.5) * item["scale"].numpy() - 0.5
    np.testing.assert_allclose(back, original, atol=1e-3)


@pytest.mark.parametrize("data", ["multiview_data", "multiview_crops"])
def test_3d_augmentation_keeps_the_views_one_scene(
    data: str, request: pytest.FixtureRequest
) -> None:
    """Also on crops (``data.bbox_file``): the 3D pose is projected into each full frame and
    mapped into the view's crop."""
    root: Path = request.getfixturevalue(data)
    cfg = _cfg(root)
    labels = read_multiview_labels(cfg)
    rig = load_rig(cfg)
    assert rig is not None
    cache = MultiviewImageCache(root, labels, (128, 128))
    dataset = MultiviewDataset(
        cache, labels, np.arange(len(labels)), augment_3d=CalibratedAugment3D(rig)
    )
    cams = rig.to_tensors(dtype=torch.float64)
    moved = 0.0
    for i in range(8):
        item = dataset[i]
        frame = to_frame(item["keypoints"], item["scale"], item["offset"])  # [V * K, 2]
        views = frame.double().unflatten(0, (3, -1))
        error = reprojection_error(views, cams)
        assert float(torch.nanmean(error)) < 0.5  # one 3D pose explains every view's labels
        moved += float(np.nanmean(np.abs(views.numpy() - labels.keypoints[i])))
        unlabeled = np.isnan(labels.keypoints[i]).any(-1)
        assert torch.isnan(views)[torch.from_numpy(unlabeled)].all()
    assert moved / 8 > 1.0  # and the augmentation really moved them


def test_videos_pair_by_view_name(tmp_path: Path) -> None:
    # a session whose name holds a view's name still pairs (the view is the last token)
    laptop = [tmp_path / "laptop_top.mp4", tmp_path / "laptop_side.mp4"]
    assert group_videos_by_view(laptop, ["top", "side"]) == [laptop]
    names = ["s1_cam0.mp4", "s1_cam1.mp4", "s2_cam1.mp4", "s2_cam0.mp4"]
    videos = [tmp_path / n for n in names]
    assert group_videos_by_view(videos, ["cam0", "cam1"]) == [
        [videos[0], videos[1]],
        [videos[3], videos[2]],
    ]
    with pytest.raises(DataError, match="no video for view cam1"):
        group_videos_by_view(videos[:1], ["cam0", "cam1"])
    with pytest.raises(DataError, match="none of the view names"):
        group_videos_by_view([tmp_path / "other.mp4"], ["cam0", "cam1"])


def test_clips_are_the_same_moments_in_every_view(multiview_data: Path, tmp_path: Path) -> None:
    videos = sorted((multiview_data / "videos").glob("*.mp4"))
    sessions = group_videos_by_view(videos, VIEWS)
    clips = MultiviewClips(sessions, (64, 64), 4, num_keypoints=5, length=3)
    item = clips[0]
    assert item["frames"].shape == (4, 3, 3, 64, 64) and item["scale"].shape == (15, 2)
    # a view whose video is shorter is named
    short = tmp_path / "short_cam1.mp4"
    import av

    with av.open(str(sessions[0][1])) as src, av.open(str(short), "w") as dst:
        stream = dst.add_stream("libx264", rate=30)
        stream.pix_fmt = "yuv420p"
        for index, frame in enumerate(src.decode(video=0)):
            if index == 0:
                stream.height, stream.width = frame.height, frame.width
            if index < 10:
                for packet in stream.encode(frame.reformat(format="yuv420p")):
                    dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    with pytest.raises(DataError, match="disagree in frame count.*short_cam1.mp4: 10"):
        MultiviewClips([[sessions[0][0], short, sessions[0][2]]], (64, 64), 4, 6)


def test_clips_of_long_videos_keep_the_same_blocks_in_every_view(tmp_path: Path) -> None:
    """Videos longer than the memory budget keep evenly spaced blocks; every view must keep the
    same ones, so a clip is the same moments in each (frame i is painted grey level i)."""
    from tests.conftest import write_mjpeg

    frames = [np.full((16, 16, 3), i // 8, np.uint8) for i in range(2000)]  # grey = frame / 8
    session = [write_mjpeg(tmp_path / f"s_cam{v}.avi", frames) for v in range(3)]
    budget = 3 * 3 * 16 * 16 * 300  # 300 frames per view of 2000: blocks, not the whole video
    clips = MultiviewClips([session], (16, 16), 4, num_keypoints=2, length=40, budget_bytes=budget)
    starts = [s.first_frame for s in clips.caches[0].segments]
    assert len(starts) > 1 and all(
        [s.first_frame for s in c.segments] == starts for c in clips.caches
    )
    late = 0
    for i in range(40):
        grey = clips[i]["frames"].float().mean(dim=(2, 3, 4))  # [F, V]
        assert (grey.max(dim=1).values - grey.min(dim=1).values).max() < 1.5  # same moment
        late += int(grey[0, 0] > 200)
    assert late > 0  # clips came from a later block too
    longer = write_mjpeg(tmp_path / "s_cam1.avi", frames + frames[:10])
    with pytest.raises(DataError, match="s_cam1.avi: 2010"):
        MultiviewClips([[session[0], longer, session[2]]], (16, 16), 4, 2)


@pytest.mark.parametrize("data", ["multiview_data", "multiview_crops"])
def test_3d_augmentation_warps_each_image_as_its_labels_move(
    data: str, request: pytest.FixtureRequest
) -> None:
    """A blob painted at a label in each view's resized image (non-square resize factors) lands
    where the view's affine takes that label, converted to resized pixels: the image warp agrees with
    the augmentation (the new labels themselves are the reprojections, which a per-view affine
    follows only approximately, as in Lightning Pose). On crops the affine, given in full-frame
    pixels, is converted through each view's crop."""
    multiview_data: Path = request.getfixturevalue(data)
    cfg = _cfg(multiview_data)
    labels = read_multiview_labels(cfg)
    rig = load_rig(cfg)
    assert rig is not None
    seen: list[np.ndarray] = []

    def recording(keypoints: np.ndarray, rng: np.random.Generator):
        new, affines = CalibratedAugment3D(rig)(keypoints, rng)
        seen.append(affines)
        return new, affines

    cache = MultiviewImageCache(multiview_data, labels, (64, 64))
    dataset = MultiviewDataset(cache, labels, np.arange(len(labels)), augment_3d=recording)
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    checked = 0
    for row in range(len(labels)):
        if np.isnan(labels.keypoints[row, :, 0]).any():
            continue
        for v, view in enumerate(cache.views):
            x, y = dataset.keypoints[row, v, 0]
            blob = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0**2)) * 250
            view.frames[view.windows[row, 0]] = blob[..., None].repeat(3, -1).astype(np.uint8)
        item = dataset[row]
        affines = seen[-1]
        for v in range(3):
            image = item["image"][v, 0].float().numpy()
            if image.sum() < 0.9 * 250 * 2 * np.pi * 4:  # partly warped out of view
                continue
            moved = affines[v, :, :2] @ labels.keypoints[row, v, 0] + affines[v, :, 2]
            expected = from_frame(moved, dataset.view_scale[row, v], dataset.view_offset[row, v])
            centroid = np.array([(image * xx).sum(), (image * yy).sum()]) / image.sum()
            np.testing.assert_allclose(centroid, expected, atol=0.15)
            checked += 1
        if checked >= 9:
            break
    assert checked >= 9


def test_datamodule_trains_on_moments(multiview_data: Path) -> None:
    cfg = _cfg(
        multiview_data,
        "data.image_resize_dims.height=64",
        "data.image_resize_dims.width=64",
        "model.losses_to_use=[pca_multiview]",
        "dali.base.train.sequence_length=4",
    )
    data = PoseDataModule(cfg)
    data.setup()
    assert data.views == VIEWS and data.keypoint_names[0] == "nose"
    batch, _, _ = next(iter(data.train_dataloader()))  # CombinedLoader: (batch, index, loader)
    assert batch["labeled"]["image"].shape[1:] == (3, 3, 64, 64)
    assert batch["unlabeled"]["frames"].shape == (4, 3, 3, 64, 64)
    assert view_names(cfg) == VIEWS
    assert pd.Series(data.split_of_rows()).isin(["train", "validation", "test"]).all()
