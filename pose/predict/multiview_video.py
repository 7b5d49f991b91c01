"""Predict synchronized videos of every camera with a multiview model: one DLC CSV per view, the
triangulated 3D keypoints when the rig is calibrated, and a labeled video per view on request.

The views are decoded side by side, one batch of each at a time (a thread decodes ahead while the
model runs); a view whose video ends before the others is an error naming the videos.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pose.data.heatmaps import rescale_pixels
from pose.data.unlabeled import check_synchronized
from pose.errors import DataError
from pose.geometry import CameraRig, triangulate
from pose.predict.dlc_csv import points_3d_frame, predictions_frame, write_csv
from pose.predict.images import TrainedModel
from pose.predict.video import PREDICTIONS_DIR, _prefetch, predict_batch_size, temporal_norm
from pose.train.precision import autocast
from pose.video.labeled import write_labeled_video
from pose.video.readers import open_video
from pose.video_files import session_of


@dataclass
class MultiviewPrediction:
    videos: list[Path]
    frames: int
    csvs: list[Path]
    csv_3d: Path | None
    labeled_videos: list[Path]


def triangulate_predictions(xy: np.ndarray, confidence: np.ndarray, rig: CameraRig) -> np.ndarray:
    """3D keypoints ``[N, K, 3]`` of predictions ``[N, V, K, 2]`` (original pixels), each view
    weighted by its confidence ``[N, V, K]``, so an unsure view moves the point less."""
    cams = rig.to_tensors(dtype=torch.float64)
    points = triangulate(
        torch.from_numpy(np.asarray(xy, dtype=np.float64)),
        cams,
        torch.from_numpy(np.asarray(confidence, dtype=np.float64)),
    )
    return points.numpy()


def _lockstep(videos: Sequence[Path], sources: list[Any], hw: tuple[int, int], size: int):
    """Batches ``[B, V, H, W, 3]`` of the same frames of every view."""
    streams: list[Iterator[Any]] = [iter(s.batches(hw, size)) for s in sources]
    counts = [0] * len(streams)
    while True:
        batches = [next(stream, None) for stream in streams]
        ended = [b is None for b in batches]
        if all(ended):
            return
        if any(ended) or len({len(b) for b in batches if b is not None}) > 1:
            for i, b in enumerate(batches):
                counts[i] += 0 if b is None else len(b)
            detail = ", ".join(f"{v.name}: {n}+" for v, n in zip(videos, counts, strict=True))
            raise DataError(
                f"synchronized videos disagree in frame count ({detail}); every view of a "
                "session must hold the same moments"
            )
        arrays = [
            b.cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b) for b in batches
        ]
        for i, a in enumerate(arrays):
            counts[i] += len(a)
        yield np.stack(arrays, axis=1)


@torch.inference_mode()
def predict_multiview_videos(
    trained: TrainedModel,
    videos: Sequence[str | Path],
    output_dir: str | Path,
    *,
    rig: CameraRig | None = None,
    reader: str = "auto",
    save_video: bool = False,
    session: str | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> MultiviewPrediction:
    """Predict one synchronized set ``videos`` (in the model's view order) into
    ``output_dir/video_preds``: ``<video stem>.csv`` and ``<stem>_temporal_norm.csv`` per view,
    ``<session>_3d.csv`` with ``rig``, and ``labeled_videos/<stem>_labeled.mp4`` per view."""
    paths = [Path(v) for v in videos]
    module, cfg = trained.module, trained.cfg
    hw = cfg.data.image_resize_dims.hw
    sources = [open_video(p, reader) for p in paths]
    k = len(trained.keypoint_names)
    scale = torch.tensor(
        [[s.info.width / hw[1], s.info.height / hw[0]] for s in sources],
        device=module.device,
        dtype=torch.float32,
    ).repeat_interleave(k, 0)  # [V * K, 2]
    xys, confs = [], []
    for batch in _prefetch(_lockstep(paths, sources, hw, predict_batch_size(trained))):
        images = torch.as_tensor(batch).permute(0, 1, 4, 2, 3).to(module.device)
        with autocast(module.device, trained.precision):
            xy, conf = module.model.kind.decode(module(images))
        xys.append(rescale_pixels(xy.float(), scale).cpu().numpy())
        confs.append(conf.float().cpu().numpy())
        if on_batch is not None:
            on_batch(len(images))
    if not xys:
        raise DataError(f"videos {', '.join(map(str, paths))}: no frames could be decoded")
    n, v = sum(len(x) for x in xys), len(paths)
    xy_all = np.concatenate(xys).reshape(n, v, k, 2)
    conf_all = np.concatenate(confs).reshape(n, v, k)

    out = Path(output_dir) / PREDICTIONS_DIR
    names = trained.keypoint_names
    index = [str(i) for i in range(n)]
    csvs, labeled = [], []
    for view, path in enumerate(paths):
        csv = out / f"{path.stem}.csv"
        write_csv(predictions_frame(index, names, xy_all[:, view], conf_all[:, view]), csv)
        norms = pd.DataFrame(temporal_norm(xy_all[:, view]), index=range(n), columns=names)
        write_csv(norms, out / f"{path.stem}_temporal_norm.csv")
        csvs.append(csv)
        if save_video:
            target = out / "labeled_videos" / f"{path.stem}_labeled.mp4"
            write_labeled_video(
                sources[view].frames(),
                xy_all[:, view],
                conf_all[:, view],
                target,
                sources[view].info.fps,
                cfg.eval.colormap,
                cfg.eval.confidence_thresh_for_vid,
            )
            labeled.append(target)
    csv_3d = None
    if rig is not None:
        csv_3d = out / f"{session or paths[0].stem}_3d.csv"
        write_csv(
            points_3d_frame(index, names, triangulate_predictions(xy_all, conf_all, rig)), csv_3d
        )
    return MultiviewPrediction(paths, n, csvs, csv_3d, labeled)


def session_name(videos: Sequence[Path], views: Sequence[str]) -> str:
    """The session a synchronized set names: its first video's stem without the view name."""
    return session_of(videos[0].stem, views[0])


def predict_sessions(
    trained: TrainedModel,
    videos: Sequence[Path],
    output_dir: str | Path,
    *,
    rig: CameraRig | None = None,
    reader: str = "auto",
    save_video: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, MultiviewPrediction]:
    """Pair ``videos`` into synchronized sets by view name and predict each; keyed by session."""
    from pose.data.multiview_labels import view_names
    from pose.video_files import group_videos_by_view

    views = view_names(trained.cfg)
    sessions = group_videos_by_view(videos, views)
    check_synchronized(sessions, reader)
    out = {}
    for session in sessions:
        name = session_name(session, views)
        out[name] = predict_multiview_videos(
            trained,
            session,
            output_dir,
            rig=rig,
            reader=reader,
            save_video=save_video,
            session=name,
            on_batch=on_batch,
        )
    return out
