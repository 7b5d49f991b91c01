"""Mono videos through their luma plane alone.

Behaviour rigs mostly film with mono (often infrared) cameras, and their videos are stored as YUV
with neutral chroma. In such a frame each RGB pixel is a function of its luma alone, so the reader
looks it up in a table and resizes one channel instead of converting and resizing three: the same
pixels as the full conversion, and 22–25 % less decoder CPU time than OpenCV's path on the example
video (``bench/predict_fps.py``); on a small CPU machine that time is taken from the network.
"""

from __future__ import annotations

import av
import cv2
import numpy as np

NEUTRAL_CHROMA = 128
# 8-bit planar formats whose first plane is luma; "gray" has no chroma to check
LUMA_FORMATS = {"gray", "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"}


def plane_array(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A plane's pixels ``[h, w]`` as a view (the line padding cut off)."""
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


def chroma_is_neutral(frame: av.VideoFrame) -> bool:
    """True for an 8-bit luma frame whose chroma planes are all neutral (a grey image). Planes
    stored bottom-up (negative line size) are left to the full conversion."""
    if frame.format.name not in LUMA_FORMATS or any(p.line_size <= 0 for p in frame.planes):
        return False
    return all((plane_array(p) == NEUTRAL_CHROMA).all() for p in frame.planes[1:])


def _table_for(frame: av.VideoFrame) -> np.ndarray | None:
    """The RGB value FFmpeg's conversion gives each luma value under neutral chroma, found by
    converting a frame of the same size, format and colour tags holding every value; None when
    the frame has under 256 pixels (not every value fits) or the result depends on more than luma
    (then only the full conversion is right)."""
    height, width = frame.height, frame.width
    if height * width < 256:
        return None
    probe = av.VideoFrame(width, height, frame.format.name)
    probe.color_range, probe.colorspace = frame.color_range, frame.colorspace
    luma = (np.arange(height * width) % 256).astype(np.uint8).reshape(height, width)
    plane_array(probe.planes[0])[:] = luma
    for plane in probe.planes[1:]:
        plane_array(plane)[:] = NEUTRAL_CHROMA
    rgb = probe.to_ndarray(format="rgb24")
    table = np.zeros(256, np.uint8)
    table[luma] = rgb[..., 0]
    return table if (rgb == table[luma][..., None]).all() else None


class LumaReader:
    """Grey images of a stream's neutral-chroma frames, equal to the full RGB conversion's.

    A table is built for the first such frame, and again whenever the format, size or colour tags
    change, and checked against that frame's full conversion; where they differ, frames with
    those properties take the full path.
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._table: np.ndarray | None = None

    def grey(self, frame: av.VideoFrame) -> np.ndarray | None:
        """``[H, W]`` uint8 (the value of R, G and B alike), or None: convert the frame fully."""
        if not chroma_is_neutral(frame):
            return None
        key = (frame.format.name, frame.width, frame.height, frame.color_range, frame.colorspace)
        luma = plane_array(frame.planes[0])
        if key != self._key:
            self._key, self._table = key, _table_for(frame)
            if self._table is not None:  # checked once against the full conversion
                full = frame.to_ndarray(format="rgb24")
                if not (full == self._table[luma][..., None]).all():
                    self._table = None
        return None if self._table is None else cv2.LUT(luma, self._table)
