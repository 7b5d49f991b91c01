"""Prediction on labeled frames and the DeepLabCut-format CSV writers."""

from pose.predict.dlc_csv import (
    errors_frame,
    flat_predictions,
    is_predictions_csv,
    predictions_frame,
    read_predictions,
    write_csv,
)
from pose.video_files import VIDEO_EXTENSIONS, find_videos

__all__ = [
    "VIDEO_EXTENSIONS",
    "errors_frame",
    "find_videos",
    "flat_predictions",
    "is_predictions_csv",
    "predictions_frame",
    "read_predictions",
    "write_csv",
]
