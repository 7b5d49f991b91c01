"""The built-in example: a synthetic top-down "animal" with known keypoints, labels, a video and a config.

Images show a body ellipse on a textured background with a marked nose, two alike ears (left/right
defined by the heading, so ``imgaug_hflip`` has a real pair to swap) and a tail. The video follows
the same animal along a smooth path; its true keypoints are written beside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from pose.data.labels import LabeledData, write_labels

KEYPOINTS = ["nose", "ear_left", "ear_right", "tail_base", "tail_tip"]
WIDTH, HEIGHT = 192, 160
BODY_LENGTH, BODY_WIDTH, TAIL_LENGTH = 54.0, 24.0, 26.0
MARGIN = BODY_LENGTH / 2 + TAIL_LENGTH + 4


@dataclass
class Pose:
    center: np.ndarray  # (x, y)
    heading: float  # radians, image coordinates (y down)
    wag: float  # tail angle relative to the body axis


def keypoints_of(pose: Pose) -> np.ndarray:
    """``[5, 2]`` keypoints of ``pose`` in pixels (order of :data:`KEYPOINTS`)."""
    forward = np.array([np.cos(pose.heading), np.sin(pose.heading)])
    left = np.array(
        [np.sin(pose.heading), -np.cos(pose.heading)]
    )  # the animal's left seen from above
    nose = pose.center + forward * BODY_LENGTH / 2
    ears = pose.center + forward * BODY_LENGTH * 0.28
    tail_base = pose.center - forward * BODY_LENGTH / 2
    back = -np.array([np.cos(pose.heading + pose.wag), np.sin(pose.heading + pose.wag)])
    tail_tip = tail_base + back * TAIL_LENGTH
    return np.stack(
        [
            nose,
            ears + left * BODY_WIDTH * 0.45,
            ears - left * BODY_WIDTH * 0.45,
            tail_base,
            tail_tip,
        ]
    )


def _background(rng: np.random.Generator) -> np.ndarray:
    coarse = rng.uniform(40, 110, size=(5, 6, 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    return np.clip(smooth + rng.normal(0, 6, size=smooth.shape), 0, 255).astype(np.uint8)


def render(pose: Pose, background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw the animal at ``pose`` on a copy of ``background`` (RGB uint8)."""
    image = background.copy()
    kp = keypoints_of(pose)
    point = lambda xy: (int(round(xy[0] * 16)), int(round(xy[1] * 16)))  # noqa: E731 - 4 fractional bits
    aa = dict(lineType=cv2.LINE_AA, shift=4)
    cv2.line(image, point(kp[3]), point(kp[4]), (150, 120, 90), 3, **aa)
    cv2.ellipse(
        image,
        point(pose.center),
        (int(BODY_LENGTH / 2 * 16), int(BODY_WIDTH / 2 * 16)),
        np.degrees(pose.heading),
        0,
        360,
        (200, 170, 130),
        -1,
        **aa,
    )
    cv2.circle(image, point(kp[0]), 3 * 16, (230, 40, 40), -1, **aa)  # nose: red
    for ear in kp[1:3]:
        cv2.circle(image, point(ear), 4 * 16, (60, 40, 30), -1, **aa)  # ears: alike, dark
    cv2.circle(image, point(kp[3]), 3 * 16, (240, 240, 240), -1, **aa)  # tail base: white
    cv2.circle(image, point(kp[4]), 3 * 16, (40, 90, 230), -1, **aa)  # tail tip: blue
    noise = rng.normal(0, 4, size=image.shape)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def random_pose(rng: np.random.Generator) -> Pose:
    center = rng.uniform([MARGIN, MARGIN], [WIDTH - MARGIN, HEIGHT - MARGIN])
    return Pose(center, float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(-0.6, 0.6)))


def video_poses(n_frames: int) -> list[Pose]:
    """A smooth figure-eight path with the heading along the motion and a wagging tail."""
    poses = []
    for t in np.linspace(0, 2 * np.pi, n_frames, endpoint=False):
        cx = WIDTH / 2 + (WIDTH / 2 - MARGIN) * np.sin(t)
        cy = HEIGHT / 2 + (HEIGHT / 2 - MARGIN) * np.sin(2 * t)
        vx, vy = np.cos(t), 2 * np.cos(2 * t) * (HEIGHT / 2 - MARGIN) / (WIDTH / 2 - MARGIN)
        poses.append(
            Pose(np.array([cx, cy]), float(np.arctan2(vy, vx)), 0.5 * float(np.sin(5 * t)))
        )
    return poses


