"""Accuracy at equal epochs against Lightning Pose's reference on the mirror-mouse example.

Trains configs/base/mirror-mouse-resnet18.yaml (Lightning Pose's own mirror-mouse-example settings
with resnet18, 128x128, random init, imgaug dlc) for 10 and for 100 epochs and prints the mean test
and validation pixel errors beside Lightning Pose 2.4.3's (52.7 px test after 10 epochs; 10.4 px test,
6.6 px val after 100). Milestones are cleared because LP's [150, 200, 250] are never reached in
these runs.

    python bench/train_accuracy.py [--epochs 10 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import BASE_CONFIG, MIRROR_MOUSE, machine  # noqa: E402

LP_REFERENCE = {10: {"test": 52.7, "validation": None}, 100: {"test": 10.4, "validation": 6.6}}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, nargs="+", default=[10, 100])
    args = parser.parse_args()
    if not MIRROR_MOUSE.exists():
        sys.exit(f"needs {MIRROR_MOUSE}")
    from pose.config import load_config
    from pose.train import train

    print(f"machine: {machine()}")
    print(f"config:  {BASE_CONFIG.name} on {MIRROR_MOUSE.name}")
    print(
        f"{'epochs':>7}{'test px':>10}{'LP test px':>12}{'val px':>9}{'LP val px':>11}{'train px':>10}{'minutes':>9}"
    )
    for epochs in args.epochs:
        cfg = load_config(
            BASE_CONFIG,
            [
                f"data.data_dir={MIRROR_MOUSE}",
                f"training.max_epochs={epochs}",
                f"training.min_epochs={epochs}",
                "training.lr_scheduler_params.multisteplr.milestones=[]",
            ],
        )
        with tempfile.TemporaryDirectory() as tmp:
            m = train(cfg, Path(tmp) / "run", progress_bar=False).metrics
        ref = LP_REFERENCE.get(epochs, {})
        fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
        err = m["pixel_error"]
        print(
            f"{epochs:>7}{fmt(err['test']):>10}{fmt(ref.get('test')):>12}{fmt(err['validation']):>9}"
            f"{fmt(ref.get('validation')):>11}{fmt(err['train']):>10}{m['wall_seconds'] / 60:>9.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
