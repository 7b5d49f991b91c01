"""Videos: readers (a registry of CPU/GPU decoders) and labeled-video writing."""

from pose.video import dali  # noqa: F401 - registers the DALI reader
from pose.video.labeled import write_labeled_video
from pose.video.readers import READERS, VideoInfo, VideoReader, batched, open_video

__all__ = [
    "READERS",
    "VideoInfo",
    "VideoReader",
    "open_video",
    "batched",
    "write_labeled_video",
]
