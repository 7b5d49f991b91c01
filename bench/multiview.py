"""What seeing all cameras at once buys: views trained independently against the multiview
transformer, and the transformer with and without the reprojection loss, at equal epochs.

Writes the synthetic calibrated multi-camera data set
(:func:`pose.data.synthetic_multiview.make_multiview_example_dataset`, data seed 0) and trains its
``config.yaml`` (Lightning Pose's default multiview config) once per variant and model seed
(``training.rng_seed_model_pt``; the data split stays at ``rng_seed_data_pt`` 0), all with the
same backbone (``vits_dino`` from random init), image size, epochs, learning rate, batch and
augmentation (``imgaug: dlc`` on each view after ``imgaug_3d``, the calibrated 3D augmentation):

- ``independent``: ``model_type: heatmap``, one single-view network applied to each view alone;
- ``transformer``: ``heatmap_multiview_transformer``, one ViT attending over every view's patch
  tokens, without the reprojection loss (``log_weight: null``);
- ``transformer+reproj``: the same with ``supervised_reprojection_heatmap_mse`` at Lightning
  Pose's default ``log_weight`` 3.0;
- ``transformer+reproj+mask`` (not run unless named): also Lightning Pose's patch-masking
  curriculum (none for the first 2/15 of the epochs, then a ramp to half of each view's 16x16
  patches at the last epoch: the default's epochs 40-300 of 300, scaled).

The three default variants train without patch masking (the engine masks for the transformer
only, as Lightning Pose does, so it could not be made equal): in a run of a few epochs the scaled
curriculum masks through nearly all of it, which cost the transformer 2.3 px at 10 epochs (64x64)
in the calibration runs. The learning rate halves at 1/2, 2/3 and 5/6 of the run (the default's
150/200/250 of 300); the reprojection loss ramps in (``callbacks.anneal_weight``) from 1/5 of the
run to full weight at 8/15 (the default's epochs 60-160 of 300); validation runs every epoch and
picks the checkpoint (lowest validation loss).

Scored on the held-out test frames (``--test-share`` of the frames, which no model trains or
validates on) against the true 2D position of every keypoint, also where the body hides it in a
view (``ground_truth/labeled_<view>.csv``), in original pixels:

- per view: mean error over the keypoints visible in that view;
- visible: the same over all views;
- hidden in 1: mean error where a keypoint is hidden in exactly one view and visible in the
  others, which is where a model that sees all views can place it and one that sees one cannot
  (every model is trained on the label files, where hidden keypoints are NaN, with Lightning Pose's
  uniform heatmaps for NaN keypoints);
- all: every keypoint in every view, hidden or not.

The mean-pose row predicts each view's mean training label for every frame: models far below it
have learned. ``min`` is each fit's wall time. ``--jobs`` runs that many trainings at once, one
thread each (the errors do not depend on speed); with one job, the threads torch picks
(``OMP_NUM_THREADS``). The defaults (400 moments at 128x128, 10 epochs, 3 variants x 3 seeds)
take about 12 minutes a run on one thread of a 2-core AMD EPYC (bf16), about 70 in all with
``--jobs 2``.

    python bench/multiview.py [--epochs 10] [--seeds 0 1 2] [--frames 400] [--size 128]
        [--variants independent transformer transformer+reproj transformer+reproj+mask]
        [--override training.uniform_heatmaps_for_nan_keypoints=false] [--jobs 2]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, median  # noqa: E402

VARIANTS: dict[str, list[str]] = {
    "independent": [
        "model.model_type=heatmap",
        "losses.supervised_reprojection_heatmap_mse.log_weight=null",
    ],
    "transformer": [
        "model.model_type=heatmap_multiview_transformer",
        "losses.supervised_reprojection_heatmap_mse.log_weight=null",
    ],
    "transformer+reproj": [
        "model.model_type=heatmap_multiview_transformer",
        "losses.supervised_reprojection_heatmap_mse.log_weight=3.0",
    ],
    "transformer+reproj+mask": [
        "model.model_type=heatmap_multiview_transformer",
        "losses.supervised_reprojection_heatmap_mse.log_weight=3.0",
    ],
}
DEFAULT_VARIANTS = ["independent", "transformer", "transformer+reproj"]
MASKED = ("transformer+reproj+mask",)  # Lightning Pose's patch-masking curriculum
SUMMARY_COLUMNS = ("visible", "hidden in 1", "all")


@dataclass(frozen=True)
class Settings:
    """What every run shares; the variant and the model seed set the rest."""

    epochs: int
    size: int
    batch_size: int
    learning_rate: float
    test_share: float
    val_share: float
    overrides: tuple[str, ...]

    def config_overrides(self, variant: str, seed: int) -> list[str]:
        e = self.epochs
        masked = variant in MASKED
        return [
            *VARIANTS[variant],
            "model.backbone=vits_dino",
            "model.backbone_pretrained=false",
            f"data.image_resize_dims.height={self.size}",
            f"data.image_resize_dims.width={self.size}",
            f"training.max_epochs={e}",
            f"training.min_epochs={e}",
            f"training.train_batch_size={self.batch_size}",
            f"training.optimizer_params.learning_rate={self.learning_rate}",
            f"training.lr_scheduler_params.multisteplr.milestones="
            f"[{max(1, e // 2)},{max(1, round(e * 2 / 3))},{max(1, round(e * 5 / 6))}]",
            f"training.train_prob={1 - self.test_share - self.val_share:.4f}",
            f"training.val_prob={self.val_share}",
            "training.rng_seed_data_pt=0",
            f"training.rng_seed_model_pt={seed}",
            "training.check_val_every_n_epoch=1",
            "training.imgaug=dlc",
            "training.imgaug_3d=true",
            f"training.patch_mask.init_epoch={round(e * 40 / 300)}",
            f"training.patch_mask.final_epoch={e}",
            f"training.patch_mask.final_ratio={0.5 if masked else 0.0}",
            # the reprojection loss ramps in as Lightning Pose's default ramps it (off through
            # epoch 60 of 300, then +0.01 a epoch: full at epoch 160), scaled to the run; the
            # example config's unscaled +0.01 would leave it at 5 % of its weight after 10 epochs
            f"callbacks.anneal_weight.freeze_until_epoch={round(e * 60 / 300)}",
            f"callbacks.anneal_weight.increase_factor={min(1.0, 3 / e):.4f}",
            *self.overrides,
        ]


@dataclass(frozen=True)
class Truth:
    """The data set's ground truth: ``xy`` ``[V, N, K, 2]`` true pixels of every keypoint, ``hidden``
    ``[V, N, K]`` where the body hides it, ``labels`` ``[V, N, K, 2]`` the label files (NaN where
    hidden), ``names`` ``[V][N]`` the image paths of the label files' rows."""

    views: list[str]
    xy: np.ndarray
    hidden: np.ndarray
    labels: np.ndarray
    names: list[list[str]]


