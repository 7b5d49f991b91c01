"""Evaluate a fitted model: predict every labeled frame, write the predictions and their errors,
score each split, and predict the test videos when the config asks (``eval.*``).

Separate from fitting so that a model that was not fitted just now (an ensemble member, a
promoted model) is evaluated the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pose.data.multiview import load_rig
from pose.errors import DataError
from pose.geometry import CameraRig
from pose.predict.dlc_csv import points_3d_frame, write_csv
from pose.predict.images import TrainedModel
from pose.predict.label_free import LabelFreeMetrics, mean_over_videos
from pose.predict.labeled import (
    predict_labeled,
    split_pixel_errors,
    write_labeled_predictions,
    write_multiview_predictions,
)
from pose.predict.multiview_video import predict_sessions, triangulate_predictions
from pose.predict.video import predict_videos_after_training
from pose.train import FitResult
from pose.video_files import find_videos

METRICS_FILE = "metrics.json"


def evaluate(fitted: FitResult) -> dict[str, Any]:
    """Write ``predictions.csv`` and ``predictions_pixel_error.csv`` (and video predictions when
    ``eval.predict_vids_after_training``) into the fit's output directory, then ``metrics.json``:
    the fit's figures with the mean pixel error per split and, with videos, the label-free video
    metrics per video and their means (``video``). Returns those metrics; a DDP rank other
    than the first evaluates nothing and returns ``{}``."""
    if not fitted.is_global_zero:
        return {}
    module, data, out = fitted.module, fitted.datamodule, fitted.output_dir
    predictions = predict_labeled(module, data.labeled_dataloader(), fitted.precision)
    split_of_rows = data.split_of_rows()
    rig = load_rig(module.cfg) if data.multiview is not None else None
    if data.multiview is not None:
        mv = data.multiview
        write_multiview_predictions(
            out, mv.views, mv.image_paths, mv.keypoint_names, predictions, split_of_rows
        )
        if rig is not None:  # the labeled moments in 3D, beside the views' 2D predictions
            n, k = len(mv), len(mv.keypoint_names)
            xyz = triangulate_predictions(
                predictions.xy.reshape(n, mv.num_views, k, 2),
                predictions.likelihood.reshape(n, mv.num_views, k),
                rig,
            )
            write_csv(
                points_3d_frame(mv.image_paths[0], mv.keypoint_names, xyz),
                out / "predictions_3d.csv",
            )
    else:
        write_labeled_predictions(
            out, data.labels.image_paths, data.keypoint_names, predictions, split_of_rows
        )
    pixel_error = split_pixel_errors(predictions.errors, split_of_rows)
    metrics = {  # best_val_loss first, as metrics.json has always begun
        "best_val_loss": fitted.metrics.get("best_val_loss"),
        "pixel_error": pixel_error,
        "val_pixel_error": pixel_error["validation"],
        "test_pixel_error": pixel_error["test"],
        **fitted.metrics,
    }
    if data.multiview is not None:  # each camera's mean error per split
        k = len(data.keypoint_names)
        metrics["pixel_error_by_view"] = {
            view: split_pixel_errors(predictions.errors[:, v * k : (v + 1) * k], split_of_rows)
            for v, view in enumerate(data.multiview.views)
        }
    cfg = module.cfg
    if cfg.eval.predict_vids_after_training and data.multiview is not None:
        trained = TrainedModel(module, cfg, fitted.precision)
        metrics["videos"] = _predict_sessions_after_training(trained, out, rig)
    elif cfg.eval.predict_vids_after_training:
        label_free = LabelFreeMetrics.fit(cfg, data.labels.keypoints[data.splits.train])
        trained = TrainedModel(module, cfg, fitted.precision, label_free)
        videos = predict_videos_after_training(trained, out)
        metrics["videos"] = videos
        # the label-free figures averaged over the videos, e.g. video.pca_singleview_error
        metrics["video"] = mean_over_videos(
            {k: v for k, v in videos.items() if isinstance(v, dict) and "error" not in v}
        )
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    return metrics


def _predict_sessions_after_training(
    trained: TrainedModel, out: Path, rig: CameraRig | None
) -> dict[str, Any]:
    """Every synchronized set of ``eval.test_videos_directory``; a set that cannot be read fails
    its own entry, never the training run."""
    directory = trained.cfg.eval.test_videos_directory
    if not directory or not Path(directory).is_dir():
        return {"error": f"eval.test_videos_directory {directory!r} is not a directory"}
    try:
        done = predict_sessions(
            trained,
            find_videos([Path(directory)]),
            out,
            rig=rig,
            save_video=trained.cfg.eval.save_vids_after_training,
        )
    except DataError as err:
        return {"error": str(err)}
    return {
        name: {"frames": p.frames, "views": [v.name for v in p.videos]} for name, p in done.items()
    }
