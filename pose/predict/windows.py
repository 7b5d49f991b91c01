"""Context windows over a video stream, so a context model runs its backbone once per frame.

Per-frame maps arrive batch by batch in decode order; a frame's window is complete once the frames
after it have arrived, so output lags input by the window's reach. At the video's ends the window is
clamped (the first frame stands in for the frames before it, the last for those after), and only
the frames some future window still needs are kept: memory stays flat in video length.
"""

from __future__ import annotations

import torch
from torch import Tensor


class ContextWindows:
    """Turns per-frame maps ``[n, ...]``, pushed in order, into windows ``[m, T, ...]``, one per
    frame in order, each frame exactly once."""

    def __init__(self, offsets: tuple[int, ...]) -> None:
        self.offsets = torch.tensor(offsets)
        self.reach_back = max(0, -min(offsets))
        self.reach_ahead = max(0, max(offsets))
        self.kept: Tensor | None = None  # maps of frames first .. first + len(kept) - 1
        self.first = 0
        self.emitted = 0  # frames whose window has been returned

    def push(self, maps: Tensor) -> Tensor:
        """Add the next frames' maps; return the windows that are now complete."""
        self.kept = maps if self.kept is None else torch.cat([self.kept, maps])
        return self._take(self._seen() - self.reach_ahead)

    def finish(self) -> Tensor:
        """The windows of the last frames, clamped at the video's end."""
        if self.kept is None:
            raise ValueError("no frames were pushed")
        return self._take(self._seen())

    @property
    def pending(self) -> int:
        """Frames pushed whose window has not been returned yet."""
        return self._seen() - self.emitted

    def _seen(self) -> int:
        return self.first + (0 if self.kept is None else len(self.kept))

    def _take(self, stop: int) -> Tensor:
        assert self.kept is not None
        stop = max(stop, self.emitted)
        frames = torch.arange(self.emitted, stop)
        index = (frames[:, None] + self.offsets).clamp(0, self._seen() - 1) - self.first
        windows = self.kept[index.to(self.kept.device)]
        self.emitted = stop
        drop = max(0, self.emitted - self.reach_back - self.first)
        self.kept, self.first = self.kept[drop:], self.first + drop
        return windows
