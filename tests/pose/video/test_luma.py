"""Mono frames through the luma plane: the same pixels as FFmpeg's full RGB conversion."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pose.data.synthetic import write_video
from pose.video import open_video
from pose.video.luma import LumaReader, chroma_is_neutral, plane_array
from pose.video.readers import default_reader
from tests.conftest import MIRROR_MOUSE, require


def _frame(
    fmt: str, color_range: int, luma: np.ndarray, chroma: int = 128, colorspace: int = 2
) -> av.VideoFrame:
    frame = av.VideoFrame(luma.shape[1], luma.shape[0], fmt)
    frame.color_range, frame.colorspace = color_range, colorspace
    plane_array(frame.planes[0])[:] = luma
    for plane in frame.planes[1:]:
        plane_array(plane)[:] = chroma
    return frame


@pytest.mark.parametrize(
    ("fmt", "color_range", "colorspace", "hw"),
    [
        ("yuv420p", 1, 2, (38, 50)),
        ("yuv420p", 1, 1, (37, 51)),  # odd size, BT.709 tag
        ("yuv420p", 2, 2, (38, 50)),  # full range, as VP9 and FFV1 decode to
        ("yuvj420p", 2, 2, (38, 50)),
        ("yuv444p", 1, 5, (37, 51)),
        ("gray", 2, 2, (38, 50)),
    ],
)
def test_grey_frame_equals_the_full_conversion(
    fmt: str, color_range: int, colorspace: int, hw: tuple[int, int]
) -> None:
    luma = np.random.default_rng(0).integers(0, 256, hw, dtype=np.uint8)
    frame = _frame(fmt, color_range, luma, colorspace=colorspace)
    assert chroma_is_neutral(frame)
    grey = LumaReader().grey(frame)
    full = frame.to_ndarray(format="rgb24")
    assert grey is not None and grey.shape == luma.shape
    assert all((full[..., c] == grey).all() for c in range(3))
    if color_range == 1:  # limited range: luma 16..235 is stretched, so the table is no identity
        assert grey.min() == 0 and grey.max() == 255 and not (grey == luma).all()


def test_colour_frames_and_other_formats_take_the_full_path() -> None:
    luma = np.full((16, 16), 90, np.uint8)
    colour = _frame("yuv420p", 1, luma, chroma=100)
    assert not chroma_is_neutral(colour) and LumaReader().grey(colour) is None
    rgb = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
    assert not chroma_is_neutral(rgb) and LumaReader().grey(rgb) is None


def test_frames_under_256_pixels_take_the_full_path() -> None:
    frame = _frame("yuv420p", 1, np.full((10, 20), 90, np.uint8))
    assert chroma_is_neutral(frame) and LumaReader().grey(frame) is None


def test_a_table_that_disagrees_with_the_conversion_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = _frame("yuv420p", 1, np.arange(256, dtype=np.uint8).reshape(16, 16))
    off_by_one = np.minimum(np.arange(256) + 1, 255).astype(np.uint8)
    monkeypatch.setattr("pose.video.luma._table_for", lambda frame: off_by_one)
    luma = LumaReader()
    assert luma.grey(frame) is None and luma.grey(frame) is None


@pytest.fixture(scope="module")
def mono_then_colour(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 grey frames, 8 colour frames, 8 grey frames: a moving bright square on a gradient."""
    frames = []
    for i in range(24):
        grey = np.tile(np.linspace(20, 200, 96, dtype=np.uint8), (80, 1))
        grey[10:30, 3 * i : 3 * i + 20] = 250
        image = np.repeat(grey[..., None], 3, axis=2)
        if 8 <= i < 16:
            image[..., 2] //= 2  # less blue: a colour frame
        frames.append(image)
    path = tmp_path_factory.mktemp("luma") / "mixed.mp4"
    write_video(path, frames)
    return path


@pytest.mark.parametrize("resize_hw", [None, (32, 40)])
def test_pyav_reader_gives_the_full_conversion_frame_by_frame(
    mono_then_colour: Path, resize_hw: tuple[int, int] | None
) -> None:
    with av.open(str(mono_then_colour)) as container:
        decoded = list(container.decode(container.streams.video[0]))
    neutral = [chroma_is_neutral(frame) for frame in decoded]
    assert neutral == [True] * 8 + [False] * 8 + [True] * 8  # both paths are exercised
    expected = [frame.to_ndarray(format="rgb24") for frame in decoded]
    if resize_hw is not None:
        size = resize_hw[::-1]
        expected = [cv2.resize(e, size, interpolation=cv2.INTER_AREA) for e in expected]
    looked_up: list[bool] = []
    grey = LumaReader.grey

    def spy(self: LumaReader, frame: av.VideoFrame) -> np.ndarray | None:
        out = grey(self, frame)
        looked_up.append(out is not None)
        return out

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LumaReader, "grey", spy)
        got = list(open_video(mono_then_colour, "pyav").frames(resize_hw))
    assert looked_up == neutral  # every grey frame through the table, every colour one converted
    assert len(got) == 24
    for index, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert g.shape == e.shape and g.dtype == np.uint8 and (g == e).all(), index


def test_example_video_pyav_equals_opencv_resized_like_training() -> None:
    video = require(MIRROR_MOUSE / "videos" / "test_vid.mp4")
    assert default_reader(video) == "pyav"  # a mono video
    pyav = np.concatenate(list(open_video(video, "pyav").batches((128, 128), 256)))
    opencv = np.concatenate(list(open_video(video, "opencv").batches((128, 128), 256)))
    assert pyav.shape == opencv.shape == (994, 128, 128, 3) and (pyav == opencv).all()


def _write_full_range_ffv1(path: Path) -> Path:
    """Mono FFV1, decoded as yuv420p tagged full range: luma 0, 5, 10, ... across each row."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("ffv1", rate=Fraction(30))
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.codec_context.color_range = 2
        for _ in range(3):
            frame = _frame("yuv420p", 2, np.tile(np.arange(48, dtype=np.uint8) * 5, (32, 1)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_auto_reader_without_dali_follows_the_first_frame(
    mono_then_colour: Path, synthetic_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert default_reader(mono_then_colour) == "pyav"
    # full-range yuv420p: OpenCV reads it as limited range, so auto keeps OpenCV's pixels
    ffv1 = _write_full_range_ffv1(tmp_path / "full_range.mkv")
    pyav = next(iter(open_video(ffv1, "pyav").frames()))
    opencv = next(iter(open_video(ffv1, "opencv").frames()))
    assert pyav[0, :3, 0].tolist() == [0, 5, 10] and not (pyav == opencv).all()
    assert default_reader(ffv1) == "opencv"
    assert default_reader(synthetic_dir / "videos" / "synthetic.mp4") == "opencv"  # colour
    assert default_reader() == "opencv"
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    assert default_reader(broken) == "opencv"  # which then reports the file
