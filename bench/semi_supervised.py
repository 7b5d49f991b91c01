"""Semi-supervised training throughput: where a step's time goes, and images/s (labeled plus
unlabeled) of the full pipeline against the bare training step on as many images.

Config: configs/base/mirror-mouse-resnet18.yaml (resnet18 heatmap, 128x128, batch 16, imgaug dlc,
random init, backbone unfrozen from epoch 0) with ``model.losses_to_use=[pca_multiview,
pca_singleview, temporal]`` and Lightning Pose's example ``dali.base.train.sequence_length`` of 16
unlabeled frames per step, on ../shared/data/mirror-mouse-example and its video.

- pipeline: ``pose.pipeline.train`` for ``--epochs`` epochs; images/s from the trainer's own timer
  (labeled + unlabeled images per second of training, first epoch left out as warm-up);
- bare step: the same module's forward + heatmap loss + backward + Adam step on random tensors of
  16 + 16 images in one batch, the same precision and memory format, no data and no Lightning;
- breakdown: one process steps through the real loaders by hand and times each part of a step
  (labeled batch wait, unlabeled clip draw, the one forward over both, the supervised loss,
  decoding + the three losses, backward, optimizer).

Each part runs in its own process, pipeline and bare alternating per round; figures are medians.
Lightning Pose trains these losses only on a GPU with DALI, so there is no CPU reference for it.

    python bench/semi_supervised.py [--epochs 4] [--rounds 3] [--precision auto|32|bf16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import BASE_CONFIG, MIRROR_MOUSE, machine, median  # noqa: E402

LOSSES = "[pca_multiview,pca_singleview,temporal]"
UNLABELED = 16  # Lightning Pose's mirror-mouse example: dali.base.train.sequence_length
BATCH = 16


def _config(epochs: int, precision: str):  # type: ignore[no-untyped-def]
    from pose.config import load_config

    return load_config(
        BASE_CONFIG,
        [
            f"data.data_dir={MIRROR_MOUSE}",
            f"data.video_dir={MIRROR_MOUSE / 'videos'}",
            f"model.losses_to_use={LOSSES}",
            f"dali.base.train.sequence_length={UNLABELED}",
            f"training.train_batch_size={BATCH}",
            "training.unfreezing_epoch=0",
            f"training.max_epochs={epochs}",
            f"training.min_epochs={epochs}",
            f"training.check_val_every_n_epoch={epochs}",
            "training.lr_scheduler_params.multisteplr.milestones=[]",
            f"training.precision={precision}",
            "callbacks.anneal_weight.init_val=1.0",
            "eval.predict_vids_after_training=false",
        ],
    )


def run_pipeline(epochs: int, precision: str) -> dict:
    from pose.pipeline import train

    with tempfile.TemporaryDirectory() as tmp:
        metrics = train(_config(epochs, precision), Path(tmp) / "run", progress_bar=False).metrics
    rates = metrics["train_images_per_second_by_epoch"][1:]
    return {
        "images_per_second": median(rates),
        "per_epoch": rates,
        "precision": metrics["precision"],
    }


def run_bare(steps: int, precision: str) -> dict:
    """train_throughput's bare step, on as many images as a semi-supervised step sees."""
    from bench.train_throughput import run_bare as bare_step

    return bare_step(steps, precision, batch=BATCH + UNLABELED)