def read_truth(data: Path, views: list[str]) -> Truth:
    from pose.data import read_labels
    from pose.data.synthetic_multiview import label_file, read_occlusion

    truth = data / "ground_truth"
    labeled = [read_labels(data / label_file(view)) for view in views]
    return Truth(
        views,
        np.stack([read_labels(truth / f"labeled_{view}.csv").keypoints for view in views]),
        np.stack([read_occlusion(truth / f"labeled_{view}_occluded.csv") for view in views]),
        np.stack([labels.keypoints for labels in labeled]),
        [labels.image_paths for labels in labeled],
    )


def errors(xy: np.ndarray, truth: Truth, rows: np.ndarray) -> list[float]:
    """Mean pixel error of predictions ``xy`` ``[V, N, K, 2]`` on ``rows``: per view over its
    visible keypoints, then over all visible, hidden in exactly one view, and all."""
    error = np.linalg.norm(xy - truth.xy, axis=-1)[:, rows]  # [V, n, K]
    hidden = truth.hidden[:, rows]
    hidden_once = hidden & (hidden.sum(axis=0) == 1)
    per_view = [float(error[v][~hidden[v]].mean()) for v in range(len(truth.views))]
    return [
        *per_view,
        float(error[~hidden].mean()),
        float(error[hidden_once].mean()),
        float(error.mean()),
    ]


@dataclass(frozen=True)
class Run:
    """One training's scores (:func:`errors` on the test rows), minutes, split and validation
    curve ``[(epoch, mean px)]``."""

    scores: list[float]
    minutes: float
    split: list[str]
    curve: list[tuple[int, float]]


def one_run(
    config: Path, truth: Truth, settings: Settings, variant: str, seed: int, threads: int
) -> Run:
    import pandas as pd

    from pose.config import load_config
    from pose.pipeline import train
    from pose.predict import read_predictions

    torch.set_num_threads(threads)
    cfg = load_config(config, settings.config_overrides(variant, seed))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        metrics = train(cfg, out, progress_bar=False).metrics
        frames = [read_predictions(out / f"predictions_{view}.csv") for view in truth.views]
        log = pd.read_csv(out / "logs" / "metrics.csv")
    for frame, names in zip(frames, truth.names, strict=True):
        if [str(name) for name in frame.index] != names:
            raise RuntimeError("predictions rows are not the label files' rows")
    scorer = frames[0].columns[0][0]
    keypoints = [str(name) for name in dict.fromkeys(frames[0][scorer].columns.get_level_values(0))]
    xy = np.stack(
        [
            np.stack([f[scorer][k][["x", "y"]].to_numpy(float) for k in keypoints], axis=1)
            for f in frames
        ]
    )
    split = [str(s) for s in frames[0][("set", "", "")]]
    val = log.dropna(subset=["val/pixel_error"])
    curve = [
        (int(e) + 1, float(v)) for e, v in zip(val["epoch"], val["val/pixel_error"], strict=True)
    ]
    rows = np.array(split) == "test"
    return Run(errors(xy, truth, rows), metrics["wall_seconds"] / 60, split, curve)


