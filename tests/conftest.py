"""Shared fixtures: paths to ../shared, a tiny synthetic data set, and a fast training config."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SHARED = REPO.parent / "shared"
PEER_CONFIGS = SHARED / "peer-configs"
MIRROR_MOUSE = SHARED / "data" / "mirror-mouse-example"


def require(path: Path) -> Path:
    """Skip the calling test cleanly when ``../shared`` data is absent (as on a user's machine)."""
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


def write_mjpeg(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
    """An MJPEG ``.avi`` of BGR ``frames``: a codec DALI's CPU backend decodes (H.264 it does not)."""
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, frames[0].shape[1::-1]
    )
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic data set (known keypoints) shared by the tests of one session."""
    from pose.data.synthetic import make_example_dataset

    out = tmp_path_factory.mktemp("synthetic")
    make_example_dataset(out, n_images=40, n_video_frames=24, seed=0)
    return out


@pytest.fixture(scope="session")
def multiview_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic 3-camera data set (calibrated, with occlusions) shared by one session."""
    from pose.data.synthetic_multiview import make_multiview_example_dataset

    out = tmp_path_factory.mktemp("multiview")
    make_multiview_example_dataset(out, views=3, n_frames=24, n_video_frames=16, seed=0)
    return out


@pytest.fixture
def mirror_mouse() -> Path:
    return require(MIRROR_MOUSE)


@pytest.fixture(autouse=True)
def _signal_handlers_untouched() -> Iterator[None]:
    """Every test leaves SIGINT and SIGTERM as it found them: library code that keeps a handler
    installed makes the test process ignore the signals that should stop it."""
    watched = (signal.SIGINT, signal.SIGTERM)
    before = {s: signal.getsignal(s) for s in watched}
    yield
    changed = [s.name for s in watched if signal.getsignal(s) != before[s]]
    for s in watched:
        signal.signal(s, before[s])  # the next tests get a clean process either way
    assert not changed, f"the test left its own handler for {', '.join(changed)}"
