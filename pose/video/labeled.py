"""Labeled videos: keypoints drawn on every frame, written as h264 mp4 that browsers and MLflow play.

OpenCV's wheels cannot encode h264; PyAV's bundle libx264, so PyAV writes. Frames stream through:
one frame in memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np


def keypoint_colors(colormap: str, count: int) -> list[tuple[int, int, int]]:
    """``count`` RGB colors spread over a matplotlib colormap (``eval.colormap``)."""
    from matplotlib import colormaps

    cmap = colormaps[colormap]
    return [
        tuple(int(255 * c) for c in cmap(i / max(1, count - 1))[:3])  # type: ignore[misc]
        for i in range(count)
    ]


def draw_keypoints(
    frame: np.ndarray,
    xy: np.ndarray,
    likelihood: np.ndarray,
    colors: list[tuple[int, int, int]],
    threshold: float,
    radius: int,
    uncertainty: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of RGB ``frame`` with a filled circle per keypoint at or above ``threshold``, and
    around it a ring of ``uncertainty`` pixels (e.g. two posterior standard deviations) if given."""
    out = np.ascontiguousarray(frame).copy()
    rings = np.zeros(len(xy)) if uncertainty is None else uncertainty
    for (x, y), conf, color, ring in zip(xy, likelihood, colors, rings, strict=True):
        if conf >= threshold and np.isfinite(x) and np.isfinite(y):
            centre = (round(float(x)), round(float(y)))
            cv2.circle(out, centre, radius, color, -1, cv2.LINE_AA)
            if np.isfinite(ring) and ring > radius:
                limit = 2 * max(out.shape[:2])  # a huge variance draws the frame's edge, not more
                cv2.circle(out, centre, round(min(float(ring), limit)), color, 1, cv2.LINE_AA)
    return out


def write_labeled_video(
    frames: Iterator[np.ndarray],
    xy: np.ndarray,
    likelihood: np.ndarray,
    path: Path,
    fps: float,
    colormap: str,
    threshold: float,
    uncertainty: np.ndarray | None = None,
) -> int:
    """Draw predictions ``[N, K, 2]`` on the frames and encode them; returns frames written.
    ``uncertainty [N, K]`` (pixels) draws a ring of that radius around each keypoint.

    Odd widths or heights are padded by one pixel (yuv420p needs even sizes).
    """
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    colors = keypoint_colors(colormap, xy.shape[1])
    written = 0
    with av.open(str(path), mode="w") as container:
        stream = None
        for index, frame in enumerate(frames):
            if index >= len(xy):
                break
            if stream is None:
                height, width = frame.shape[:2]
                stream = container.add_stream(
                    "libx264", rate=Fraction(fps or 30).limit_denominator(1001)
                )
                stream.width, stream.height = width + width % 2, height + height % 2
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": "23", "preset": "veryfast"}
                radius = max(2, round(min(height, width) / 100))
            rings = None if uncertainty is None else uncertainty[index]
            image = draw_keypoints(
                frame, xy[index], likelihood[index], colors, threshold, radius, rings
            )
            if image.shape[0] != stream.height or image.shape[1] != stream.width:
                image = np.pad(
                    image,
                    (
                        (0, stream.height - image.shape[0]),
                        (0, stream.width - image.shape[1]),
                        (0, 0),
                    ),
                    mode="edge",
                )
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
            written += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return written
