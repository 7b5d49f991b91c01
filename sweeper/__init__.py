"""Pose Sweeper: hyperparameter sweeps over the pose engine (space -> trial -> tracking -> promotion)."""

__version__ = "0.1.0"
