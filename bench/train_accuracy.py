"""Accuracy at equal epochs against Lightning Pose on the mirror-mouse example, with learning curves.

Trains configs/base/mirror-mouse-resnet18.yaml (Lightning Pose's own mirror-mouse-example settings
with resnet18, 128x128, random init, imgaug dlc) once per model seed and length
(`training.rng_seed_model_pt`; the data split stays at seed 42), and prints the mean test,
validation and train pixel errors per seed and their medians, then each run's validation curve.

Two settings, by length:
- shorter than ``--lp-settings-from`` epochs (default 100): a sweep's early trial, as the accuracy
  issue measured it: the backbone trained from epoch 0, one milestone at 2/3 of the run, validation
  (and checkpoint choice) every epoch;
- from that length on: LP's example settings as they are (backbone frozen until epoch 20,
  validation every 10 epochs); LP's [150, 200, 250] milestones are never reached, so none is set.

With --lp-python, Lightning Pose 2.4.3 itself trains the same config with the same seeds and
settings on the same machine (bench/lp_reference.py, run by that interpreter), and its errors print
beside ours. Without it, LP's published figures are printed for reference (52.7 px test after 10
epochs; 10.4 px test, 6.6 px val after 100, measured on another machine and torch version).
Curves: ours is the mean validation error in original pixels per validation epoch; LP's is the
``val_supervised_rmse`` it logs (its own units: RMSE in resized 128x128 pixels).

    python bench/train_accuracy.py [--epochs 12 30 100] [--seeds 0 1 2] [--lp-python /path/to/python]
        [--ours-override training.precision=32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import BASE_CONFIG, MIRROR_MOUSE, REPO, machine  # noqa: E402

LP_PUBLISHED = {10: {"test": 52.7}, 100: {"test": 10.4, "validation": 6.6}}
SPLITS = ("test", "validation", "train")
# mean pixel error per split, minutes, validation curve [(epoch, value)]
Result = tuple[dict[str, float], float, list[tuple[int, float]]]


def settings(epochs: int, lp_settings_from: int) -> list[str]:
    """Overrides both engines get: an early trial's settings below ``lp_settings_from`` epochs."""
    common = [f"training.max_epochs={epochs}", f"training.min_epochs={epochs}"]
    if epochs >= lp_settings_from:
        return common
    milestone = max(1, round(epochs * 2 / 3))
    return common + [
        "training.unfreezing_epoch=0",
        "training.check_val_every_n_epoch=1",
        f"training.lr_scheduler_params.multisteplr.milestones=[{milestone}]",
    ]


def ours(epochs: int, seed: int, overrides: list[str]) -> Result:
    import pandas as pd

    from pose.config import load_config
    from pose.pipeline import train

    if not any("milestones" in o for o in overrides):
        overrides = [*overrides, "training.lr_scheduler_params.multisteplr.milestones=[]"]
    cfg = load_config(
        BASE_CONFIG,
        [f"data.data_dir={MIRROR_MOUSE}", f"training.rng_seed_model_pt={seed}", *overrides],
    )
    with tempfile.TemporaryDirectory() as tmp:
        m = train(cfg, Path(tmp) / "run", progress_bar=False).metrics
        log = pd.read_csv(Path(tmp) / "run" / "logs" / "metrics.csv")
    val = log.dropna(subset=["val/pixel_error"])
    curve = [
        (int(e) + 1, float(v)) for e, v in zip(val["epoch"], val["val/pixel_error"], strict=True)
    ]
    return m["pixel_error"], m["wall_seconds"] / 60, curve