def write_video(path: Path, frames: Iterable[np.ndarray], fps: int = 30) -> None:
    """h264 (yuv420p) mp4 of RGB ``frames`` (any even size, streamed) via PyAV, which browsers and
    the MLflow UI play."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "18"}
        for index, frame in enumerate(frames):
            if index == 0:
                stream.height, stream.width = frame.shape[:2]
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def example_config(out_dir: Path) -> dict:
    """A Lightning Pose config.yaml for the example data: a quick resnet18 run from random init."""
    return {
        "data": {
            "image_resize_dims": {"height": 128, "width": 128},
            "data_dir": str(out_dir),
            "video_dir": str(out_dir / "videos"),
            "csv_file": "CollectedData.csv",
            "downsample_factor": 2,
            "num_keypoints": len(KEYPOINTS),
            "keypoint_names": list(KEYPOINTS),
            # the whole pose: the pca_singleview loss and video metric compare all keypoints
            "columns_for_singleview_pca": list(range(len(KEYPOINTS))),
        },
        "training": {
            "imgaug": "dlc",
            "imgaug_hflip": False,
            # 20 steps per epoch from 160 training images: a 15-epoch trial gets 300 steps, which
            # a random-init mse model needs (at batch 16 it had 150 and ended near 25 px)
            "train_batch_size": 8,
            "val_batch_size": 32,
            "test_batch_size": 32,
            "train_prob": 0.8,
            "val_prob": 0.1,
            "train_frames": 1,
            "num_gpus": 1,
            "unfreezing_epoch": 0,
            "min_epochs": 1,
            "max_epochs": 40,
            "log_every_n_steps": 5,
            "check_val_every_n_epoch": 1,
            "ckpt_every_n_epochs": None,
            "early_stopping": False,
            "early_stop_patience": 3,
            "rng_seed_data_pt": 0,
            "rng_seed_model_pt": 0,
            "optimizer": "Adam",
            "optimizer_params": {"learning_rate": 1e-3},
            "lr_scheduler": "multisteplr",
            # no milestones: they default to 1/2, 2/3 and 5/6 of max_epochs, so overriding
            # max_epochs (as the quick start does) needs no milestone override
            "lr_scheduler_params": {"multisteplr": {"gamma": 0.5}},
            "uniform_heatmaps_for_nan_keypoints": True,
        },
        "model": {
            "losses_to_use": [],
            "backbone": "resnet18",
            "backbone_pretrained": False,
            "model_type": "heatmap",
            "heatmap_loss_type": "mse",
            "model_name": "synthetic-example",
            "checkpoint": None,
        },
        # with unsupervised losses, each step also scores 8 consecutive video frames (LP's 32
        # would quadruple a CPU step for the example's 8 labeled images)
        "dali": {
            "base": {"train": {"sequence_length": 8}},
            "context": {"train": {"batch_size": 4}},
        },
        "eval": {
            "predict_vids_after_training": False,
            "test_videos_directory": str(out_dir / "videos"),
            "save_vids_after_training": False,
            "colormap": "cool",
            "confidence_thresh_for_vid": 0.9,
        },
    }


def _write_png(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _clip_poses(pose: Pose, rng: np.random.Generator, frames: int = 5) -> list[Pose]:
    """``frames`` poses of a short movement centred on ``pose`` (a few pixels per frame)."""
    speed = rng.uniform(1.0, 4.0)
    step = speed * np.array([np.cos(pose.heading), np.sin(pose.heading)])
    turn, wag = rng.uniform(-0.06, 0.06), rng.uniform(-0.1, 0.1)
    return [
        Pose(pose.center + step * t, pose.heading + turn * t, pose.wag + wag * t)
        for t in range(-(frames // 2), frames // 2 + 1)
    ]


def make_example_dataset(
    out_dir: str | Path,
    n_images: int = 200,
    n_video_frames: int = 90,
    seed: int = 0,
    context: bool = False,
) -> Path:
    """Write labeled images, ``CollectedData.csv``, ``videos/synthetic.mp4``, its ground truth and
    ``config.yaml`` into ``out_dir``; return the config's path. Deterministic for a given ``seed``.

    With ``context``, each labeled frame is the middle of a 5-frame clip of the animal moving
    (``labeled-data/clipNNNN/img0000.png`` ... ``img0004.png``, ``img0002.png`` labeled), as
    context models (``heatmap_mhcrnn``) need, and the config trains one.
    """
    out_dir = Path(out_dir).resolve()
    rng = np.random.default_rng(seed)
    (out_dir / "labeled-data").mkdir(parents=True, exist_ok=True)
    paths, keypoints = [], []
    for i in range(n_images):
        pose = random_pose(rng)
        background = _background(rng)
        if context:
            clip = f"labeled-data/clip{i:04d}"
            (out_dir / clip).mkdir(exist_ok=True)
            for f, frame_pose in enumerate(_clip_poses(pose, rng)):
                _write_png(out_dir / clip / f"img{f:04d}.png", render(frame_pose, background, rng))
            rel = f"{clip}/img0002.png"
        else:
            rel = f"labeled-data/img{i:04d}.png"
            _write_png(out_dir / rel, render(pose, background, rng))
        kp = keypoints_of(pose).astype(np.float32)
        kp[rng.random(len(KEYPOINTS)) < 0.05] = np.nan  # a few keypoints left unlabeled
        paths.append(rel)
        keypoints.append(kp)
    write_labels(
        out_dir / "CollectedData.csv",
        LabeledData(paths, np.stack(keypoints), list(KEYPOINTS), "synthetic"),
    )

    background = _background(rng)
    poses = video_poses(n_video_frames)
    write_video(out_dir / "videos" / "synthetic.mp4", [render(p, background, rng) for p in poses])
    truth = np.stack([keypoints_of(p) for p in poses]).astype(np.float32)
    write_labels(
        out_dir / "ground_truth" / "synthetic.csv",
        LabeledData(
            [str(i) for i in range(n_video_frames)], truth, list(KEYPOINTS), "ground_truth"
        ),
    )
    config = out_dir / "config.yaml"
    cfg = example_config(out_dir)
    if context:
        cfg["model"]["model_type"] = "heatmap_mhcrnn"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return config
