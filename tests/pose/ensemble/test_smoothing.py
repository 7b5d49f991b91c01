"""EKS over an ensemble with known true trajectories: the smoothed track beats the consensus,
which beats the median member, and the members' spread points at the frames that are wrong."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pose.ensemble import SMOOTHED_COORDS, MemberPredictions, consensus, smooth
from pose.optional import MissingExtraError

pytest.importorskip("eks", reason="the ensemble extra (pip install 'pose-sweeper[ensemble]')")

FRAMES = 240


def _truth(keypoints: int, rng: np.random.Generator) -> np.ndarray:
    """``[N, K, 2]`` smooth trajectories (a slow loop per keypoint), in pixels."""
    t = np.arange(FRAMES)[:, None]
    phase = rng.uniform(0, 2 * np.pi, keypoints)
    x = 120 + 25 * keypoints * np.arange(keypoints) + 30 * np.sin(2 * np.pi * t / 80 + phase)
    y = 100 + 20 * np.cos(2 * np.pi * t / 60 + phase)
    return np.stack([x, y], axis=-1)


def _ensemble(truth: np.ndarray, rng: np.random.Generator) -> MemberPredictions:
    """Two good members (1.5 px noise) and a weak one (5 px, and 40 px misses on 6% of frames);
    on hard frames (10%: an occlusion, motion blur) every member's noise is four times larger."""
    hard = np.where(rng.random(truth.shape[:2]) < 0.1, 4.0, 1.0)[..., None]
    noise = [1.5, 1.5, 5.0]
    xy = np.stack([truth + hard * rng.normal(0, s, truth.shape) for s in noise])
    misses = rng.random(truth.shape[:2]) < 0.06
    xy[2][misses] += rng.choice([-40.0, 40.0], size=(int(misses.sum()), 2))
    likelihood = np.stack([np.full(truth.shape[:2], c) for c in (0.9, 0.9, 0.6)])
    names = [f"kp{i}" for i in range(truth.shape[1])]
    return MemberPredictions(["good-a", "good-b", "weak"], names, xy, likelihood)


def _error(xy: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.linalg.norm(xy - truth, axis=-1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eks_beats_the_centre_which_beats_the_median_member(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = _truth(3, rng)
    members = _ensemble(truth, rng)
    member_errors = [float(_error(m, truth).mean()) for m in members.xy]
    ensemble = consensus(members)
    centre_error = _error(ensemble.xy, truth)
    smoothed = smooth(members)
    assert smoothed.variant == "singlecam" and smoothed.values.shape == (FRAMES, 3, 9)
    assert len(smoothed.smooth_params) == 3
    assert centre_error.mean() <= np.median(member_errors)
    assert _error(smoothed.xy, truth).mean() <= centre_error.mean()
    # the members disagree most where the centre is wrong
    assert np.corrcoef(ensemble.spread.ravel(), centre_error.ravel())[0, 1] > 0.2
    assert (smoothed.posterior_var > 0).all()


def test_a_mirrored_rig_smooths_its_matched_views_together_and_the_rest_alone() -> None:
    """Columns 0-1 (top view) match 2-3 (bottom view, the same points seen from below); 4 is
    only seen once."""
    rng = np.random.default_rng(3)
    top = _truth(2, rng)
    bottom = top * [1.0, 0.5] + [0.0, 300.0]  # a mirror: same x, squashed and shifted y
    truth = np.concatenate([top, bottom, _truth(1, rng)], axis=1)
    members = _ensemble(truth, rng)
    smoothed = smooth(members, mirrored_column_matches=[[0, 1], [2, 3]])
    assert smoothed.variant == "mirrored" and smoothed.values.shape == (FRAMES, 5, 9)
    assert np.isfinite(smoothed.values).all()
    centre_error = _error(consensus(members).xy, truth).mean(axis=0)
    smoothed_error = _error(smoothed.xy, truth).mean(axis=0)
    assert (smoothed_error <= centre_error).all()
    frame = smoothed.frame()
    assert list(frame.columns.get_level_values(2)[:9]) == list(SMOOTHED_COORDS)
    assert list(dict.fromkeys(frame.columns.get_level_values(1))) == members.keypoint_names


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    members = _ensemble(_truth(1, rng), rng)
    for name in [m for m in sys.modules if m == "eks" or m.startswith("eks.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "eks", None)  # import eks now fails
    with pytest.raises(MissingExtraError, match=r"pip install 'pose-sweeper\[ensemble\]'"):
        smooth(members)
