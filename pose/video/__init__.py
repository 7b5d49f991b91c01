"""Videos: readers (a registry of CPU/GPU decoders) and labeled-video writing."""

from pose.video.labeled import write_labeled_video
from pose.video.readers import READERS, VideoInfo, VideoReader, open_video, resized_batches

__all__ = [
    "READERS",
    "VideoInfo",
    "VideoReader",
    "open_video",
    "resized_batches",
    "write_labeled_video",
]
