"""Splits: deterministic per seed, right sizes for fractions and counts."""

from __future__ import annotations

import numpy as np
import pytest

from pose.data import split_indices
from pose.errors import DataError


def test_sizes_disjoint_sorted_and_deterministic() -> None:
    splits = split_indices(100, 0.8, 0.1, 1, seed=0)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (80, 10, 10)
    every = np.concatenate([splits.train, splits.validation, splits.test])
    assert sorted(every.tolist()) == list(range(100))
    for part in (splits.train, splits.validation, splits.test):
        assert (np.diff(part) > 0).all()
    again = split_indices(100, 0.8, 0.1, 1.0, seed=0)
    np.testing.assert_array_equal(splits.validation, again.validation)
    other = split_indices(100, 0.8, 0.1, 1, seed=1)
    assert not np.array_equal(splits.validation, other.validation)


def test_rounding_down_and_at_least_one_validation_frame() -> None:
    splits = split_indices(9, 0.95, 0.05, 1, seed=0)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (8, 1, 0)
    splits = split_indices(90, 0.8, 0.1, 1, seed=0)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (72, 9, 9)


def test_train_frames_fraction_and_count_subsample_train_only() -> None:
    full = split_indices(100, 0.8, 0.1, 1, seed=3)
    half = split_indices(100, 0.8, 0.1, 0.5, seed=3)
    count = split_indices(100, 0.8, 0.1, 7, seed=3)
    assert len(half.train) == 40 and len(count.train) == 7
    assert set(half.train) <= set(full.train) and set(count.train) <= set(full.train)
    np.testing.assert_array_equal(half.validation, full.validation)
    np.testing.assert_array_equal(count.test, full.test)


@pytest.mark.parametrize("train_frames", [81, 0, -0.5, 2.5, "all"])
def test_bad_train_frames(train_frames: object) -> None:
    with pytest.raises(DataError, match="training.train_frames"):
        split_indices(100, 0.8, 0.1, train_frames, seed=0)  # type: ignore[arg-type]


def test_splits_match_lightning_pose_random_split() -> None:
    # Lightning Pose splits with torch's random_split(generator=manual_seed(seed)); the same config
    # must give the same frames, e.g. its mirror-mouse example (90 frames, 0.8/0.1, seed 42).
    s = split_indices(90, 0.8, 0.1, 1, 42)
    assert s.test.tolist() == [3, 4, 9, 21, 44, 47, 48, 58, 75]
    assert s.validation.tolist() == [15, 30, 41, 50, 51, 52, 64, 83, 89]
    import torch

    parts = torch.utils.data.random_split(
        range(90), [72, 9, 9], generator=torch.Generator().manual_seed(42)
    )
    assert sorted(parts[0].indices) == s.train.tolist()
