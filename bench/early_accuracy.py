"""Early models' accuracy under the heatmap decoder's hedging, on the same trained networks.

Trains the mirror-mouse config (configs/base/mirror-mouse-resnet18.yaml: resnet18, 128x128, random
init, imgaug dlc) the way the sweep's early trials see it: the backbone trained from epoch 0,
``--epochs`` epochs (default 12, milestone at 2/3), once per model seed, data split at seed 42. Each
trained network's test-frame heatmaps are then decoded with each ``--temperatures`` value of
``heatmap_to_keypoints``'s ``hedge_temperature`` (0 = the argmax and window refinement alone), so
every row of a seed compares decoders on identical maps. Errors are in original-image pixels over
every labeled test keypoint: mean, median and 90th percentile, and the mean as a multiple of always
predicting the mean training pose (the issue's yardstick). Decoding time per batch of video-sized
maps (96 frames, 17 keypoints, 32x32) is timed for each temperature too.

    python bench/early_accuracy.py [--seeds 0 1 2] [--epochs 12] [--temperatures 0 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import BASE_CONFIG, MIRROR_MOUSE, machine  # noqa: E402


def _train(seed: int, epochs: int, out: Path) -> Path:
    from pose.config import load_config
    from pose.pipeline import train

    milestone = max(1, round(epochs * 2 / 3))
    cfg = load_config(
        BASE_CONFIG,
        [
            f"data.data_dir={MIRROR_MOUSE}",
            f"training.max_epochs={epochs}",
            f"training.min_epochs={epochs}",
            "training.unfreezing_epoch=0",
            f"training.check_val_every_n_epoch={epochs}",
            f"training.rng_seed_model_pt={seed}",
            f"training.lr_scheduler_params.multisteplr.milestones=[{milestone}]",
        ],
    )
    train(cfg, out, progress_bar=False)
    return out


@torch.inference_mode()
def _test_maps(run: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray, int]:
    """Test frames' heatmap probabilities, true keypoints, scales, the mean training pose's errors."""
    from pose.data import PoseDataModule
    from pose.models import spatial_softmax
    from pose.predict.images import load_trained
    from pose.train.module import pixel_errors
    from pose.train.precision import autocast

    trained = load_trained(run / "config.yaml", run / "best.ckpt", device="cpu")
    data = PoseDataModule(trained.cfg, trained.module.model.context_offsets)
    data.setup()
    maps, truth, scales = [], [], []
    for batch in data.test_dataloader():
        with autocast(trained.module.device, trained.precision):
            output = trained.module(batch["image"])
        maps.append(spatial_softmax(output.float()))
        truth.append(batch["keypoints"].float())
        scales.append(batch["scale"].float())
    train_kp = torch.cat([b["keypoints"].float() for b in data.train_dataloader()])
    train_scale = torch.cat([b["scale"].float() for b in data.train_dataloader()])
    original = train_kp * train_scale[:, None, :]  # the mean pose in original pixels
    mean_pose = torch.nanmean(original, dim=0)
    t, s = torch.cat(truth), torch.cat(scales)
    baseline = pixel_errors(mean_pose[None].expand_as(t) / s[:, None, :], t, s).numpy()
    return torch.cat(maps), t, s, baseline, trained.module.model.kind.stride


def _errors(
    maps: torch.Tensor, truth: torch.Tensor, scale: torch.Tensor, stride: int, temp: float
) -> np.ndarray:
    from pose.data.heatmaps import heatmap_to_image_coords
    from pose.models.heads import heatmap_to_keypoints
    from pose.train.module import pixel_errors

    uv, _ = heatmap_to_keypoints(maps, hedge_temperature=temp)
    return pixel_errors(heatmap_to_image_coords(uv, stride), truth, scale).numpy()


def _decode_ms(temp: float, rounds: int = 7) -> float:
    from pose.models.heads import heatmap_to_keypoints

    maps = torch.softmax(torch.randn(96, 17, 32 * 32) * 3, dim=-1).view(96, 17, 32, 32)
    heatmap_to_keypoints(maps, hedge_temperature=temp)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        heatmap_to_keypoints(maps, hedge_temperature=temp)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 1000.0])
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        f"mirror-mouse, resnet18 128x128 from random init, backbone trained from epoch 0, "
        f"{args.epochs} epochs, model seeds {args.seeds}; test frames; errors in original pixels\n"
    )
    Row = tuple[float, float, float, float]
    table: dict[float, list[Row]] = {}
    with tempfile.TemporaryDirectory(prefix="early-accuracy-") as tmp:
        for seed in args.seeds:
            started = time.perf_counter()
            run = _train(seed, args.epochs, Path(tmp) / f"seed{seed}")
            maps, truth, scale, baseline, stride = _test_maps(run)
            base = float(np.nanmean(baseline))
            peak = maps.flatten(2).amax(-1)
            print(
                f"seed {seed}: trained in {(time.perf_counter() - started) / 60:.1f} min; "
                f"median peak probability {peak.median():.3f}; mean-pose error {base:.1f} px"
            )
            for temp in args.temperatures:
                e = _errors(maps, truth, scale, stride, temp)
                e = e[~np.isnan(e)]
                mean = float(e.mean())
                row = (mean, float(np.median(e)), float(np.percentile(e, 90)), mean / base)
                table.setdefault(temp, []).append(row)
                print(
                    f"  T={temp:6g}: mean {row[0]:6.2f}  median {row[1]:6.2f}  "
                    f"p90 {row[2]:6.2f}  {row[3]:.3f}x mean pose"
                )
    print("\nmedians over seeds")
    print(
        f"{'hedge_temperature':>18} {'mean px':>8} {'median px':>10} "
        f"{'p90 px':>8} {'x mean pose':>12} {'decode ms':>10}"
    )
    for temp, rows in table.items():
        med = [statistics.median(r[i] for r in rows) for i in range(4)]
        print(
            f"{temp:18g} {med[0]:8.2f} {med[1]:10.2f} {med[2]:8.2f} {med[3]:12.3f} "
            f"{_decode_ms(temp):10.2f}"
        )


if __name__ == "__main__":
    main()
