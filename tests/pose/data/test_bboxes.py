"""Bounding-box crops (``data.bbox_file``): the mapping between a crop's model pixels and its full
frame, labels read into full-frame pixels, and bad bbox files refused in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pose.config import load_config
from pose.data import PoseDataModule, read_labels
from pose.data.bboxes import frame_scale_offset, from_frame, labels_in_frame, to_frame
from pose.data.check import check_data, load_checked_labels
from pose.data.heatmaps import rescale_pixels
from pose.data.multiview_labels import read_multiview_labels
from pose.errors import DataError
from pose.pipeline import train

VIEWS = ["cam0", "cam1", "cam2"]


def test_a_crop_pixel_maps_to_its_frame_pixel_and_back() -> None:
    # a 80 x 60 crop with its corner at (40, 30), seen by the model at 64 x 64
    bboxes = np.array([[40.0, 30.0, 60.0, 80.0]])  # x, y, h, w
    scale, offset = frame_scale_offset(bboxes, np.ones((1, 2)), (64, 64))
    np.testing.assert_allclose(scale, [[80 / 64, 60 / 64]])
    np.testing.assert_allclose(offset, [[40, 30]])
    model = np.array([[[31.5, 31.5], [-0.5, -0.5], [63.5, 63.5]]])  # centre, two outer corners
    frame = to_frame(model, scale[:, None], offset[:, None])
    # the model image's centre is the crop's; its outer corners are the crop's (pixel centres at
    # integers: pixel 0 spans [-0.5, 0.5])
    np.testing.assert_allclose(frame, [[[79.5, 59.5], [39.5, 29.5], [119.5, 89.5]]])
    np.testing.assert_allclose(from_frame(frame, scale[:, None], offset[:, None]), model)
    # without an offset it is the resize convention the rest of the engine uses
    np.testing.assert_allclose(to_frame(model, scale[:, None], 0.0), rescale_pixels(model, scale))


def test_without_crops_the_images_own_scale_and_no_offset() -> None:
    image_scale = np.array([[1.5, 1.25], [2.0, 2.0]])
    scale, offset = frame_scale_offset(None, image_scale, (128, 128))
    np.testing.assert_array_equal(scale, image_scale)
    np.testing.assert_array_equal(offset, np.zeros((2, 2)))


def test_crop_labels_move_into_the_frame_whatever_size_the_file_is() -> None:
    """Lightning Pose scales by the bbox's ``w, h`` over the image's size: a crop stored at its
    size is only offset (its ``remap``), one stored at half size also scaled by 2."""
    bboxes = np.array([[10.0, 20.0, 40.0, 60.0], [10.0, 20.0, 40.0, 60.0]])
    image_hw = np.array([[40.0, 60.0], [20.0, 30.0]])
    crop = np.array([[[5.0, 7.0]], [[2.25, 3.25]]])  # the same frame point in both files
    frame = labels_in_frame(crop, bboxes, image_hw)
    np.testing.assert_allclose(frame, [[[15.0, 27.0]], [[15.0, 27.0]]])


def test_cropped_labels_are_the_frames_labels(
    cropped_synthetic_dir: Path, synthetic_dir: Path
) -> None:
    cfg = load_config(cropped_synthetic_dir / "config.yaml")
    labels = load_checked_labels(cfg)
    original = read_labels(synthetic_dir / "CollectedData.csv")
    assert labels.bboxes is not None and labels.bboxes.shape == (40, 4)
    np.testing.assert_allclose(labels.keypoints, original.keypoints, atol=1e-3, equal_nan=True)
    # and the items map back to them through their crop's scale and offset
    dm = PoseDataModule(
        load_config(cropped_synthetic_dir / "config.yaml", ["training.num_workers=0"])
    )
    dm.setup()
    batch = next(iter(dm.labeled_dataloader()))
    k = batch["keypoints"].numpy()
    back = to_frame(k, batch["scale"].numpy()[:, None], batch["offset"].numpy()[:, None])
    np.testing.assert_allclose(back, original.keypoints[: len(k)], atol=1e-3, equal_nan=True)
    # the factor to the frame is the crop's extent over the resize dims, not the file's size
    assert (batch["scale"][1] == dm.all_set.scale[1]).all()
    np.testing.assert_allclose(dm.all_set.scale[1], labels.bboxes[1, [3, 2]] / 128)
    np.testing.assert_allclose(dm.all_set.source_scale[1], dm.all_set.scale[1] / 2, rtol=0.05)


def test_multiview_crops_are_the_uncropped_views(
    multiview_crops: Path, multiview_data: Path
) -> None:
    crops = read_multiview_labels(load_config(multiview_crops / "config.yaml"))
    full = read_multiview_labels(load_config(multiview_data / "config.yaml"))
    assert crops.bboxes is not None and crops.bboxes.shape == (24, 3, 4) and full.bboxes is None
    np.testing.assert_allclose(crops.keypoints, full.keypoints, atol=1e-4, equal_nan=True)
    assert crops.view(1).bboxes is not None
    np.testing.assert_array_equal(crops.view(1).bboxes, crops.bboxes[:, 1])


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    text = (dst / "config.yaml").read_text().replace(str(src), str(dst))
    (dst / "config.yaml").write_text(text)
    return dst


def _edit_rows(path: Path, edit) -> None:
    table = pd.read_csv(path, index_col=0)
    edit(table).to_csv(path)


BAD_BBOXES = [
    (lambda t: t.drop(columns="h"), "expected columns x, y, h, w .* missing h"),
    (lambda t: t.iloc[:-1], "39 rows, CollectedData.csv has 40"),
    (
        lambda t: t.rename(index={t.index[3]: "labeled-data/other.png"}),
        "row 3 is labeled-data/other.png, CollectedData.csv has labeled-data/",
    ),
    (lambda t: t.iloc[::-1], "row 0 is .*same order"),
    (lambda t: t.assign(w=t["w"].where(t.index != t.index[5], 0)), "row 5 .*w=0.*positive"),
    (lambda t: t.assign(h=-t["h"]), "row 0 .*h=-.*positive width and height"),
]


@pytest.mark.parametrize(("edit", "message"), BAD_BBOXES, ids=[m[:24] for _, m in BAD_BBOXES])
def test_a_bad_bbox_file_is_one_line_before_anything_is_written(
    cropped_synthetic_dir: Path, tmp_path: Path, edit, message: str
) -> None:
    data = _copy(cropped_synthetic_dir, tmp_path / "d")
    _edit_rows(data / "bboxes.csv", edit)
    cfg = load_config(data / "config.yaml")
    with pytest.raises(DataError, match=message) as err:
        check_data(cfg)  # sweeper validate
    assert "bboxes.csv" in str(err.value) and "\n" not in str(err.value)
    out = tmp_path / "run"
    with pytest.raises(DataError, match=message):
        train(cfg, out, progress_bar=False)
    assert not out.exists()


def test_a_missing_bbox_file_names_the_key(cropped_synthetic_dir: Path, tmp_path: Path) -> None:
    cfg = load_config(cropped_synthetic_dir / "config.yaml", ["data.bbox_file=nope.csv"])
    with pytest.raises(DataError, match="config key 'data.bbox_file': file not found: .*nope.csv"):
        check_data(cfg)
    with pytest.raises(DataError, match="data.bbox_file"):
        train(cfg, tmp_path / "run", progress_bar=False)
    assert not (tmp_path / "run").exists()


def test_a_bad_view_bbox_file_names_that_file(multiview_crops: Path, tmp_path: Path) -> None:
    data = _copy(multiview_crops, tmp_path / "d")
    _edit_rows(data / "bboxes_cam2.csv", lambda t: t.iloc[:-1])
    with pytest.raises(DataError, match="bboxes_cam2.csv: 23 rows, CollectedData_cam2.csv has 24"):
        read_multiview_labels(load_config(data / "config.yaml"))
