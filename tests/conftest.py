"""Shared fixtures: paths to ../shared, a tiny synthetic data set, and a fast training config."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest

if TYPE_CHECKING:
    from pose.pipeline import TrainResult

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SHARED = REPO.parent / "shared"
PEER_CONFIGS = SHARED / "peer-configs"
MIRROR_MOUSE = SHARED / "data" / "mirror-mouse-example"
QUICKSTART_EPOCHS = 15  # the README quick start's --override training.max_epochs=15


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
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    """The quick start's slowest trial, trained once per session: the example's data (200 images,
    its seed), mse at the lowest learning rate of ``configs/search_spaces/quickstart.yaml``, 15
    epochs. The quick-start, accuracy and continued-training tests and the trained ensemble's
    strong member share it (one 15-epoch run instead of that and a 40-epoch one, for the suite's
    time on CPUs without bf16)."""
    import yaml

    from pose.config import load_config
    from pose.data.synthetic import make_example_dataset
    from pose.pipeline import train

    space = yaml.safe_load((REPO / "configs" / "search_spaces" / "quickstart.yaml").read_text())
    lowest_rate = space["training.optimizer_params.learning_rate"]["low"]
    tmp_path = tmp_path_factory.mktemp("synthetic_run")
    config = make_example_dataset(tmp_path / "data", n_video_frames=30)
    overrides = [
        f"training.max_epochs={QUICKSTART_EPOCHS}",
        "model.heatmap_loss_type=mse",
        f"training.optimizer_params.learning_rate={lowest_rate}",
        "training.num_workers=2",
        "eval.predict_vids_after_training=true",
        "eval.save_vids_after_training=true",
    ]
    result = train(load_config(config, overrides), tmp_path / "run", progress_bar=False)
    return tmp_path, result


@pytest.fixture(scope="session")
def multiview_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic 3-camera data set (calibrated, with occlusions) shared by one session."""
    from pose.data.synthetic_multiview import make_multiview_example_dataset

    out = tmp_path_factory.mktemp("multiview")
    make_multiview_example_dataset(out, views=3, n_frames=24, n_video_frames=16, seed=0)
    return out


@pytest.fixture(scope="session")
def multiview_crops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``multiview_data``'s moments and images as crops around the animal (``data.bbox_file``:
    ``bboxes_<view>.csv``); the same seed renders the same frames, so each crop is a window of
    ``multiview_data``'s image."""
    from pose.data.synthetic_multiview import make_multiview_example_dataset

    out = tmp_path_factory.mktemp("multiview-crops")
    make_multiview_example_dataset(out, views=3, n_frames=24, n_video_frames=16, seed=0, crops=True)
    return out


@pytest.fixture(scope="session")
def cropped_synthetic_dir(synthetic_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``synthetic_dir``'s labeled frames as crops around the animal, placed by ``bboxes.csv``
    (``data.bbox_file``); every other crop is stored at half its size in the frame, which Lightning
    Pose allows (the labels are in each file's pixels). The config is the synthetic one's with
    this data directory and the bbox file; the videos stay ``synthetic_dir``'s full frames."""
    import pandas as pd
    import yaml

    from pose.data.labels import LabeledData, read_labels, write_labels

    out = tmp_path_factory.mktemp("cropped")
    labels = read_labels(synthetic_dir / "CollectedData.csv")
    boxes, crop_labels = [], []
    for i, (rel, keypoints) in enumerate(zip(labels.image_paths, labels.keypoints, strict=True)):
        image = cv2.imread(str(synthetic_dir / rel))
        low = np.floor(np.nanmin(keypoints, axis=0)).astype(int) - 12
        high = np.ceil(np.nanmax(keypoints, axis=0)).astype(int) + 12
        x, y = max(0, int(low[0])), max(0, int(low[1]))
        w, h = min(image.shape[1], int(high[0])) - x, min(image.shape[0], int(high[1])) - y
        crop, in_crop = image[y : y + h, x : x + w], keypoints - [x, y]
        if i % 2:  # stored at half size: its pixels are 2x the frame's
            crop = cv2.resize(crop, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            in_crop = (in_crop + 0.5) * [(w // 2) / w, (h // 2) / h] - 0.5
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out / rel), crop)
        boxes.append((x, y, h, w))
        crop_labels.append(in_crop)
    write_labels(
        out / "CollectedData.csv",
        LabeledData(
            labels.image_paths, np.stack(crop_labels), labels.keypoint_names, labels.scorer
        ),
    )
    pd.DataFrame(boxes, index=labels.image_paths, columns=["x", "y", "h", "w"]).to_csv(
        out / "bboxes.csv"
    )
    config = yaml.safe_load((synthetic_dir / "config.yaml").read_text())
    config["data"] |= {"data_dir": str(out), "bbox_file": "bboxes.csv"}
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
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


@pytest.fixture(scope="session")
def postgres() -> Iterator[object]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 for the session (``services`` tests)."""
    from tests import services

    reason = services.missing_reason()
    if reason:
        pytest.skip(reason)
    server = services.start_postgres()
    try:
        yield server
    finally:
        services.remove(server)


@pytest.fixture
def mlflow_server(postgres: object, tmp_path: Path) -> Iterator[object]:
    """An MLflow tracking server on a free port of 127.0.0.1, backed by its own PostgreSQL
    database of the session's cluster, with artifacts under ``tmp_path``."""
    from tests import services

    assert isinstance(postgres, services.Postgres)
    backend = postgres.create_database(f"mlflow_{tmp_path.name}".lower().replace("-", "_"))
    server = services.MlflowServer(backend, tmp_path / "artifacts", tmp_path / "mlflow-server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
