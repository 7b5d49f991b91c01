"""PoseDataModule on the synthetic and the real example data; images decoded once."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pytest

from pose.config import load_config
from pose.data import PoseDataModule, read_labels
from pose.data.heatmaps import rescale_pixels
from pose.data.synthetic import KEYPOINTS, make_example_dataset
from tests.conftest import PEER_CONFIGS, require


def test_images_decoded_once(synthetic_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = cv2.imread
    monkeypatch.setattr(cv2, "imread", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    cfg = load_config(synthetic_dir / "config.yaml", ["training.num_workers=0"])
    dm = PoseDataModule(cfg)
    dm.setup()
    dm.setup()  # idempotent
    for _ in range(2):  # two epochs of training plus evaluation
        for loader in (
            dm.train_dataloader(),
            dm.val_dataloader(),
            dm.test_dataloader(),
            dm.labeled_dataloader(),
        ):
            for _batch in loader:
                pass
    assert len(calls) == 40 and len(set(calls)) == 40


def test_batches_and_scale(synthetic_dir: Path) -> None:
    cfg = load_config(
        synthetic_dir / "config.yaml",
        [
            "training.num_workers=0",
            "training.train_batch_size=8",
            "training.val_batch_size=3",
            "training.test_batch_size=2",
        ],
    )
    dm = PoseDataModule(cfg)
    dm.setup()
    assert next(iter(dm.val_dataloader()))["image"].shape[0] == 3
    assert next(iter(dm.test_dataloader()))["image"].shape[0] == 2
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (8, 3, 128, 128)
    assert batch["keypoints"].shape == (8, 5, 2)
    np.testing.assert_allclose(batch["scale"][0].numpy(), [192 / 128, 160 / 128])
    # unaugmented keypoints scaled back equal the CSV labels
    labeled = next(iter(dm.labeled_dataloader()))
    labels = read_labels(synthetic_dir / "CollectedData.csv")
    back = rescale_pixels(labeled["keypoints"].numpy(), labeled["scale"].numpy()[:, None, :])
    np.testing.assert_allclose(back, labels.keypoints[: len(back)], rtol=1e-5, equal_nan=True)
    assert list(dm.split_of_rows()).count("train") == len(dm.splits.train)


def test_last_batch_of_one_is_dropped_per_rank(synthetic_dir: Path) -> None:
    """32 train frames, batches of 5: one rank ends on 2 frames, each of two DDP ranks on 1."""
    cfg = load_config(synthetic_dir / "config.yaml", ["training.num_workers=0"])
    dm = PoseDataModule(cfg)
    dm.setup()
    assert len(dm.train_set) == 32
    assert not dm._loader(dm.train_set, 5, train=True).drop_last
    dm.trainer = SimpleNamespace(world_size=2)  # type: ignore[assignment]
    assert dm._loader(dm.train_set, 5, train=True).drop_last
    assert not dm._loader(dm.train_set, 8, train=True).drop_last


def test_each_worker_gets_its_own_augmentation_stream(
    synthetic_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    import torch

    from pose.data import seed_worker

    cfg = load_config(synthetic_dir / "config.yaml", ["training.num_workers=0"])
    dm = PoseDataModule(cfg)
    dm.setup()
    images = []
    for worker_seed in (11, 12):
        info = types.SimpleNamespace(seed=worker_seed, dataset=dm.train_set)
        monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda info=info: info)
        seed_worker(0)
        images.append(torch.stack([dm.train_set[0]["image"] for _ in range(4)]))
    assert not torch.equal(images[0], images[1])


def test_synthetic_example_files(tmp_path: Path) -> None:
    config = make_example_dataset(tmp_path, n_images=12, n_video_frames=20, seed=1)
    labels = read_labels(tmp_path / "CollectedData.csv")
    assert labels.keypoint_names == KEYPOINTS and len(labels.image_paths) == 12
    kp = labels.keypoints[~np.isnan(labels.keypoints).any(axis=2)]
    assert (
        (kp[:, 0] >= 0).all()
        and (kp[:, 0] < 192).all()
        and (kp[:, 1] >= 0).all()
        and (kp[:, 1] < 160).all()
    )
    with av.open(str(tmp_path / "videos" / "synthetic.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert sum(1 for _ in container.decode(stream)) == 20
    truth = read_labels(tmp_path / "ground_truth" / "synthetic.csv")
    assert len(truth.image_paths) == 20
    assert load_config(config).data.data_dir == str(tmp_path.resolve())
    # deterministic
    again = make_example_dataset(tmp_path / "again", n_images=12, n_video_frames=20, seed=1)
    np.testing.assert_array_equal(
        read_labels(again.parent / "CollectedData.csv").keypoints, labels.keypoints
    )


def test_real_example_through_datamodule() -> None:
    data = require(
        Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mirror-mouse-example"
    )
    cfg = load_config(
        require(PEER_CONFIGS / "lightning-pose_config_mirror-mouse-example.yaml"),
        [
            f"data.data_dir={data}",
            "data.image_resize_dims.height=128",
            "data.image_resize_dims.width=128",
            "training.num_workers=0",
        ],
    )
    dm = PoseDataModule(cfg)
    dm.setup()
    assert len(dm.labels.image_paths) == 90 and len(dm.keypoint_names) == 17
    assert (len(dm.splits.train), len(dm.splits.validation), len(dm.splits.test)) == (72, 9, 9)
    assert dm.cache.images.shape == (90, 128, 128, 3)
    np.testing.assert_allclose(dm.cache.scale(np.array([0]))[0], [396 / 128, 406 / 128])
    # LP's example trains pca_singleview: each labeled batch comes with 16 video frames
    combined, _, _ = next(iter(dm.train_dataloader()))
    assert combined["unlabeled"]["frames"].shape == (16, 3, 128, 128)
    batch = combined["labeled"]
    assert batch["image"].shape == (16, 3, 128, 128)
