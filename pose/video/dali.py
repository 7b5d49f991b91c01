"""NVIDIA DALI video reader: decodes on the GPU (NVDEC) and resizes there, frames stay on the GPU.

Registered as ``dali`` in ``READERS`` and picked by ``auto`` when a GPU and the ``gpu`` extra
(``nvidia-dali-cuda130``) are present. Without a GPU, ``--reader dali`` runs DALI's CPU backend,
which decodes VP8, VP9 and MJPEG but not H.264/H.265 (a clear error says so).

Each DALI sample is one sequence of ``batch_size`` consecutive frames (``sequence_length``); the
last sequence is padded with frame index -1, and padded frames are dropped, so every video frame
comes out exactly once, in order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pose.errors import DataError
from pose.video.readers import READERS, PyAVReader

_READER_NAME = "video"
# fn.experimental.readers.video's codecs (DALI 2.4 documentation), by FFmpeg codec name
CODECS = {
    "cpu": ("vp8", "vp9", "mjpeg"),
    "gpu": ("vp8", "vp9", "mjpeg", "av1", "mpeg4", "h264", "hevc"),
}


def dali_available() -> bool:
    try:
        import nvidia.dali  # noqa: F401
    except ImportError:
        return False
    return True


def _one_line(err: Exception) -> str:
    """DALI's errors span many lines; keep the one that says what went wrong."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:
        if "not supported" in line or "Assert" in line or "Error" in line:
            return line.split("] ", 1)[-1]
    return lines[-1] if lines else type(err).__name__


@READERS.register("dali")
class DaliReader:
    """Frames decoded by ``fn.experimental.readers.video`` and resized with ``fn.resize``.

    Resizing uses DALI's antialiased linear filter, which matches OpenCV's INTER_AREA (used for
    training images) within about one grey level when shrinking.
    """

    def __init__(self, path: Path) -> None:
        if not dali_available():
            raise DataError(
                "--reader dali: NVIDIA DALI is not installed (pip install 'pose-sweeper[gpu]')"
            )
        # size, rate and codec from the container header: DALI reports them only after decoding
        header = PyAVReader(path)
        self.info, codec = header.info, header.codec
        self.device = "gpu" if torch.cuda.is_available() else "cpu"
        if codec not in CODECS[self.device]:
            hint = "on a GPU, or use --reader opencv" if self.device == "cpu" else "--reader opencv"
            raise DataError(
                f"video {path}: DALI's {self.device.upper()} decoder reads "
                f"{', '.join(CODECS[self.device])}, not {codec} (use {hint})"
            )

    def _pipeline(self, resize_hw: tuple[int, int] | None, sequence_length: int) -> Any:
        from nvidia.dali import fn, pipeline_def, types

        # None: a CPU-only pipeline
        device_id: Any = torch.cuda.current_device() if self.device == "gpu" else None

        @pipeline_def(
            batch_size=1,
            num_threads=min(4, os.cpu_count() or 1),
            device_id=device_id,
            prefetch_queue_depth=2,
        )
        def frames() -> Any:
            outputs: Any = fn.experimental.readers.video(
                filenames=[str(self.info.path)],
                device=self.device,
                sequence_length=sequence_length,
                step=sequence_length,
                stride=1,
                pad_mode="constant",
                enable_frame_num="sequence",
                name=_READER_NAME,
            )
            video, index = outputs
            if resize_hw is not None and tuple(resize_hw) != (self.info.height, self.info.width):
                video = fn.resize(
                    video,
                    resize_y=resize_hw[0],
                    resize_x=resize_hw[1],
                    interp_type=types.DALIInterpType.INTERP_LINEAR,
                    antialias=True,
                )
            return video, index

        return frames()

    def batches(self, resize_hw: tuple[int, int] | None, batch_size: int) -> Iterator[torch.Tensor]:
        """uint8 ``[B, H, W, 3]`` torch tensors, on the GPU when decoding there."""
        from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

        try:
            iterator = DALIGenericIterator(
                self._pipeline(resize_hw, batch_size),
                ["frames", "index"],
                reader_name=_READER_NAME,
                last_batch_policy=LastBatchPolicy.PARTIAL,
                auto_reset=False,
            )
        except RuntimeError as err:
            raise DataError(
                f"video {self.info.path}: DALI ({self.device}) cannot decode it: {_one_line(err)}"
            ) from None
        try:
            for output in iterator:
                frames, index = output[0]["frames"][0], output[0]["index"][0]
                yield frames[(index >= 0).to(frames.device)]
        except RuntimeError as err:
            raise DataError(
                f"video {self.info.path}: DALI decoding failed: {_one_line(err)}"
            ) from None

    def frames(self, resize_hw: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
        for batch in self.batches(resize_hw, 64):
            yield from batch.cpu().numpy()
