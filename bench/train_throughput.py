"""Training throughput: labeled images/s of the full pipeline vs the bare training step (its limit).

Config: configs/base/mirror-mouse-resnet18.yaml (resnet18 heatmap, 128x128, batch 16, imgaug dlc,
random init) on ../shared/data/mirror-mouse-example, backbone unfrozen from epoch 0. The bare step is
the same model's forward + heatmap loss + backward + Adam step on random tensors, in the same precision
and memory format. Each part runs in its own process. Peak memory is the largest proportional set
size (PSS) of that process and its data-loader workers together, taken from a separate, untimed
3-epoch run (reading PSS costs the kernel a page-table walk, which would slow the timed run).

    python bench/train_throughput.py [--epochs 6] [--rounds 3] [--precision auto|32|bf16]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    BASE_CONFIG,
    MIRROR_MOUSE,
    PeakMemory,
    machine,
    median,
    tree_pss_gb,
)


def run_pipeline(epochs: int, precision: str, workers: int | None, sample_memory: bool) -> dict:
    from pose.config import load_config
    from pose.data.datamodule import default_num_workers
    from pose.pipeline import train

    overrides = [
        f"data.data_dir={MIRROR_MOUSE}",
        "training.unfreezing_epoch=0",
        f"training.max_epochs={epochs}",
        f"training.min_epochs={epochs}",
        f"training.check_val_every_n_epoch={epochs}",
        "training.lr_scheduler_params.multisteplr.milestones=[]",
        f"training.precision={precision}",
    ]
    if workers is not None:
        overrides.append(f"training.num_workers={workers}")
    cfg = load_config(BASE_CONFIG, overrides)
    memory = PeakMemory() if sample_memory else contextlib.nullcontext()
    with tempfile.TemporaryDirectory() as tmp, memory:
        metrics = train(cfg, Path(tmp) / "run", progress_bar=False).metrics
    rates = metrics["train_images_per_second_by_epoch"][1:]  # first epoch warms up
    return {
        "images_per_second": median(rates),
        "per_epoch": rates,
        "precision": metrics["precision"],
        "peak_gb": memory.peak if isinstance(memory, PeakMemory) else None,
        "num_workers": default_num_workers() if workers is None else workers,
    }


def run_bare(steps: int, precision: str, batch: int = 16) -> dict:
    """The training step without data loading or Lightning: the same module's forward and loss, on
    ``batch`` random images."""
    import torch

    from pose.config import load_config
    from pose.models.pose_model import build_model
    from pose.train.module import PoseLightningModule
    from pose.train.precision import autocast, resolve_precision

    precision = resolve_precision(precision, "cpu")
    cfg = load_config(BASE_CONFIG, [f"data.data_dir={MIRROR_MOUSE}"])
    torch.manual_seed(0)
    model = build_model("resnet18", "heatmap", 17, (128, 128), 2, pretrained=False)
    module = PoseLightningModule(model, cfg, channels_last=True)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    images = torch.randint(0, 255, (batch, 3, 128, 128), dtype=torch.uint8)
    keypoints = torch.rand(batch, 17, 2) * 127
    device = torch.device("cpu")
    rates, peak = [], 0.0
    for step in range(steps + 5):
        start = time.perf_counter()
        with autocast(device, precision):
            loss = module.loss(module(images), keypoints)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 5:
            rates.append(batch / (time.perf_counter() - start))
        if step % 10 == 0:
            peak = max(peak, tree_pss_gb())  # outside the timed step
    return {"images_per_second": median(rates), "precision": precision, "peak_gb": peak}


def _in_subprocess(part: str, args: argparse.Namespace, epochs: int | None = None) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--part",
        part,
        "--epochs",
        str(epochs or args.epochs),
        "--steps",
        str(args.steps),
        "--precision",
        args.precision,
    ]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--precision", default="auto")
    parser.add_argument(
        "--workers", type=int, default=None, help="training.num_workers (default: the config's)"
    )
    parser.add_argument("--part", choices=["pipeline", "memory", "bare"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part in ("pipeline", "memory"):
        result = run_pipeline(args.epochs, args.precision, args.workers, args.part == "memory")
        print(json.dumps(result))
        return
    if args.part == "bare":
        print(json.dumps(run_bare(args.steps, args.precision)))
        return
    if not MIRROR_MOUSE.exists():
        sys.exit(f"needs {MIRROR_MOUSE}")
    # Alternate the two parts so both see the same machine conditions; report medians of rounds.
    rounds = [
        (_in_subprocess("bare", args), _in_subprocess("pipeline", args)) for _ in range(args.rounds)
    ]
    bare = {
        "images_per_second": median([b["images_per_second"] for b, _ in rounds]),
        "peak_gb": max(b["peak_gb"] for b, _ in rounds),
    }
    pipe = dict(rounds[0][1])
    pipe["images_per_second"] = median([p["images_per_second"] for _, p in rounds])
    ratios = [p["images_per_second"] / b["images_per_second"] for b, p in rounds]
    pipe["peak_gb"] = _in_subprocess("memory", args, epochs=3)["peak_gb"]  # untimed run
    print(f"machine:   {machine()}")
    print(
        f"config:    {BASE_CONFIG.name} (resnet18 heatmap 128x128, batch 16, imgaug dlc, random init), "
        f"{args.epochs} epochs on {MIRROR_MOUSE.name}, num_workers={pipe['num_workers']}"
    )
    print(f"precision: {pipe['precision']} (bf16 autocast + channels_last where supported)")
    print(f"{'':24}{'images/s (median)':>20}{'peak PSS GB':>14}")
    print(f"{'training pipeline':24}{pipe['images_per_second']:>20.1f}{pipe['peak_gb']:>14.2f}")
    print(f"{'bare step (limit)':24}{bare['images_per_second']:>20.1f}{bare['peak_gb']:>14.2f}")
    print(
        f"pipeline / bare step: {median(ratios):.1%} (median of {args.rounds} alternating rounds: "
        f"{', '.join(f'{r:.1%}' for r in ratios)})"
    )
    print(
        f"pipeline / Lightning Pose 2.4.3 reference (31.7 images/s fp32, 2-core EPYC): "
        f"{pipe['images_per_second'] / 31.7:.2f}x"
    )
    print(
        "per-round images/s (bare, pipeline): "
        + "; ".join(
            f"{b['images_per_second']:.1f}, {p['images_per_second']:.1f}" for b, p in rounds
        )
    )


if __name__ == "__main__":
    main()
