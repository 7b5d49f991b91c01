"""Anipose calibration files: round trip, view selection, tensors, one-line errors on bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import toml
import torch
from aniposelib.cameras import CameraGroup

from pose.errors import DataError
from pose.geometry import CameraRig, load_calibration, write_calibration


def assert_same_rig(a: CameraRig, b: CameraRig) -> None:
    assert a.names == b.names
    for key in ("intrinsics", "distortions", "rotations", "translations", "image_sizes"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=1e-12, atol=1e-15)


def test_write_then_load_round_trips(rig: CameraRig, tmp_path: Path) -> None:
    path = write_calibration(rig, tmp_path / "calibration.toml")
    loaded = load_calibration(path, rig.names)
    assert_same_rig(loaded, rig)
    assert loaded.source == path
    assert loaded.image_sizes.dtype == np.int64
    # aniposelib (what Anipose and Lightning Pose use) reads the same cameras back
    group = CameraGroup.load(str(path))
    assert group.get_names() == list(rig.names)
    np.testing.assert_allclose(group.get_rotations(), rig.rotations, rtol=1e-12)
    assert group.cameras[1].get_size() == [660, 500]


def test_load_reorders_to_the_requested_views(rig: CameraRig, tmp_path: Path) -> None:
    path = write_calibration(rig, tmp_path / "calibration.toml")
    loaded = load_calibration(path, ["right", "top"])
    assert loaded.names == ("right", "top")
    assert loaded.num_views == 2
    np.testing.assert_array_equal(loaded.intrinsics, rig.intrinsics[[2, 0]])
    np.testing.assert_array_equal(loaded.translations, rig.translations[[2, 0]])
    np.testing.assert_array_equal(loaded.image_sizes, [[620, 470], [640, 480]])


def test_short_distortion_vectors_are_padded_with_zeros(rig: CameraRig, tmp_path: Path) -> None:
    path = write_calibration(rig, tmp_path / "calibration.toml")
    data = toml.load(path)
    data["cam_1"]["distortions"] = [-0.2, 0.03]  # Anipose stores only the coefficients it fitted
    path.write_text(toml.dumps(data))
    loaded = load_calibration(path, rig.names)
    np.testing.assert_array_equal(loaded.distortions[1], [-0.2, 0.03, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(loaded.distortions[0], rig.distortions[0])


def test_to_tensors_resolves_rodrigues(rig: CameraRig) -> None:
    cams = rig.to_tensors(dtype=torch.float64)
    assert cams.K.shape == (3, 3, 3) and cams.dist.shape == (3, 5)
    assert cams.R.shape == (3, 3, 3) and cams.t.shape == (3, 3)
    assert cams.num_views == 3
    for view in range(3):
        expected = cv2.Rodrigues(rig.rotations[view])[0]
        np.testing.assert_allclose(cams.R[view].numpy(), expected, atol=1e-12)
    eye = cams.R @ cams.R.transpose(-1, -2)
    assert torch.allclose(eye, torch.eye(3, dtype=torch.float64).expand(3, 3, 3), atol=1e-12)
    assert rig.to_tensors().K.dtype == torch.float32


def test_rig_arrays_are_read_only(rig: CameraRig) -> None:
    with pytest.raises(ValueError):
        rig.intrinsics[0, 0, 0] = 1.0


def test_select_names_the_missing_view(rig: CameraRig) -> None:
    with pytest.raises(DataError, match="'bottom'.*'top', 'left', 'right'"):
        rig.select(["top", "bottom"])


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(DataError, match="nope.toml not found"):
        load_calibration(path, ["top"])


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe not text",
        b"[cam_0\nname = 'top'",  # broken TOML
        b"answer = 42\n",  # TOML, but not a calibration
        b"[cam_0]\nname = 'top'\nsize = [640, 480]\n",  # a camera without its parameters
        b"",
    ],
)
def test_garbage_file_is_a_one_line_data_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.toml"
    path.write_bytes(content)
    with pytest.raises(DataError, match="garbage.toml") as err:
        load_calibration(path, ["top"])
    assert "\n" not in str(err.value)


def test_malformed_matrix_names_camera_and_key(rig: CameraRig, tmp_path: Path) -> None:
    path = write_calibration(rig, tmp_path / "calibration.toml")
    data = toml.load(path)
    data["cam_2"]["matrix"] = [[500.0, 0.0, 320.0], [0.0, 505.0, 240.0]]
    path.write_text(toml.dumps(data))
    with pytest.raises(DataError, match="calibration.toml: camera 'right' key 'matrix'") as err:
        load_calibration(path, rig.names)
    assert "\n" not in str(err.value)


def test_missing_view_lists_missing_and_available_names(rig: CameraRig, tmp_path: Path) -> None:
    path = write_calibration(rig, tmp_path / "rig.toml")
    with pytest.raises(DataError) as err:
        load_calibration(path, ["top", "side", "bottom"])
    message = str(err.value)
    assert "rig.toml" in message and "'side', 'bottom'" in message
    assert "'top', 'left', 'right'" in message
    assert "\n" not in message


def test_fisheye_cameras_are_refused(rig: CameraRig, tmp_path: Path) -> None:
    path = write_calibration(rig, tmp_path / "calibration.toml")
    data = toml.load(path)
    data["cam_1"]["fisheye"] = True
    data["cam_1"]["distortions"] = [0.1, 0.0, 0.0, 0.0]
    path.write_text(toml.dumps(data))
    with pytest.raises(DataError, match="'left' are fisheye; only pinhole"):
        load_calibration(path, rig.names)