def lightning_pose(python: str, epochs: int, seed: int, overrides: list[str]) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [
                python,
                str(REPO / "bench" / "lp_reference.py"),
                f"--base-config={BASE_CONFIG}",
                f"--peer-configs={REPO.parent / 'shared' / 'peer-configs'}",
                f"--data-dir={MIRROR_MOUSE}",
                f"--epochs={epochs}",
                f"--seed={seed}",
                f"--output-dir={Path(tmp) / 'lp'}",
                *(f"--override={o}" for o in overrides),
            ],
            capture_output=True,
            text=True,
            cwd=tmp,  # anything LP writes relative to the cwd stays out of the repository
        )
    if done.returncode != 0:
        sys.exit(
            f"Lightning Pose run failed (epochs {epochs}, seed {seed}):\n{done.stderr[-3000:]}"
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    curve = [(int(e), float(v)) for e, v in result["val_curve"]]
    return result["pixel_error"], result["wall_seconds"] / 60, curve


def cells(result: Result) -> str:
    errors, minutes, _ = result
    return "".join(f"{errors[s]:>9.1f}" for s in SPLITS) + f"{minutes:>8.1f}"


def curve_line(name: str, curve: list[tuple[int, float]]) -> str:
    return f"  {name:<24}" + " ".join(f"{e}:{v:.1f}" for e, v in curve)


def row(epochs: int, seed: str, mine: Result, lp: Result | None) -> str:
    return f"{epochs:>7}{seed:>7}" + cells(mine) + ("" if lp is None else " |" + cells(lp))


def median(results: list[Result]) -> Result:
    errors = {s: statistics.median(r[0][s] for r in results) for s in SPLITS}
    return errors, statistics.median(r[1] for r in results), []


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, nargs="+", default=[12, 30, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lp-python", help="python of an environment with lightning-pose 2.4.3")
    parser.add_argument(
        "--ours-override",
        action="append",
        default=[],
        help="KEY=VALUE for our engine only (e.g. training.precision=32), repeatable",
    )
    parser.add_argument(
        "--lp-settings-from",
        type=int,
        default=100,
        help="runs of at least this many epochs use LP's example settings unchanged",
    )
    args = parser.parse_args()
    if not MIRROR_MOUSE.exists():
        sys.exit(f"needs {MIRROR_MOUSE}")

    print(f"machine: {machine()}")
    print(f"config:  {BASE_CONFIG.name} on {MIRROR_MOUSE.name}, model seeds {args.seeds}")
    if args.ours_override:
        print(f"ours only: {' '.join(args.ours_override)}")
    print(
        f"below {args.lp_settings_from} epochs: "
        + " ".join(settings(12, args.lp_settings_from)[2:4])
        + ", one milestone at 2/3 of the run"
    )
    header = (
        f"{'epochs':>7}{'seed':>7}" + "".join(f"{s[:5] + ' px':>9}" for s in SPLITS) + f"{'min':>8}"
    )
    if args.lp_python:
        header += " |" + "".join(f"{'LP ' + s[:5]:>9}" for s in SPLITS) + f"{'LP min':>8}"
    print(header)
    curves: list[str] = []
    for epochs in args.epochs:
        overrides = settings(epochs, args.lp_settings_from)
        mine: list[Result] = []
        theirs: list[Result] = []
        for seed in args.seeds:
            mine.append(ours(epochs, seed, [*overrides, *args.ours_override]))
            curves.append(curve_line(f"{epochs} ep seed {seed} ours px", mine[-1][2]))
            if args.lp_python:
                theirs.append(lightning_pose(args.lp_python, epochs, seed, overrides))
                curves.append(curve_line(f"{epochs} ep seed {seed} LP rmse", theirs[-1][2]))
            print(row(epochs, str(seed), mine[-1], theirs[-1] if theirs else None), flush=True)
        if len(args.seeds) > 1:
            print(row(epochs, "median", median(mine), median(theirs) if theirs else None))
    print("validation curves (epoch:value):")
    print("\n".join(curves))
    published = "; ".join(
        f"{e} epochs: " + ", ".join(f"{s} {v} px" for s, v in ref.items())
        for e, ref in LP_PUBLISHED.items()
    )
    print(f"Lightning Pose 2.4.3 as published (another machine and torch): {published}")


if __name__ == "__main__":
    main()
