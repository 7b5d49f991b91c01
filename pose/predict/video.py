"""Predict keypoints on every frame of a video, streaming: decode overlaps inference, memory is flat.

On a CPU the network runs as parallel streams of whole batches (``pose.predict.streams``).

Writes ``video_preds/<stem>.csv`` (DeepLabCut layout, one row per frame, original-video pixels),
``video_preds/<stem>_temporal_norm.csv`` (per-keypoint distance moved since the previous frame), the
label-free metrics' ``<stem>_pca_*_error.csv`` when the model carries them
(:mod:`pose.predict.label_free`) and, on request, ``video_preds/labeled_videos/<stem>_labeled.mp4``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pose.data.heatmaps import rescale_pixels
from pose.errors import DataError
from pose.predict.dlc_csv import predictions_frame, write_csv
from pose.predict.images import TrainedModel
from pose.predict.streams import ordered_map, stream_count, threads_per_stream
from pose.predict.windows import ContextWindows
from pose.train.precision import autocast
from pose.video.labeled import write_labeled_video
from pose.video.readers import VideoInfo, open_video
from pose.video_files import find_videos

PREDICTIONS_DIR = "video_preds"
_DONE = object()


@dataclass
class VideoPrediction:
    video: Path
    frames: int
    csv: Path
    temporal_norm_csv: Path
    labeled_video: Path | None
    # label-free summary: mean PCA reprojection errors, temporal jump rate (empty without labels)
    metrics: dict[str, float]


def _prefetch(batches: Iterator[Any], depth: int = 2) -> Generator[Any, None, None]:
    """Decode and resize in a thread (FFmpeg and OpenCV release the GIL) while the model runs.

    Closing the generator (or a failure on either side) stops the thread promptly: it never
    blocks on a full queue the consumer has left.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    failure: list[BaseException] = []
    stop = threading.Event()

    def put(item: Any) -> bool:
        """Queue ``item`` unless the consumer has stopped; False when it has."""
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
        except BaseException as err:  # re-raised in the consumer
            failure.append(err)
        finally:
            put(_DONE)

    thread = threading.Thread(target=produce, daemon=True, name="video-decode")
    thread.start()
    try:
        while (item := buffer.get()) is not _DONE:
            yield item
    finally:
        stop.set()  # the producer exits at its next put attempt
        thread.join(timeout=5)
    if failure:
        raise failure[0]


def predict_batch_size(trained: TrainedModel) -> int:
    """Frames per batch: ``dali.context.predict.sequence_length`` for context models, else
    ``dali.base.predict.sequence_length``."""
    dali = trained.cfg.dali
    context = trained.module.model.context_offsets is not None
    return (dali.context if context else dali.base).predict.sequence_length


def temporal_norm(xy: np.ndarray) -> np.ndarray:
    """``[N, K]`` distance each keypoint moved since the previous frame (NaN on the first)."""
    out = np.full(xy.shape[:2], np.nan, dtype=np.float32)
    if len(xy) > 1:
        out[1:] = np.linalg.norm(np.diff(xy, axis=0), axis=-1)
    return out


