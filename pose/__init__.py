"""Pose Sweeper pose-estimation engine: config -> data -> model -> train -> predict."""

__version__ = "0.1.0"
