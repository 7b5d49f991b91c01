"""Video readers: stream a video as batches of frames resized like training images.

One interface, several backends in a registry (``READERS``): CPU decoders here, NVIDIA DALI in
``pose.video.dali``. A reader never holds more than a few batches of frames, and yields exactly one
frame per decoded video frame, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch

from pose.errors import DataError
from pose.registry import Registry
from pose.video.luma import LumaReader


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    frame_count_hint: int  # from the container; the decoded count is authoritative


class VideoReader(Protocol):
    info: VideoInfo

    def frames(self, resize_hw: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
        """Every frame as RGB uint8 ``[H, W, 3]``, in order; resized (INTER_AREA, as training
        images are) to ``resize_hw`` when given."""
        ...

    def batches(
        self, resize_hw: tuple[int, int] | None, batch_size: int
    ) -> Iterator[np.ndarray | torch.Tensor]:
        """The same frames stacked ``[B, H, W, 3]`` (the last batch may be shorter); GPU readers
        yield tensors already on the GPU."""
        ...


ReaderFactory = Callable[[Path], VideoReader]


def _resize(image: np.ndarray, resize_hw: tuple[int, int] | None) -> np.ndarray:
    if resize_hw is None or image.shape[:2] == tuple(resize_hw):
        return image
    height, width = resize_hw
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


READERS: Registry[ReaderFactory] = Registry("video reader")


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"video {path}: file not found")


class _CPUReader:
    """Batches stacked from frames decoded on the CPU."""

    def frames(self, resize_hw: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def batches(self, resize_hw: tuple[int, int] | None, batch_size: int) -> Iterator[np.ndarray]:
        return batched(self.frames(resize_hw), batch_size)


@READERS.register("pyav")
class PyAVReader(_CPUReader):
    """FFmpeg through PyAV, decoding on CPU threads (the wheels bundle FFmpeg). Mono frames take
    the luma-plane path of ``pose.video.luma``: the same pixels for less CPU time."""

    def __init__(self, path: Path) -> None:
        import av

        _check_file(path)
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                rate = float(stream.average_rate or stream.guessed_rate or 0)
                self.info = VideoInfo(
                    path, stream.width, stream.height, rate, int(stream.frames or 0)
                )
                self.codec = str(stream.codec_context.name)  # FFmpeg's name, e.g. h264
        except (av.FFmpegError, IndexError) as err:
            raise DataError(f"video {path}: cannot be read as a video ({err})") from None

    def frames(self, resize_hw: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
        import av

        try:
            with av.open(str(self.info.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                luma = LumaReader()
                for frame in container.decode(stream):
                    grey = luma.grey(frame)
                    if grey is None:
                        yield _resize(frame.to_ndarray(format="rgb24"), resize_hw)
                    else:  # a mono frame: one channel resized, then copied to three
                        yield cv2.cvtColor(_resize(grey, resize_hw), cv2.COLOR_GRAY2RGB)
        except av.FFmpegError as err:
            raise DataError(f"video {self.info.path}: decoding failed ({err})") from None


@READERS.register("opencv")
class OpenCVReader(_CPUReader):
    """OpenCV's FFmpeg backend (BGR frames converted to RGB)."""

    def __init__(self, path: Path) -> None:
        _check_file(path)
        capture = cv2.VideoCapture(str(path))
        try:
            if not capture.isOpened():
                raise DataError(f"video {path}: cannot be read as a video")
            self.info = VideoInfo(
                path,
                int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                float(capture.get(cv2.CAP_PROP_FPS)),
                int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
            )
        finally:
            capture.release()

    def frames(self, resize_hw: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
        capture = cv2.VideoCapture(str(self.info.path))
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                # resize first: the colour swap then touches the small image only
                yield cv2.cvtColor(_resize(frame, resize_hw), cv2.COLOR_BGR2RGB)
        finally:
            capture.release()


def default_reader(path: Path | None = None) -> str:
    """DALI when a GPU and DALI are present. Otherwise PyAV for a mono video that PyAV's luma path
    reads as OpenCV does (22–25 % less decoder CPU on the example video), else OpenCV (its colour
    conversion costs less than PyAV's)."""
    from pose.video.dali import dali_available  # imported here: that module registers on ours

    if torch.cuda.is_available() and dali_available():
        return "dali"
    return "pyav" if path is not None and _mono_as_opencv_reads_it(path) else "opencv"


def _mono_as_opencv_reads_it(path: Path) -> bool:
    """Whether the first frame is mono and PyAV's luma path gives it OpenCV's pixels, so ``auto``
    changes speed, never pixels (OpenCV reads full-range yuv420p, as VP9 and FFV1 decode to, as
    limited range). Later colour frames still decode right: the path is chosen frame by frame."""
    import av

    try:
        with av.open(str(path)) as container:
            grey = LumaReader().grey(next(container.decode(container.streams.video[0])))
    except (av.FFmpegError, IndexError, StopIteration):
        return False  # the chosen reader reports what is wrong with the file
    if grey is None:
        return False
    capture = cv2.VideoCapture(str(path))
    try:
        ok, bgr = capture.read()
    finally:
        capture.release()
    return bool(ok) and bgr.shape[:2] == grey.shape and bool((bgr == grey[..., None]).all())


def open_video(path: str | Path, reader: str = "auto") -> VideoReader:
    """A reader for ``path``; ``auto`` is ``default_reader(path)``, falling back to OpenCV for a
    video DALI cannot decode (a codec NVDEC lacks)."""
    name = default_reader(Path(path)) if reader == "auto" else reader
    if name not in READERS:
        raise DataError(f"--reader: {READERS.unknown_message(name)} (or auto)")
    try:
        return READERS.get(name)(Path(path))
    except DataError:
        if reader != "auto" or name == "opencv":
            raise
        return READERS.get("opencv")(Path(path))


def batched(frames: Iterator[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """Frames stacked in uint8 batches ``[B, H, W, 3]`` (the last one may be shorter)."""
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == batch_size:
            yield np.stack(batch)
            batch = []
    if batch:
        yield np.stack(batch)
