"""The ensemble's consensus: centres, spread and the CSV layout, on known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose.ensemble import (
    CENTRES,
    CONSENSUS_COORDS,
    MemberPredictions,
    consensus,
    consensus_frame,
    inliers,
    member_distances,
)
from pose.errors import DataError
from pose.predict import predictions_frame, read_predictions, write_csv

NAMES = ["nose", "tail"]


def _members() -> MemberPredictions:
    """Three members on two frames: two agree, the third is 30 px off on the nose."""
    xy = np.zeros((3, 2, 2, 2))
    xy[:, :, 0] = [[10.0, 20.0]]  # nose
    xy[:, :, 1] = [[50.0, 60.0]]  # tail
    xy[1, :, 0] += 1.0  # a near neighbour
    xy[2, :, 0, 0] += 30.0  # the weak member
    likelihood = np.array([[[0.9, 0.8]] * 2, [[0.7, 0.8]] * 2, [[0.2, 0.8]] * 2])
    return MemberPredictions(["a", "b", "c"], NAMES, xy, likelihood)


def test_the_median_follows_the_majority_and_the_variance_flags_the_disagreement() -> None:
    ensemble = consensus(_members())
    assert ensemble.centre == "median"
    np.testing.assert_allclose(ensemble.xy[:, 0], [[11.0, 20.0]] * 2)  # not dragged by member c
    np.testing.assert_allclose(ensemble.mean[:, 0], [[(10 + 11 + 40) / 3, (20 + 21 + 20) / 3]] * 2)
    x = np.array([10.0, 11.0, 40.0])
    y = np.array([20.0, 21.0, 20.0])
    np.testing.assert_allclose(ensemble.var[:, 0], [[x.var(), y.var()]] * 2)
    np.testing.assert_allclose(ensemble.var[:, 1], 0.0)  # everyone agrees on the tail
    np.testing.assert_allclose(ensemble.spread[:, 0], np.sqrt(x.var() + y.var()))
    np.testing.assert_allclose(ensemble.likelihood[:, 0], 0.6)


@pytest.mark.parametrize("centre", CENTRES.names())
def test_every_registered_centre_lies_within_the_members(centre: str) -> None:
    members = _members()
    ensemble = consensus(members, centre)
    assert ensemble.centre == centre
    assert (ensemble.xy >= members.xy.min(axis=0) - 1e-9).all()
    assert (ensemble.xy <= members.xy.max(axis=0) + 1e-9).all()


def test_an_unknown_centre_names_the_choices() -> None:
    with pytest.raises(DataError, match="unknown ensemble centre 'mode'.*median, mean"):
        consensus(_members(), "mode")


def test_member_distances_single_out_the_weak_member() -> None:
    distances = member_distances(_members(), consensus(_members()))
    # nose distances to (11, 20): a 1, b 1, c 29; tails all 0; mean over the 2 keypoints
    np.testing.assert_allclose(distances, [0.5, 0.5, 14.5])


def test_inliers_leave_out_the_far_member_and_keep_agreeing_ones() -> None:
    members = _members()
    kept = inliers(members, consensus(members))  # distances 0.5, 0.5, 14.5: c is 29x the median
    assert kept.members == ["a", "b"]
    np.testing.assert_array_equal(kept.xy, members.xy[:2])
    np.testing.assert_array_equal(kept.likelihood, members.likelihood[:2])
    assert inliers(members, consensus(members), factor=30.0) is members  # 14.5 <= 30 x 0.5


def test_inliers_never_drop_the_median_member() -> None:
    members = _members()
    with pytest.raises(ValueError, match="outlier factor 0.5"):
        inliers(members, consensus(members), factor=0.5)


def test_the_csv_has_lightning_poses_ensemble_columns(tmp_path: Path) -> None:
    ensemble = consensus(_members())
    path = tmp_path / "video_ensemble.csv"
    write_csv(consensus_frame(ensemble, NAMES), path)
    frame = read_predictions(path)
    assert list(frame.columns.get_level_values(2)[: len(CONSENSUS_COORDS)]) == list(
        CONSENSUS_COORDS
    )
    scorer = frame.columns.get_level_values(0)[0]
    assert frame[(scorer, "nose", "x")].tolist() == [11.0, 11.0]
    assert frame[(scorer, "nose", "x_ens_mean")].tolist() == pytest.approx([61 / 3] * 2)
    assert frame[(scorer, "nose", "x_ens_var")].tolist() == pytest.approx(
        [np.var([10, 11, 40])] * 2
    )
    assert frame[(scorer, "tail", "likelihood")].tolist() == pytest.approx([0.8, 0.8])


def _write_member(path: Path, xy: np.ndarray, likelihood: np.ndarray) -> Path:
    index = [str(i) for i in range(len(xy))]
    write_csv(predictions_frame(index, NAMES, xy, likelihood), path)
    return path


def test_members_read_from_their_prediction_csvs(tmp_path: Path) -> None:
    members = _members()
    csvs = [
        _write_member(tmp_path / f"{m}.csv", members.xy[i], members.likelihood[i])
        for i, m in enumerate(members.members)
    ]
    read = MemberPredictions.from_csvs(csvs, members.members)
    assert read.keypoint_names == NAMES
    np.testing.assert_allclose(read.xy, members.xy)
    np.testing.assert_allclose(read.likelihood, members.likelihood)


def test_members_of_different_videos_are_refused_naming_the_file(tmp_path: Path) -> None:
    members = _members()
    first = _write_member(tmp_path / "a.csv", members.xy[0], members.likelihood[0])
    short = _write_member(tmp_path / "b.csv", members.xy[1][:1], members.likelihood[1][:1])
    with pytest.raises(DataError, match=r"b\.csv: 1 frames, but .*a\.csv has 2"):
        MemberPredictions.from_csvs([first, short], ["a", "b"])
