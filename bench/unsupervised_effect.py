"""What the unsupervised losses do: supervised against semi-supervised training at equal epochs.

Trains configs/base/mirror-mouse-resnet18.yaml (resnet18 from random init, 128x128, imgaug dlc,
Lightning Pose's mirror-mouse-example schedule: backbone frozen until epoch 20, validation every 10
epochs) on ../shared/data/mirror-mouse-example once per model seed (the data split stays at seed
42), without unsupervised losses and with ``[pca_multiview, pca_singleview, temporal]`` at each
``--log-weight`` (all three losses; Lightning Pose's example uses 10.7, its default config 11), 16
consecutive frames per step and Lightning Pose's anneal ramp (0 at epoch 0, +0.01 per epoch).
The example's one video, ``videos/test_vid.mp4`` (994 frames), is cut in two: the losses train on
its first 663 frames, and every model is scored on the other 331, which no model has seen:

- test px: mean pixel error on the labeled test frames (original pixels; lower is better);
- the label-free video metrics (:mod:`pose.predict.label_free`): the mean PCA reprojection errors
  (singleview and multiview, original pixels) and the share of frame-to-frame keypoint moves beyond
  ``losses.temporal.epsilon`` (20 px) -- the PCAs fitted on the same training labels for every run.

``--jobs`` runs that many trainings at once, one thread each (the figures do not depend on speed).

    python bench/unsupervised_effect.py [--epochs 100] [--seeds 0 1 2] [--log-weight 10.7 5] [--jobs 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import BASE_CONFIG, MIRROR_MOUSE, machine  # noqa: E402

LOSSES = "[pca_multiview,pca_singleview,temporal]"
COLUMNS = ("test px", "pca_sv px", "pca_mv px", "jumps>eps", "min")


HELD_OUT_FROM = 663  # frames before this train the losses; the rest score every model


def split_video(out: Path) -> tuple[Path, Path]:
    """``test_vid.mp4`` re-encoded as ``train/part1.mp4`` and ``held_out/part2.mp4`` (both parts
    re-encoded alike, so neither keeps the original's compression)."""
    import cv2

    source = cv2.VideoCapture(str(MIRROR_MOUSE / "videos" / "test_vid.mp4"))
    fps = source.get(cv2.CAP_PROP_FPS)
    size = (int(source.get(cv2.CAP_PROP_FRAME_WIDTH)), int(source.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    dirs = out / "train", out / "held_out"
    writers = []
    for directory, name in zip(dirs, ("part1.mp4", "part2.mp4"), strict=True):
        directory.mkdir(parents=True)
        fourcc = cv2.VideoWriter.fourcc(*"mp4v")
        writers.append(cv2.VideoWriter(str(directory / name), fourcc, fps, size))
    index = 0
    while True:
        ok, frame = source.read()
        if not ok:
            break
        writers[index >= HELD_OUT_FROM].write(frame)
        index += 1
    for writer in writers:
        writer.release()
    return dirs


def one_run(
    epochs: int, seed: int, log_weight: float | None, threads: int, videos: tuple[Path, Path]
) -> list[float]:
    import torch

    from pose.config import load_config
    from pose.pipeline import train

    torch.set_num_threads(threads)
    overrides = [
        f"data.data_dir={MIRROR_MOUSE}",
        f"data.video_dir={videos[0]}",
        f"eval.test_videos_directory={videos[1]}",
        f"training.rng_seed_model_pt={seed}",
        f"training.max_epochs={epochs}",
        f"training.min_epochs={epochs}",
        "training.lr_scheduler_params.multisteplr.milestones=[]",
        "eval.predict_vids_after_training=true",
        "dali.base.train.sequence_length=16",
    ]
    if log_weight is not None:
        overrides.append(f"model.losses_to_use={LOSSES}")
        overrides += [f"losses.{n}.log_weight={log_weight}" for n in LOSSES.strip("[]").split(",")]
    cfg = load_config(BASE_CONFIG, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        m = train(cfg, Path(tmp) / "run", progress_bar=False).metrics
    video = m["video"]
    return [
        m["pixel_error"]["test"],
        video["pca_singleview_error"],
        video["pca_multiview_error"],
        video["temporal_jump_rate"],
        m["wall_seconds"] / 60,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--log-weight", type=float, nargs="+", default=[10.7, 5.0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if not MIRROR_MOUSE.exists():
        sys.exit(f"needs {MIRROR_MOUSE}")
    variants: list[float | None] = [None, *args.log_weight]
    threads = 1 if args.jobs > 1 else 0
    jobs = [(v, s) for v in variants for s in args.seeds]
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.jobs) as pool:
        videos = split_video(Path(tmp))
        futures = {
            job: pool.submit(one_run, args.epochs, job[1], job[0], threads or 2, videos)
            for job in jobs
        }
        results = {job: f.result() for job, f in futures.items()}

    print(f"machine: {machine()}; {args.jobs} trainings at a time, {threads or 2} thread(s) each")
    print(
        f"config:  {BASE_CONFIG.name} on {MIRROR_MOUSE.name}, {args.epochs} epochs, LP's example "
        f"schedule; model seeds {args.seeds}; losses on frames 0-{HELD_OUT_FROM - 1} of "
        f"videos/test_vid.mp4, video metrics on the held-out frames {HELD_OUT_FROM}-993"
    )
    print(f"{'variant':<28}{'seed':>7}" + "".join(f"{c:>11}" for c in COLUMNS))
    for variant in variants:
        name = "supervised" if variant is None else f"3 losses, log_weight {variant:g}"
        rows = [results[(variant, s)] for s in args.seeds]
        for seed, row in zip(args.seeds, rows, strict=True):
            print(f"{name:<28}{seed:>7}" + "".join(f"{v:>11.3f}" for v in row))
        medians = [statistics.median(col) for col in zip(*rows, strict=True)]
        print(f"{name:<28}{'median':>7}" + "".join(f"{v:>11.3f}" for v in medians))


if __name__ == "__main__":
    main()