def mean_pose(truth: Truth, split: list[str]) -> list[float]:
    """:func:`errors` of always predicting each view's mean training label (NaN labels left out)."""
    train_rows = np.array(split) == "train"
    mean = np.nanmean(truth.labels[:, train_rows], axis=1, keepdims=True)  # [V, 1, K, 2]
    return errors(np.broadcast_to(mean, truth.xy.shape), truth, np.array(split) == "test")


def row(name: str, seed: str, values: list[float], minutes: float | None = None) -> str:
    cells = "".join(f"{v:>12.2f}" for v in values)
    return f"{name:<25}{seed:>7}{cells}" + ("" if minutes is None else f"{minutes:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--frames", type=int, default=400, help="labeled moments (all views)")
    parser.add_argument("--size", type=int, default=128, help="image side the networks see")
    parser.add_argument("--views", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8, help="moments per step")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument("--val-share", type=float, default=0.1)
    parser.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), default=DEFAULT_VARIANTS, metavar="VARIANT"
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        help="KEY=VALUE for every run (e.g. training.precision=32), repeatable",
    )
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    from pose.data.synthetic_multiview import make_multiview_example_dataset, view_names

    settings = Settings(
        args.epochs,
        args.size,
        args.batch_size,
        args.lr,
        args.test_share,
        args.val_share,
        tuple(args.override),
    )
    # one thread per training when several run at once; else the threads torch would use here
    # (OMP_NUM_THREADS, or every core)
    threads = 1 if args.jobs > 1 else torch.get_num_threads()
    jobs = [(v, s) for v in args.variants for s in args.seeds]
    with tempfile.TemporaryDirectory() as tmp:
        config = make_multiview_example_dataset(
            Path(tmp) / "data", views=args.views, n_frames=args.frames, n_video_frames=8, seed=0
        )
        truth = read_truth(config.parent, view_names(args.views))
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = {
                job: pool.submit(one_run, config, truth, settings, *job, threads) for job in jobs
            }
            runs = {job: future.result() for job, future in futures.items()}

    split = runs[jobs[0]].split
    if any(run.split != split for run in runs.values()):
        raise RuntimeError("the runs' splits differ")
    counts = {s: split.count(s) for s in ("train", "validation", "test")}
    test = np.array(split) == "test"
    hidden = truth.hidden[:, test]
    once = int((hidden & (hidden.sum(axis=0) == 1)).sum())
    print(f"run as:  python {shlex.join(sys.argv)}")
    print(f"machine: {machine()}; {args.jobs} trainings at a time, {threads} thread(s) each")
    print(
        f"data:    synthetic {args.views}-camera set, {args.frames} moments (data seed 0): "
        f"{counts['train']} train / {counts['validation']} validation / {counts['test']} test; "
        f"{once} test (moment, keypoint, view) entries hidden in exactly one view"
    )
    print(
        f"config:  vits_dino from random init, {args.size}x{args.size}, {args.epochs} epochs, "
        f"batch {args.batch_size} moments, Adam lr {args.lr:g} (halved at 1/2, 2/3, 5/6), imgaug "
        f"dlc + imgaug_3d, no patch masking but in +mask; model seeds {args.seeds}"
        + (f"; {' '.join(args.override)}" if args.override else "")
    )
    print("test-frame mean pixel error (original pixels; visible keypoints per view, then totals)")
    columns = (*truth.views, *SUMMARY_COLUMNS)
    print(f"{'variant':<25}{'seed':>7}" + "".join(f"{c:>12}" for c in columns) + f"{'min':>8}")
    print(row("mean pose", "", mean_pose(truth, split)))
    for variant in args.variants:
        mine = [runs[(variant, s)] for s in args.seeds]
        for seed, run in zip(args.seeds, mine, strict=True):
            print(row(variant, str(seed), run.scores, run.minutes))
        if len(mine) > 1:
            medians = [median(list(c)) for c in zip(*(r.scores for r in mine), strict=True)]
            print(row(variant, "median", medians, median([r.minutes for r in mine])))
    print("validation curves (epoch:mean px, visible keypoints):")
    for (variant, seed), run in runs.items():
        print(f"  {variant} seed {seed}: " + " ".join(f"{e}:{v:.1f}" for e, v in run.curve))


if __name__ == "__main__":
    main()
