"""Prediction on labeled frames and the DeepLabCut-format CSV writers."""

from pose.predict.dlc_csv import errors_frame, predictions_frame, read_predictions, write_csv

__all__ = ["errors_frame", "predictions_frame", "read_predictions", "write_csv"]
