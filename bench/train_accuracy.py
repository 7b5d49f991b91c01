"""Accuracy at equal epochs against Lightning Pose on the mirror-mouse example.

Trains configs/base/mirror-mouse-resnet18.yaml (Lightning Pose's own mirror-mouse-example settings
with resnet18, 128x128, random init, imgaug dlc) for 10 and for 100 epochs, once per model seed
(`training.rng_seed_model_pt`; the data split stays at seed 42), and prints the mean test,
validation and train pixel errors per seed and their medians. Milestones are cleared because LP's
[150, 200, 250] are never reached in these runs.

With --lp-python, Lightning Pose 2.4.3 itself trains the same config with the same seeds on the same
machine (bench/lp_reference.py, run by that interpreter), and its errors print beside ours. LP
saves its checkpoint only when it validates (every 10 epochs here), so its runs need >= 10 epochs.
Without it, LP's published figures are printed for reference (52.7 px test after 10 epochs; 10.4 px test,
6.6 px val after 100, measured on another machine and torch version).

    python bench/train_accuracy.py [--epochs 10 100] [--seeds 44 0 1] [--lp-python /path/to/python]
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
Result = tuple[dict[str, float], float]  # mean pixel error per split, minutes


def ours(epochs: int, seed: int) -> Result:
    from pose.config import load_config
    from pose.pipeline import train

    cfg = load_config(
        BASE_CONFIG,
        [
            f"data.data_dir={MIRROR_MOUSE}",
            f"training.max_epochs={epochs}",
            f"training.min_epochs={epochs}",
            f"training.rng_seed_model_pt={seed}",
            "training.lr_scheduler_params.multisteplr.milestones=[]",
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        m = train(cfg, Path(tmp) / "run", progress_bar=False).metrics
    return m["pixel_error"], m["wall_seconds"] / 60


def lightning_pose(python: str, epochs: int, seed: int) -> Result:
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
            ],
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        sys.exit(
            f"Lightning Pose run failed (epochs {epochs}, seed {seed}):\n{done.stderr[-3000:]}"
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["pixel_error"], result["wall_seconds"] / 60


def cells(result: Result) -> str:
    errors, minutes = result
    return "".join(f"{errors[s]:>9.1f}" for s in SPLITS) + f"{minutes:>8.1f}"


def row(epochs: int, seed: str, mine: Result, lp: Result | None) -> str:
    return f"{epochs:>7}{seed:>7}" + cells(mine) + ("" if lp is None else " |" + cells(lp))


def median(results: list[Result]) -> Result:
    errors = {s: statistics.median(r[0][s] for r in results) for s in SPLITS}
    return errors, statistics.median(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[44])
    parser.add_argument("--lp-python", help="python of an environment with lightning-pose 2.4.3")
    args = parser.parse_args()
    if not MIRROR_MOUSE.exists():
        sys.exit(f"needs {MIRROR_MOUSE}")

    print(f"machine: {machine()}")
    print(f"config:  {BASE_CONFIG.name} on {MIRROR_MOUSE.name}, model seeds {args.seeds}")
    header = (
        f"{'epochs':>7}{'seed':>7}" + "".join(f"{s[:5] + ' px':>9}" for s in SPLITS) + f"{'min':>8}"
    )
    if args.lp_python:
        header += " |" + "".join(f"{'LP ' + s[:5]:>9}" for s in SPLITS) + f"{'LP min':>8}"
    print(header)
    for epochs in args.epochs:
        mine: list[Result] = []
        theirs: list[Result] = []
        for seed in args.seeds:
            mine.append(ours(epochs, seed))
            if args.lp_python:
                theirs.append(lightning_pose(args.lp_python, epochs, seed))
            print(row(epochs, str(seed), mine[-1], theirs[-1] if theirs else None), flush=True)
        if len(args.seeds) > 1:
            print(row(epochs, "median", median(mine), median(theirs) if theirs else None))
    published = "; ".join(
        f"{e} epochs: " + ", ".join(f"{s} {v} px" for s, v in ref.items())
        for e, ref in LP_PUBLISHED.items()
    )
    print(f"Lightning Pose 2.4.3 as published (another machine and torch): {published}")


if __name__ == "__main__":
    main()