@torch.inference_mode()
def predict_video(
    trained: TrainedModel,
    video: str | Path,
    output_dir: str | Path,
    *,
    reader: str = "auto",
    save_video: bool = False,
    batch_size: int | None = None,
    streams: int | None = None,
    on_start: Callable[[VideoInfo], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> VideoPrediction:
    """Predict every frame of ``video`` into ``output_dir/video_preds`` (see module docstring);
    ``streams`` defaults to ``stream_count`` of the model's device. ``on_start`` gets the video's
    header once it is open (e.g. a progress bar's total), ``on_batch`` each batch's frame count."""
    video = Path(video)
    source = open_video(video, reader)
    if on_start is not None:
        on_start(source.info)
    module, cfg = trained.module, trained.cfg
    hw = cfg.data.image_resize_dims.hw
    offsets = module.model.context_offsets
    batch_size = batch_size or predict_batch_size(trained)
    info = source.info
    scale = torch.tensor(
        [info.width / hw[1], info.height / hw[0]], device=module.device, dtype=torch.float32
    )
    # context models: the backbone runs once per frame, windows are assembled from its maps
    windows = ContextWindows(offsets) if offsets else None
    xys, confs = [], []

    def keypoints(output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xy, conf = module.model.kind.decode(output)
        return rescale_pixels(xy.float(), scale), conf.float()

    def network(batch: Any) -> tuple[int, Any]:
        """One batch on one stream (grad and autocast modes are per thread, so entered here):
        its frame count and keypoints, or a context model's per-frame maps."""
        with torch.inference_mode(), autocast(module.device, trained.precision):
            images = torch.as_tensor(batch).permute(0, 3, 1, 2).to(module.device, non_blocking=True)
            if windows is None:
                return len(images), keypoints(module(images))
            return len(images), module.encode_frames(images)

    def collect(xy: torch.Tensor, conf: torch.Tensor) -> None:
        xys.append(xy.cpu().numpy())
        confs.append(conf.cpu().numpy())

    def combine(ready: torch.Tensor) -> None:
        if len(ready):
            with autocast(module.device, trained.precision):
                collect(*keypoints(module.model.combine(ready)))

    streams = stream_count(module.device) if streams is None else streams
    if streams < 1:
        raise ValueError(f"streams: expected at least 1, got {streams}")
    # closing: a failed batch stops the decode thread now, not when its traceback is freed
    prefetched = _prefetch(source.batches(hw, batch_size))
    with closing(prefetched) as batches, threads_per_stream(streams):
        for count, result in ordered_map(network, batches, streams):
            if windows is None:
                collect(*result)
            else:
                combine(windows.push(result))
            if on_batch is not None:
                on_batch(count)
        if windows is not None and windows.pending:
            combine(windows.finish())
    if not xys:
        raise DataError(f"video {video}: no frames could be decoded")
    xy_all, conf_all = np.concatenate(xys), np.concatenate(confs)

    out = Path(output_dir) / PREDICTIONS_DIR
    names = trained.keypoint_names
    frames = np.arange(len(xy_all))
    csv = out / f"{video.stem}.csv"
    write_csv(predictions_frame([str(i) for i in frames], names, xy_all, conf_all), csv)
    norm_csv = out / f"{video.stem}_temporal_norm.csv"
    norms = pd.DataFrame(temporal_norm(xy_all), index=frames, columns=names)
    write_csv(norms, norm_csv)
    label_free = trained.label_free
    metrics = label_free.write(xy_all, names, out, video.stem) if label_free is not None else {}
    labeled = None
    if save_video:
        labeled = out / "labeled_videos" / f"{video.stem}_labeled.mp4"
        write_labeled_video(
            source.frames(),  # the reader opens the file afresh
            xy_all,
            conf_all,
            labeled,
            info.fps,
            cfg.eval.colormap,
            cfg.eval.confidence_thresh_for_vid,
        )
    return VideoPrediction(video, len(xy_all), csv, norm_csv, labeled, metrics)


def predict_videos_after_training(trained: TrainedModel, output_dir: Path) -> dict[str, Any]:
    """``eval.predict_vids_after_training``: every video of ``eval.test_videos_directory``.

    A video that cannot be read fails its own entry (``{"error": ...}``), never the training run.
    """
    cfg = trained.cfg
    directory = cfg.eval.test_videos_directory
    if not directory or not Path(directory).is_dir():
        return {"error": f"eval.test_videos_directory {directory!r} is not a directory"}
    results: dict[str, Any] = {}
    for video in find_videos([Path(directory)]):
        try:
            done = predict_video(
                trained, video, output_dir, save_video=cfg.eval.save_vids_after_training
            )
            results[video.name] = {"frames": done.frames, **done.metrics}
        except DataError as err:
            results[video.name] = {"error": str(err)}
    return results
