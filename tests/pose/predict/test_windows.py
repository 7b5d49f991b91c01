"""Context windows over a stream: one window per frame, in order, clamped at the ends, memory flat."""

from __future__ import annotations

import pytest
import torch

from pose.predict.windows import ContextWindows

OFFSETS = (-2, -1, 0, 1, 2)


def _expected(n: int) -> torch.Tensor:
    frames = torch.arange(n)
    return (frames[:, None] + torch.tensor(OFFSETS)).clamp(0, n - 1)


@pytest.mark.parametrize(("n", "batch"), [(1, 4), (2, 1), (5, 5), (23, 4), (23, 1), (40, 96)])
def test_every_frame_once_with_clamped_window(n: int, batch: int) -> None:
    windows = ContextWindows(OFFSETS)
    frames = torch.arange(n, dtype=torch.float32)[:, None]  # "maps" = the frame number
    out, most_kept = [], 0
    for start in range(0, n, batch):
        out.append(windows.push(frames[start : start + batch]))
        assert windows.kept is not None
        most_kept = max(most_kept, len(windows.kept))
    assert windows.pending == min(n, 2)
    out.append(windows.finish())
    assert windows.pending == 0
    got = torch.cat(out)[..., 0].long()
    assert torch.equal(got, _expected(n))
    assert most_kept <= batch + 4  # only the frames later windows still need


def test_finish_without_frames_is_an_error() -> None:
    with pytest.raises(ValueError, match="no frames"):
        ContextWindows(OFFSETS).finish()
