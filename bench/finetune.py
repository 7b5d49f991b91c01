"""Continuing from a trained checkpoint: is the continued model ever worse than where it started?

For each model seed (`training.rng_seed_model_pt`) trains the built-in example's single-frame
model (synthetic data seed 3, 200 images, 40 epochs, as `sweeper train example/config.yaml`), then
continues from its best.ckpt, with the same model seed, for each length:

* `heatmap, own data`: on the data and split it was trained on (more epochs of the same model);
* `heatmap, clips` and `mhcrnn, clips`: on another synthetic data set (seed 4: 150 labeled frames
  in 5-frame clips, split 60/45/45, so validation and test errors are means over 225 keypoints),
  as a single-frame and as a context (`heatmap_mhcrnn`) model.

(A `heatmap` continuation takes every weight from the checkpoint, so the seed must vary the
checkpoint to vary anything.) Printed per run: mean pixel error per split of the continued model
(its best.ckpt), of the checkpoint itself on the same frames, and the validation error after each
epoch (the learning curve). Medians over seeds follow. tests/pose/train/test_accuracy.py asserts on
the same set-ups.

    python bench/finetune.py [--epochs 1 4 12] [--seeds 0 1 2] [--scenarios own clips mhcrnn]
                             [--override KEY=VALUE ...]   # e.g. a lower learning rate
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine  # noqa: E402

SPLITS = ("train", "validation", "test")
TARGET = {"n_images": 150, "n_video_frames": 30, "seed": 4, "context": True}
CLIP_SPLIT = ["training.train_prob=0.4", "training.val_prob=0.3"]
# label, model type, data set ("own": the checkpoint's), split overrides
SCENARIOS = [
    ("heatmap, own data", "heatmap", "own", []),
    ("heatmap, clips", "heatmap", "clips", CLIP_SPLIT),
    ("mhcrnn, clips", "heatmap_mhcrnn", "clips", CLIP_SPLIT),
]


def split_errors(errors: np.ndarray, sets: np.ndarray) -> dict[str, float]:
    """Mean over labeled keypoints of each split; ``errors`` ``[N, K]``, ``sets`` ``[N]``."""
    return {s: float(np.nanmean(errors[sets == s])) for s in SPLITS}


def checkpoint_errors(base: Path, data: Path, image_paths: list[str]) -> np.ndarray:
    """The checkpoint itself (single-frame) on the target frames: ``[N, K]`` pixel errors."""
    from pose.data import read_labels
    from pose.predict.images import load_trained, predict_images

    trained = load_trained(base / "config.yaml", base / "best.ckpt", device="cpu")
    xy, _ = predict_images(trained, [data / p for p in image_paths])
    truth = read_labels(data / "CollectedData.csv").keypoints
    return np.linalg.norm(xy - truth, axis=-1)


def continue_run(
    data: Path,
    base: Path,
    model_type: str,
    epochs: int,
    seed: int,
    split: list[str],
    extra: list[str],
    out: Path,
) -> tuple[np.ndarray, np.ndarray, list[str], list[float]]:
    """Per-row errors, split of each row, image paths and the validation curve of one run."""
    from pose.config import load_config
    from pose.pipeline import train
    from pose.predict import read_predictions

    cfg = load_config(
        data / "config.yaml",
        [
            f"model.checkpoint={base / 'best.ckpt'}",
            f"model.model_type={model_type}",
            f"training.max_epochs={epochs}",
            f"training.min_epochs={epochs}",
            f"training.rng_seed_model_pt={seed}",
            "training.num_workers=2",
            *split,
            *extra,
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the context model's fresh recurrent steps
        train(cfg, out, progress_bar=False)
    errors = pd.read_csv(out / "predictions_pixel_error.csv", index_col=0)
    sets = errors.pop("set").to_numpy()
    preds = read_predictions(out / "predictions.csv")
    log = pd.read_csv(out / "logs" / "metrics.csv")
    curve = log["val/pixel_error"].dropna().tolist()
    return errors.to_numpy(float), sets, [str(p) for p in preds.index], curve


def fmt(errors: dict[str, float]) -> str:
    return "".join(f"{errors[s]:>7.2f}" for s in SPLITS)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 4, 12])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--scenarios", nargs="+", help="words of the scenario labels to run (default: all)"
    )
    parser.add_argument(
        "--override", action="append", default=[], help="KEY=VALUE for the continued runs"
    )
    args = parser.parse_args()

    from pose.config import load_config
    from pose.data.synthetic import make_example_dataset
    from pose.pipeline import train

    print(f"machine: {machine()}")
    scenarios = [
        sc for sc in SCENARIOS if not args.scenarios or any(w in sc[0] for w in args.scenarios)
    ]
    print(f"model seeds {args.seeds}; lengths {args.epochs} epochs; overrides {args.override}")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        data = {"own": tmp / "own", "clips": tmp / "clips"}
        base_config = make_example_dataset(data["own"], n_images=200, n_video_frames=30, seed=3)
        make_example_dataset(data["clips"], **TARGET)  # type: ignore[arg-type]
        header = "".join(f"{s[:5]:>7}" for s in SPLITS)
        print(
            f"{'continued as':<18}{'epochs':>7}{'seed':>6}  {header}  | checkpoint{header}"
            "  | val px after each epoch"
        )
        results: dict[tuple[str, int], list[tuple[dict[str, float], dict[str, float]]]] = {}
        for seed in args.seeds:
            ckpt = tmp / f"ckpt-{seed}"
            overrides = ["training.num_workers=2", f"training.rng_seed_model_pt={seed}"]
            base = train(load_config(base_config, overrides), ckpt, progress_bar=False)
            print(
                f"checkpoint, seed {seed}: {fmt(base.metrics['pixel_error'])} px on its own data",
                flush=True,
            )
            start: dict[str, np.ndarray] = {}
            for label, model_type, key, split in scenarios:
                for epochs in args.epochs:
                    out = tmp / f"{model_type}-{key}-{epochs}-{seed}"
                    errors, sets, paths, curve = continue_run(
                        data[key], ckpt, model_type, epochs, seed, split, args.override, out
                    )
                    if key not in start:
                        start[key] = checkpoint_errors(ckpt, data[key], paths)
                    run, ref = split_errors(errors, sets), split_errors(start[key], sets)
                    results.setdefault((label, epochs), []).append((run, ref))
                    print(
                        f"{label:<18}{epochs:>7}{seed:>6}  {fmt(run)}  | {'':>10}{fmt(ref)}"
                        "  | " + " ".join(f"{v:.2f}" for v in curve),
                        flush=True,
                    )
        if len(args.seeds) > 1:
            print("medians over seeds")
            for (label, epochs), pairs in results.items():
                med = {s: statistics.median(p[0][s] for p in pairs) for s in SPLITS}
                ref = {s: statistics.median(p[1][s] for p in pairs) for s in SPLITS}
                worst = max(p[0][s] / p[1][s] for p in pairs for s in ("validation", "test"))
                print(
                    f"{label:<18}{epochs:>7}{'med':>6}  {fmt(med)}  | {'':>10}{fmt(ref)}"
                    f"  | worst held-out ratio to the checkpoint {worst:.2f}"
                )


if __name__ == "__main__":
    main()