def run_breakdown(steps: int, precision: str) -> dict:
    """Time each part of the step the LightningModule takes, on the real loaders' batches."""
    import torch

    from pose.data import PoseDataModule
    from pose.data.heatmaps import rescale_pixels
    from pose.losses.unsupervised import build_unsupervised_losses
    from pose.models import build_model_for
    from pose.train.module import PoseLightningModule
    from pose.train.precision import autocast, resolve_precision

    precision = resolve_precision(precision, "cpu")
    cfg = _config(1, precision)
    cfg.training.num_workers = None  # the pipeline's default loader workers
    dm = PoseDataModule(cfg, None)
    started = time.perf_counter()
    dm.setup()
    setup_seconds = time.perf_counter() - started
    losses = build_unsupervised_losses(cfg, dm.labels.keypoints[dm.splits.train])
    torch.manual_seed(0)
    module = PoseLightningModule(
        build_model_for(cfg, pretrained=False), cfg, channels_last=True, unsupervised=losses
    )
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    labeled_loader = dm._loader(dm.train_set, BATCH, train=True)
    clips = dm.unlabeled
    assert clips is not None
    clips.length = 10**6
    parts: dict[str, list[float]] = {
        k: []
        for k in (
            "labeled batch wait",
            "unlabeled clip draw",
            "forward, labeled + clip",
            "supervised loss",
            "decode + 3 losses",
            "backward",
            "optimizer step",
        )
    }
    device = torch.device("cpu")
    done, step_seconds = 0, []
    while done < steps + 3:
        iterator = iter(labeled_loader)
        while done < steps + 3:
            t0 = time.perf_counter()
            batch = next(iterator, None)
            if batch is None:
                break
            t1 = time.perf_counter()
            clip = clips[done]
            t2 = time.perf_counter()
            with autocast(device, precision):  # as PoseLightningModule.training_step
                n = batch["image"].shape[0]  # an epoch's last batch is shorter
                both = module(torch.cat([batch["image"], clip["frames"]]))
                t3 = time.perf_counter()
                supervised = module.loss(both[:n], batch["keypoints"])
                t4 = time.perf_counter()
                xy, conf = module.model.kind.decode(both[n:])
                xy = rescale_pixels(xy.float(), clip["scale"])
                total = supervised + sum(
                    loss.weight * loss(xy, conf.float()) for loss in module.unsupervised.values()
                )
            t5 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            t6 = time.perf_counter()
            optimizer.step()
            t7 = time.perf_counter()
            if done >= 3:  # warm-up steps left out
                for key, seconds in zip(
                    parts,
                    (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6),
                    strict=True,
                ):
                    parts[key].append(seconds)
                step_seconds.append(t7 - t0)
            done += 1
    return {
        "ms": {k: 1000 * median(v) for k, v in parts.items()},
        "step_ms": 1000 * median(step_seconds),
        "setup_seconds": setup_seconds,
        "cached_frames": clips.cache.num_frames,
        "precision": precision,
    }


def _in_subprocess(part: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--part", part, "--epochs", str(args.epochs)]
    cmd += ["--steps", str(args.steps), "--precision", args.precision]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--part", choices=["pipeline", "bare", "breakdown"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part is not None:
        run = {"pipeline": run_pipeline, "bare": run_bare, "breakdown": run_breakdown}[args.part]
        length = args.epochs if args.part == "pipeline" else args.steps
        print(json.dumps(run(length, args.precision)))
        return
    if not MIRROR_MOUSE.exists():
        sys.exit(f"needs {MIRROR_MOUSE}")
    rounds = [
        (_in_subprocess("bare", args), _in_subprocess("pipeline", args)) for _ in range(args.rounds)
    ]
    breakdown = _in_subprocess("breakdown", args)
    bare = median([b["images_per_second"] for b, _ in rounds])
    pipe = median([p["images_per_second"] for _, p in rounds])
    ratios = [p["images_per_second"] / b["images_per_second"] for b, p in rounds]
    print(f"machine:   {machine()}")
    print(
        f"config:    {BASE_CONFIG.name} (resnet18 heatmap 128x128, imgaug dlc, random init) with "
        f"{LOSSES}; per step {BATCH} labeled images + {UNLABELED} consecutive video frames; "
        f"{args.epochs} epochs on {MIRROR_MOUSE.name}"
    )
    print(f"precision: {rounds[0][1]['precision']}")
    print(f"{'':34}{'images/s (median)':>20}")
    print(f"{'semi-supervised pipeline':34}{pipe:>20.1f}")
    print(f"{f'bare step on {BATCH + UNLABELED} images (limit)':34}{bare:>20.1f}")
    print(
        f"pipeline / bare step: {median(ratios):.1%} (median of {args.rounds} alternating rounds: "
        f"{', '.join(f'{r:.1%}' for r in ratios)})"
    )
    print(
        f"where a step's time goes (hand-stepped, median of {args.steps} steps, "
        f"{breakdown['step_ms']:.0f} ms a step):"
    )
    for key, ms in breakdown["ms"].items():
        print(f"  {key:<26}{ms:>8.1f} ms {ms / breakdown['step_ms']:>6.1%}")
    print(
        f"video frames decoded once before training: {breakdown['cached_frames']} frames; the "
        f"data setup (labeled images and video) took {breakdown['setup_seconds']:.1f} s"
    )


if __name__ == "__main__":
    main()
