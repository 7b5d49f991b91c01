"""What an ensemble of trained models is worth on a video with known keypoints, over model seeds.

Per seed S, on the built-in example (200 labeled images, synthetic seed 3, the quick start's
40-epoch config): ``strong`` (model seed S), ``second`` (a second strong one, model seed 50+S),
``variant`` (``strong`` continued 3 epochs at 64x64, seed 100+S: a sweep's top trials differ in
image size) and ``weak`` (4 epochs from random init, seed 200+S). Each predicts a video none trained
on (the example's figure-eight, ``--frames`` frames, synthetic seed 5). Two ensembles of three:
``seeds`` = strong + second + weak (Lightning Pose's recipe: seeds of one config, one of them
weak) and ``variant`` = strong + variant + weak (tests/pose/ensemble/test_trained_members.py).
Printed per seed and as medians: each member's mean error, the median centre's and the mean's, EKS's
(eks's single-camera smoother, smoothing chosen by eks) over the inliers as ``sweeper ensemble``
smooths them (``pose.ensemble.inliers``: members within 3x the median distance to the centre) and
over all members, the correlation of the members' spread with the centre's error and of EKS's
posterior sd with its error, and the minutes it took. ``--work DIR`` keeps the members in
``DIR/seed-S`` and reuses those already there (rescoring without retraining).

    python bench/ensemble_accuracy.py [--seeds 0 1 2] [--frames 150] [--work DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine  # noqa: E402

RECIPES = {"seeds": ("strong", "second", "weak"), "variant": ("strong", "variant", "weak")}


def _members(seed: int) -> dict[str, list[str]]:
    return {
        "strong": [f"training.rng_seed_model_pt={seed}"],
        "second": [f"training.rng_seed_model_pt={50 + seed}"],
        "variant": [  # model.checkpoint is filled in once strong exists
            "data.image_resize_dims.height=64",
            "data.image_resize_dims.width=64",
            "training.max_epochs=3",
            "training.min_epochs=3",
            f"training.rng_seed_model_pt={100 + seed}",
        ],
        "weak": [
            "training.max_epochs=4",
            "training.min_epochs=4",
            f"training.rng_seed_model_pt={200 + seed}",
        ],
    }


def _error(xy: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.linalg.norm(xy - truth, axis=-1)


def one_seed(seed: int, frames: int, work: Path) -> dict[str, dict[str, float]]:
    from pose.config import load_config
    from pose.data import read_labels
    from pose.data.synthetic import make_example_dataset
    from pose.ensemble import MemberPredictions, consensus, inliers, smooth
    from pose.pipeline import train
    from pose.predict.images import load_trained
    from pose.predict.video import predict_video

    config = make_example_dataset(work / "data", n_images=200, n_video_frames=30, seed=3)
    make_example_dataset(work / "video", n_images=1, n_video_frames=frames, seed=5)
    video = work / "video" / "videos" / "synthetic.mp4"
    truth = read_labels(work / "video" / "ground_truth" / "synthetic.csv").keypoints
    csvs: dict[str, Path] = {}
    for name, overrides in _members(seed).items():
        csvs[name] = work / "predictions" / name / "video_preds" / "synthetic.csv"
        if csvs[name].exists():
            continue
        if name == "variant":
            overrides = [f"model.checkpoint={work / 'strong' / 'best.ckpt'}", *overrides]
        cfg = load_config(config, ["training.num_workers=2", *overrides])
        result = train(cfg, work / name, progress_bar=False)
        trained = load_trained(work / name / "config.yaml", result.best_checkpoint)
        predict_video(trained, video, work / "predictions" / name)
    out: dict[str, dict[str, float]] = {}
    for recipe, names in RECIPES.items():
        members = MemberPredictions.from_csvs([csvs[n] for n in names], list(names))
        ensemble = consensus(members)
        centre = _error(ensemble.xy, truth)
        kept = inliers(members, ensemble)
        smoothed = smooth(kept)
        eks = _error(smoothed.xy, truth)
        sd = np.sqrt(smoothed.posterior_var.sum(-1))
        row = {n: float(_error(xy, truth).mean()) for n, xy in zip(names, members.xy, strict=True)}
        row |= {
            "median member": float(np.median(list(row.values()))),
            "centre": float(centre.mean()),
            "mean": float(_error(ensemble.mean, truth).mean()),
            "eks": float(eks.mean()),
            "eks all": float(_error(smooth(members).xy, truth).mean()),
            "smoothed": float(len(kept.members)),
            "r spread": float(np.corrcoef(ensemble.spread.ravel(), centre.ravel())[0, 1]),
            "r posterior": float(np.corrcoef(sd.ravel(), eks.ravel())[0, 1]),
        }
        out[recipe] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--work", type=Path, help="keep (and reuse) the members here")
    args = parser.parse_args()
    from importlib.metadata import version

    print(f"# {machine()}; eks {version('ensemble-kalman-smoother')}")
    print(f"# python bench/ensemble_accuracy.py --seeds {' '.join(map(str, args.seeds))} "
          f"--frames {args.frames}" + (f" --work {args.work}" if args.work else ""))  # fmt: skip
    results: dict[str, list[dict[str, float]]] = {r: [] for r in RECIPES}
    for seed in args.seeds:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="bench-ensemble-") as tmp:
            work = args.work / f"seed-{seed}" if args.work else Path(tmp)
            for recipe, row in one_seed(seed, args.frames, work).items():
                results[recipe].append(row)
        minutes = (time.perf_counter() - started) / 60
        print(
            f"seed {seed}: {minutes:.1f} min (members trained or reused, each predicting the video)"
        )
        for recipe, rows in results.items():
            print(f"  {recipe:8s} " + ", ".join(f"{k} {v:.2f}" for k, v in rows[-1].items()))
    print("medians over seeds (errors in px, r = Pearson over frames x keypoints):")
    for recipe, rows in results.items():
        keys = list(rows[0])
        print(f"  {recipe:8s} " + ", ".join(
            f"{k} {statistics.median(r[k] for r in rows):.2f}" for k in keys
        ))  # fmt: skip


if __name__ == "__main__":
    main()
