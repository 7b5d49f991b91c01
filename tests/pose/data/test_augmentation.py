"""Every registered augmentation pipeline moves keypoints with the image; custom pipelines; hflip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from imgaug.augmentables.kps import KeypointsOnImage

from pose.data import (
    AUGMENTATIONS,
    ImageCache,
    LabeledData,
    LabeledImageDataset,
    build_augmenter,
    lateral_partners,
)
from pose.errors import ConfigError


def dot_dataset(
    tmp_path: Path, augmenter, n: int = 1, partners=None, seed: int = 0
) -> LabeledImageDataset:
    """Images 160x192 with one bright dot at a known keypoint (and an unlabeled second keypoint)."""
    paths, kps = [], []
    rng = np.random.default_rng(1)
    for i in range(n):
        image = np.full((160, 192, 3), 60, np.uint8)
        x, y = rng.uniform(60, 130), rng.uniform(50, 110)
        cv2.circle(image, (int(round(x)), int(round(y))), 3, (255, 255, 255), -1)
        cv2.imwrite(str(tmp_path / f"{i}.png"), image)
        paths.append(f"{i}.png")
        kps.append([[round(x), round(y)], [np.nan, np.nan]])
    labels = LabeledData(paths, np.array(kps, np.float32), ["dot", "hidden"], "t")
    cache = ImageCache(tmp_path, paths, (128, 128))
    return LabeledImageDataset(cache, labels, np.arange(n), augmenter, partners, seed)


def brightest(image: np.ndarray) -> np.ndarray:
    gray = image.astype(np.float32).mean(axis=0)
    gray = cv2.GaussianBlur(gray, (5, 5), 0)
    y, x = np.unravel_index(np.argmax(gray), gray.shape)
    return np.array([x, y], np.float32)


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_registered_pipeline_moves_keypoints_with_image(name: str, tmp_path: Path) -> None:
    dataset = dot_dataset(tmp_path, build_augmenter(name), n=1, seed=3)
    distances = []
    for _ in range(40):
        item = dataset[0]
        assert item["image"].shape == (3, 128, 128) and item["image"].dtype == torch.uint8
        kp = item["keypoints"].numpy()
        assert np.isnan(kp[1]).all()  # unlabeled stays unlabeled
        if not np.isnan(kp[0]).any():
            assert (kp[0] >= 0).all() and (kp[0] <= 127).all()
            distances.append(np.linalg.norm(brightest(item["image"].numpy()) - kp[0]))
    assert len(distances) >= 20
    assert np.median(distances) < 2.0


def test_geometric_pipeline_is_exact(tmp_path: Path) -> None:
    pipeline = {
        "Rotate": {"p": 1.0, "kwargs": {"rotate": [-40, 40]}},
        "CropAndPad": {"p": 1.0, "kwargs": {"percent": [-0.15, 0.15], "keep_size": False}},
        "Fliplr": {"p": 0.5},
    }
    dataset = dot_dataset(tmp_path, build_augmenter(pipeline), seed=5)
    moved = []
    for _ in range(25):
        item = dataset[0]
        kp = item["keypoints"].numpy()[0]
        if not np.isnan(kp).any():
            assert np.linalg.norm(brightest(item["image"].numpy()) - kp) < 2.0
            moved.append(kp)
    assert np.ptp(np.array(moved)[:, 0]) > 10  # the augmentation really moved the keypoint


def test_augmentation_differs_between_items_and_is_seeded(tmp_path: Path) -> None:
    a = dot_dataset(tmp_path, build_augmenter("dlc"), seed=1)
    b = dot_dataset(tmp_path, build_augmenter("dlc"), seed=1)
    first = [a[0]["image"].numpy() for _ in range(5)]
    second = [b[0]["image"].numpy() for _ in range(5)]
    assert all(np.array_equal(x, y) for x, y in zip(first, second, strict=True))
    assert not all(np.array_equal(first[0], x) for x in first[1:])


def test_default_pipeline_is_identity(tmp_path: Path) -> None:
    dataset = dot_dataset(tmp_path, build_augmenter("default"))
    plain = dot_dataset(tmp_path, None)
    assert np.array_equal(dataset[0]["image"].numpy(), plain[0]["image"].numpy())
    np.testing.assert_allclose(dataset[0]["keypoints"].numpy(), plain[0]["keypoints"].numpy())


def test_hflip_swaps_left_and_right(tmp_path: Path) -> None:
    paths = ["a.png"]
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((128, 128, 3), np.uint8))
    labels = LabeledData(
        paths,
        np.array([[[10, 5], [100, 6], [64, 70]]], np.float32),
        ["ear_left", "ear_right", "nose"],
        "t",
    )
    names = labels.keypoint_names
    dataset = LabeledImageDataset(
        ImageCache(tmp_path, paths, (128, 128)), labels, np.arange(1), None, lateral_partners(names)
    )
    seen = {tuple(map(tuple, dataset[0]["keypoints"].numpy().tolist())) for _ in range(30)}
    assert ((10.0, 5.0), (100.0, 6.0), (64.0, 70.0)) in seen  # not flipped
    assert (
        (127 - 100.0, 6.0),
        (127 - 10.0, 5.0),
        (63.0, 70.0),
    ) in seen  # flipped: left is the mirrored right ear


def test_lateral_partners() -> None:
    assert lateral_partners(["nose", "ear_left", "paw_right", "ear_right", "paw_left"]) == [
        0,
        3,
        4,
        1,
        2,
    ]
    with pytest.raises(ConfigError, match="training.imgaug_hflip.*'ear_left' has no 'ear_right'"):
        lateral_partners(["nose", "ear_left"])


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        (
            "fancy",
            "expected one of the registered augmentation pipelines (default, dlc, dlc-lr, dlc-top-down, dlc-mv)",
        ),
        (
            {"NotAnAugmenter": {"p": 0.5}},
            "training.imgaug.NotAnAugmenter': expected an imgaug augmenter class name",
        ),
        (
            {"Rotate": {"p": 1.5}},
            "training.imgaug.Rotate.p': expected a probability in [0, 1], got 1.5",
        ),
        (
            {"Rotate": {"p": 0.5, "kwargs": {"spin": 3}}},
            "training.imgaug.Rotate.kwargs': Rotate rejects",
        ),
        ({"Rotate": {"prob": 0.5}}, "expected a mapping with keys p and kwargs"),
    ],
)
def test_bad_pipelines(pipeline, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_augmenter(pipeline)
    assert message in str(info.value)


def test_fast_elastic_transformation_matches_imgaug() -> None:
    import imgaug.augmenters as iaa
    from imgaug.augmentables.kps import KeypointsOnImage

    from pose.data.augmentation import REPLACEMENTS
    from pose.data.elastic import ElasticTransformation

    assert isinstance(
        build_augmenter({"ElasticTransformation": {"p": 1.0}})[0], ElasticTransformation
    )
    assert REPLACEMENTS["ElasticTransformation"] is ElasticTransformation
    rng = np.random.default_rng(0)
    image = (rng.random((96, 128, 3)) * 255).astype(np.uint8)
    for seed in range(10):
        kps = KeypointsOnImage.from_xy_array(rng.random((9, 2)) * [127, 95], shape=image.shape)
        reference = iaa.ElasticTransformation(alpha=(5, 10), sigma=5)
        fast = ElasticTransformation(alpha=(5, 10), sigma=5)
        reference.seed_(seed)
        fast.seed_(seed)
        ref_image, ref_kps = reference(image=image, keypoints=kps)
        fast_image, fast_kps = fast(image=image, keypoints=kps)
        assert np.array_equal(ref_image, fast_image)
        np.testing.assert_allclose(fast_kps.to_xy_array(), ref_kps.to_xy_array(), atol=0.02)
        assert np.abs(fast_kps.to_xy_array() - kps.to_xy_array()).max() > 0.1  # keypoints did move


def test_imgaug_flip_uses_our_pixel_convention(tmp_path: Path) -> None:
    # pixel centers at integers: a horizontal flip of a 128-wide image maps x to 127 - x (imgaug's
    # own convention would give 128 - x), the same as the engine's hflip
    dataset = dot_dataset(tmp_path, build_augmenter({"Fliplr": {"p": 1.0}}))
    plain = dot_dataset(tmp_path, None)[0]["keypoints"].numpy()[0]
    flipped = dataset[0]["keypoints"].numpy()[0]
    np.testing.assert_allclose(flipped, [127 - plain[0], plain[1]], atol=1e-4)


def test_dlc_mv_keeps_pixels_where_they_are() -> None:
    """With 3D augmentation the 2D pipeline may change colours but never move pixels: ``dlc``
    becomes ``dlc-mv`` (Lightning Pose's rule), which drops rotation, elastic warps and crops."""
    from pose.data.augmentation import GEOMETRIC, build_augmenter

    names = {
        type(a).__name__
        for a in build_augmenter("dlc", multiview_3d=True).get_all_children(flat=True)
    }
    assert not names & (GEOMETRIC | {"Affine"}) and "CoarseDropout" in names
    plain = {type(a).__name__ for a in build_augmenter("dlc").get_all_children(flat=True)}
    assert {"Rotate", "ElasticTransformation", "CropAndPad"} <= plain
    keypoints = KeypointsOnImage.from_xy_array(np.array([[10.0, 12.0], [30.0, 5.0]]), (40, 40, 3))
    image = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    pipeline = build_augmenter("dlc-mv")
    for seed in range(10):
        pipeline.seed_(seed)
        _, moved = pipeline(image=image, keypoints=keypoints)
        np.testing.assert_allclose(moved.to_xy_array(), keypoints.to_xy_array())
