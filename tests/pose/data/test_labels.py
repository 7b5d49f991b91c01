"""DLC label CSVs: round trip, both index layouts, and one clear error per kind of bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose.data import LabeledData, check_labels_match_config, read_labels, write_labels
from pose.errors import DataError


def _labels() -> LabeledData:
    keypoints = np.array([[[1.5, 2.0], [np.nan, np.nan]], [[3.0, 4.25], [5.0, 6.0]]], np.float32)
    return LabeledData(
        ["labeled-data/a.png", "labeled-data/b.png"], keypoints, ["nose", "tail"], "me"
    )


def test_write_read_round_trip(tmp_path: Path) -> None:
    write_labels(tmp_path / "CollectedData.csv", _labels())
    text = (tmp_path / "CollectedData.csv").read_text().splitlines()
    assert text[:3] == ["scorer,me,me,me,me", "bodyparts,nose,nose,tail,tail", "coords,x,y,x,y"]
    back = read_labels(tmp_path / "CollectedData.csv")
    assert back.image_paths == ["labeled-data/a.png", "labeled-data/b.png"]
    assert back.keypoint_names == ["nose", "tail"] and back.scorer == "me"
    assert back.keypoints.dtype == np.float32
    np.testing.assert_array_equal(back.keypoints, _labels().keypoints)  # NaN positions included


def test_split_index_layout_and_likelihood_are_read(tmp_path: Path) -> None:
    csv = tmp_path / "CollectedData.csv"
    csv.write_text(
        "scorer,,,me,me,me\n"
        "bodyparts,,,nose,nose,nose\n"
        "coords,,,x,y,likelihood\n"
        "labeled-data,video1,img001.png,10.5,20,0.9\n"
        "labeled-data,video1,img002.png,,,\n"
    )
    labels = read_labels(csv)
    assert labels.image_paths == [
        "labeled-data/video1/img001.png",
        "labeled-data/video1/img002.png",
    ]
    assert labels.keypoint_names == ["nose"]
    np.testing.assert_array_equal(labels.keypoints[0], [[10.5, 20.0]])
    assert np.isnan(labels.keypoints[1]).all()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("scorer,me,me\nbodyparts,nose,nose\na.png,1,2\n", "coords"),
        ("scorer,me,me,me\nbodyparts,nose,nose,nose\ncoords,x,y,x\na.png,1,2,3\n", "x,y"),
        ("scorer,me,me\nbodyparts,nose,nose\ncoords,x,y\na.png,1,oops\n", "must be numbers"),
    ],
    ids=["two-header-rows", "odd-coords", "non-numeric"],
)
def test_bad_csv_errors_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    csv = tmp_path / "Bad.csv"
    csv.write_text(content)
    with pytest.raises(DataError, match=message) as error:
        read_labels(csv)
    assert "Bad.csv" in str(error.value) and "\n" not in str(error.value)


def test_missing_file_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"Missing\.csv: label file not found"):
        read_labels(tmp_path / "Missing.csv")


def test_check_labels_match_config() -> None:
    labels = _labels()
    check_labels_match_config(labels, ["nose", "tail"], 2, "CollectedData.csv")
    check_labels_match_config(labels, None, None, "CollectedData.csv")
    with pytest.raises(DataError) as error:
        check_labels_match_config(labels, ["a", "b", "c"], None, "dir/CollectedData.csv")
    assert str(error.value) == (
        "CollectedData.csv: header has 2 keypoints [nose, tail], "
        "config data.keypoint_names has 3 [a, b, c]"
    )
    with pytest.raises(DataError, match="data.num_keypoints is 17"):
        check_labels_match_config(labels, None, 17, "CollectedData.csv")
