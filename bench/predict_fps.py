"""Video prediction speed: the full pipeline beside its two limits, the decoder alone and the model alone.

Runs on ``../shared/data/mirror-mouse-example/videos/test_vid.mp4`` (994 frames, 396x406) with a
resnet18 heatmap model at 128x128 (random weights: speed does not depend on them) in the precision
training would use on this machine. Rounds alternate the three measurements; medians are printed.

    python bench/predict_fps.py [--rounds 3] [--reader opencv|pyav|dali] [--batch-size N]
                                [--model-type heatmap|heatmap_mhcrnn] [--hedge-temperature T]

A context model (``heatmap_mhcrnn``) runs its backbone once per frame and its recurrent head once
per 5-frame window; "model alone" is then that same work on frames already in memory.

On a CPU the pipeline runs the network as two streams of whole batches, each on half the threads
(``pose.predict.streams``); "model alone" is measured that way and as one stream on all threads,
and the limit takes the faster of the two.

On a GPU with the ``gpu`` extra, ``auto`` decodes with DALI on the GPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import BASE_CONFIG, MIRROR_MOUSE, machine  # noqa: E402
from pose.config import load_config  # noqa: E402
from pose.data import read_labels  # noqa: E402
from pose.models.pose_model import build_model_for  # noqa: E402
from pose.predict.images import TrainedModel  # noqa: E402
from pose.predict.streams import ordered_map, stream_count, threads_per_stream  # noqa: E402
from pose.predict.video import predict_batch_size, predict_video  # noqa: E402
from pose.train.module import PoseLightningModule  # noqa: E402
from pose.train.precision import autocast, pick_accelerator, resolve_precision  # noqa: E402
from pose.video import open_video  # noqa: E402

VIDEO = MIRROR_MOUSE / "videos" / "test_vid.mp4"


def build(batch_size: int | None, model_type: str) -> TrainedModel:
    cfg = load_config(
        BASE_CONFIG,
        [
            f"data.data_dir={MIRROR_MOUSE}",
            "data.image_resize_dims.height=128",
            "data.image_resize_dims.width=128",
            f"model.model_type={model_type}",
        ],
    )
    names = read_labels(MIRROR_MOUSE / cfg.data.csv_file).keypoint_names
    cfg.data.keypoint_names, cfg.data.num_keypoints = names, len(names)
    if batch_size:
        cfg.dali.base.predict.sequence_length = batch_size
        cfg.dali.context.predict.sequence_length = batch_size
    model = build_model_for(cfg, pretrained=False)
    accelerator = pick_accelerator(1)
    device = "cuda" if accelerator == "gpu" else "cpu"
    module = PoseLightningModule(model, cfg, channels_last=True).to(device).eval()
    return TrainedModel(module, cfg, resolve_precision("auto", accelerator))


def pipeline_fps(
    trained: TrainedModel, reader: str, out: Path, streams: int | None = None
) -> float:
    start = time.perf_counter()
    done = predict_video(trained, VIDEO, out, reader=reader, streams=streams)
    return done.frames / (time.perf_counter() - start)


def decoder_fps(trained: TrainedModel, reader: str) -> tuple[float, float]:
    """Decode and resize to the model's input size, nothing else: frames/s and the CPU time per
    frame over all threads (on a CPU that saturates its cores, the time taken from the network)."""
    batch = predict_batch_size(trained)
    start, cpu, frames = time.perf_counter(), time.process_time(), 0
    source = open_video(VIDEO, reader)
    for chunk in source.batches(trained.cfg.data.image_resize_dims.hw, batch):
        frames += len(chunk)
    if torch.cuda.is_available():
        torch.cuda.synchronize()  # DALI's GPU frames
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return frames / wall, cpu / frames * 1000


def model_fps(trained: TrainedModel, frames: int, with_decode: bool, streams: int) -> float:
    """The network (and optionally heatmap -> coordinates) on uint8 frames already in memory, run
    as ``streams`` parallel streams of whole batches sharing the thread budget (the pipeline's
    way on a CPU is ``stream_count``)."""
    module = trained.module
    batch = predict_batch_size(trained)
    height, width = trained.cfg.data.image_resize_dims.hw
    images = torch.from_numpy(
        np.random.default_rng(0).integers(0, 255, (batch, 3, height, width), dtype=np.uint8)
    ).to(module.device)
    offsets = module.model.context_offsets
    # context models: each frame's window of per-frame maps (clamped at the batch's ends)
    window = (
        (torch.arange(batch)[:, None] + torch.tensor(offsets)).clamp(0, batch - 1)
        if offsets
        else None
    )

    def network(n: int) -> None:
        with torch.inference_mode(), autocast(module.device, trained.precision):
            if window is None:
                output = module(images[:n])
            else:
                codes = module.encode_frames(images[:n])
                output = module.model.combine(codes[window[:n].clamp(max=n - 1)])
            if with_decode:
                module.model.kind.decode(output)
        if module.device.type == "cuda":
            torch.cuda.synchronize()

    sizes = [min(batch, frames - done) for done in range(0, frames, batch)]
    with threads_per_stream(streams):
        network(2)  # warm-up
        start = time.perf_counter()
        for _ in ordered_map(network, sizes, streams):
            pass
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reader", default="auto")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="default: dali.*.predict.sequence_length"
    )
    parser.add_argument("--model-type", default="heatmap", choices=["heatmap", "heatmap_mhcrnn"])
    parser.add_argument(
        "--hedge-temperature",
        type=float,
        default=None,
        help="decode with this hedge temperature instead of the default (0: no hedging)",
    )
    args = parser.parse_args()
    if args.hedge_temperature is not None:
        import functools

        import pose.models.types.heatmap as heatmap_type

        heatmap_type.heatmap_to_keypoints = functools.partial(  # type: ignore[assignment]
            heatmap_type.heatmap_to_keypoints, hedge_temperature=args.hedge_temperature
        )
        print(f"heatmap decoder: hedge_temperature={args.hedge_temperature:g}")
    if not VIDEO.is_file():
        sys.exit(f"{VIDEO} not found (needs ../shared beside the repository)")

    trained = build(args.batch_size, args.model_type)
    total = sum(1 for _ in open_video(VIDEO, args.reader).frames())
    results: dict[str, list[float]] = {
        "pipeline": [],
        "pipeline 1 stream": [],
        "decoder": [],
        "model": [],
        "model 1 stream": [],
        "model+decode": [],
    }
    reader_name = type(open_video(VIDEO, args.reader)).__name__
    decoder_cpu: dict[str, list[float]] = {reader_name: [], "OpenCVReader": []}
    streams = stream_count(trained.module.device)
    threads = torch.get_num_threads()
    cores: dict[str, list[float]] = {key: [] for key in results}

    def measure(key: str, fn: Callable[..., Any], *fn_args: Any) -> Any:
        """Run one measurement; record its frames/s and the cores it kept busy (CPU / wall)."""
        cpu, wall = time.process_time(), time.perf_counter()
        value = fn(*fn_args)
        cores[key].append((time.process_time() - cpu) / (time.perf_counter() - wall))
        results[key].append(value[0] if isinstance(value, tuple) else value)
        return value

    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            decoder_cpu[reader_name].append(
                measure("decoder", decoder_fps, trained, args.reader)[1]
            )
            if reader_name != "OpenCVReader":  # the reader auto picks for colour videos
                decoder_cpu["OpenCVReader"].append(decoder_fps(trained, "opencv")[1])
            measure("model", model_fps, trained, total, False, streams)
            measure("model 1 stream", model_fps, trained, total, False, 1)
            measure("model+decode", model_fps, trained, total, True, streams)
            out = Path(tmp) / str(round_)
            measure("pipeline", pipeline_fps, trained, args.reader, out)
            measure("pipeline 1 stream", pipeline_fps, trained, args.reader, out, 1)
    med = {k: statistics.median(v) for k, v in results.items()}
    # the model's limit is the faster of the two ways to run it, whichever the pipeline uses
    limit = min(med["decoder"], max(med["model"], med["model 1 stream"]))

    print(f"machine:   {machine()}")
    print(
        f"setup:     {VIDEO.name} ({total} frames, 396x406), resnet18 {args.model_type} 128x128, "
        f"{len(trained.keypoint_names)} keypoints, random weights, precision {trained.precision}, "
        f"batch {predict_batch_size(trained)}, reader {args.reader}, "
        f"{args.rounds} alternating rounds (medians)"
    )
    print()
    print(f"{'':38} {'frames/s':>10} {'cores used':>11}   rounds")
    rows = [
        ("pipeline (sweeper predict, CSVs)", "pipeline"),
        (f"pipeline, 1 stream of {threads} threads", "pipeline 1 stream"),
        ("decoder alone (decode + resize)", "decoder"),
        (f"model alone ({streams} stream(s), as pipeline)", "model"),
        (f"model alone (1 stream of {threads} threads)", "model 1 stream"),
        ("model + heatmap -> coordinates", "model+decode"),
    ]
    for label, key in rows:
        rounds = ", ".join(f"{v:.0f}" for v in results[key])
        busy = statistics.median(cores[key])
        print(f"{label:38} {med[key]:10.1f} {busy:11.2f}   {rounds}")
    cpu_ms = ", ".join(
        f"{name} {statistics.median(times):.3f}" for name, times in decoder_cpu.items() if times
    )
    print(f"decoder CPU time, ms/frame over all its threads: {cpu_ms}")
    ratio = med["pipeline"] / limit
    verdict = "met" if ratio >= 0.9 else "NOT met"
    print()
    print(
        f"pipeline / min(decoder, model) = {med['pipeline']:.1f} / {limit:.1f} = {ratio:.1%} "
        f"(target >= 90 %: {verdict})"
    )
    print(
        "reference (issue, same CPU class): Lightning Pose 2.4.3 52 frames/s, its network 113, "
        "OpenCV decode 1,900 -> 46 % of its limit"
    )


if __name__ == "__main__":
    main()
