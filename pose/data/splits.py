"""Train / validation / test split of labeled rows, reproducible from ``training.rng_seed_data_pt``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pose.errors import DataError


@dataclass
class Splits:
    """Sorted row indices (into the label CSV) of each split."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def split_indices(
    n: int, train_prob: float, val_prob: float, train_frames: float | int, seed: int
) -> Splits:
    """Shuffle ``n`` rows with ``seed`` and cut them into train / validation / test.

    The shuffle is ``torch.randperm`` with a generator seeded by ``seed``, the permutation behind
    Lightning Pose's ``random_split``, so a config gives the same three splits in both tools and
    results can be compared frame for frame. ``train_frames`` subsamples the train split after the
    cut (so validation and test do not change with it): a float in (0, 1] is a fraction (1 and 1.0
    mean all), an int > 1 a count.
    """
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    n_train = int(np.floor(train_prob * n))
    n_val = int(np.floor(val_prob * n))
    if val_prob > 0 and n >= 3:
        n_val = max(n_val, 1)
    n_train = min(n_train, n - n_val)
    train = order[:n_train]
    validation = order[n_train : n_train + n_val]
    test = order[n_train + n_val :]
    train = train[: _train_count(len(train), train_frames)]
    return Splits(np.sort(train), np.sort(validation), np.sort(test))


def _train_count(available: int, train_frames: float | int) -> int:
    if isinstance(train_frames, bool) or not isinstance(train_frames, (int, float)):
        raise DataError(f"training.train_frames must be a number, got {train_frames!r}")
    if train_frames == 1:
        return available
    if isinstance(train_frames, float) and 0 < train_frames < 1:
        return max(1, int(np.floor(train_frames * available)))
    if isinstance(train_frames, int) and train_frames > 1:
        if train_frames > available:
            raise DataError(
                f"training.train_frames is {train_frames} but the train split has only "
                f"{available} frames"
            )
        return train_frames
    raise DataError(
        f"training.train_frames must be a fraction in (0, 1] or a count > 1, got {train_frames!r}"
    )
