"""The LightningDataModule a config describes: labels, split, cached images, loaders."""

from __future__ import annotations

import math
import os
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader

from pose.config.schema import PoseConfig
from pose.data.augmentation import build_augmenter, lateral_partners
from pose.data.check import load_checked_labels, load_checked_multiview_labels
from pose.data.dataset import ImageCache, LabeledImageDataset, seed_worker
from pose.data.labels import LabeledData
from pose.data.multiview import Augment3D, MultiviewDataset, MultiviewImageCache
from pose.data.multiview_labels import MultiviewLabels, is_multiview
from pose.data.splits import Splits, split_indices
from pose.data.unlabeled import MultiviewClips, UnlabeledClips, VideoFrameCache
from pose.video_files import group_videos_by_view, video_dir_videos


def default_num_workers() -> int:
    """Loader workers when ``training.num_workers`` is null: one core stays with the model.

    Augmenting a 128x128 image costs ~2 ms, so a few workers keep up with any CPU step; more only
    steal cores from the step (on 2 cores, 1 worker trains 5 % faster than 2 and 13 % than 0).
    """
    return max(1, min(4, (os.cpu_count() or 1) - 1))


class PoseDataModule(L.LightningDataModule):
    """Reads and checks the labels, splits them, and decodes every image once for all splits;
    ``context_offsets`` (the model type's window, None for one frame) makes items windows of frames.

    With unsupervised losses (``model.losses_to_use``) the videos of ``data.video_dir`` are decoded
    once too (:mod:`pose.data.unlabeled`), and each training batch is ``{"labeled": ...,
    "unlabeled": ...}``: the labeled batch and a clip of ``dali.base.train.sequence_length``
    consecutive frames (context models: ``dali.context.train.batch_size`` consecutive windows).
    """

    def __init__(
        self,
        cfg: PoseConfig,
        context_offsets: tuple[int, ...] | None = None,
        augment_3d: Augment3D | None = None,
        consistent_views: bool = False,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.context_offsets = context_offsets
        self.augment_3d = augment_3d
        # the views must stay one calibrated scene (3D augmentation, the reprojection loss): the 2D
        # pipeline then never moves pixels
        self.consistent_views = consistent_views or augment_3d is not None
        self._ready = False

    def setup(self, stage: str | None = None) -> None:
        if self._ready:
            return
        cfg, t = self.cfg, self.cfg.training
        # multiview (one CSV per camera): a row is a moment, its keypoints the views side by side
        self.multiview: MultiviewLabels | None = (
            load_checked_multiview_labels(cfg) if is_multiview(cfg) else None
        )
        self.labels: LabeledData = (
            self.multiview.flat() if self.multiview is not None else load_checked_labels(cfg)
        )
        n = len(self.labels.image_paths)
        self.splits: Splits = split_indices(
            n, t.train_prob, t.val_prob, t.train_frames, t.rng_seed_data_pt
        )
        if self.multiview is not None:
            self._setup_multiview(self.multiview)
            return
        self.train_set: LabeledImageDataset | MultiviewDataset
        self.val_set: LabeledImageDataset | MultiviewDataset
        self.test_set: LabeledImageDataset | MultiviewDataset
        self.all_set: LabeledImageDataset | MultiviewDataset
        self.unlabeled: UnlabeledClips | MultiviewClips | None
        partners = lateral_partners(self.labels.keypoint_names) if t.imgaug_hflip else None
        self.cache = ImageCache(
            Path(cfg.data.data_dir),
            self.labels.image_paths,
            cfg.data.image_resize_dims.hw,
            self.context_offsets,
        )
        seed = t.rng_seed_data_pt
        self.train_set = LabeledImageDataset(
            self.cache, self.labels, self.splits.train, build_augmenter(t.imgaug), partners, seed
        )
        self.val_set = LabeledImageDataset(self.cache, self.labels, self.splits.validation)
        self.test_set = LabeledImageDataset(self.cache, self.labels, self.splits.test)
        self.all_set = LabeledImageDataset(self.cache, self.labels, np.arange(n))
        self.unlabeled = self._unlabeled_clips()
        self._ready = True

    def _setup_multiview(self, views: MultiviewLabels) -> None:
        t = self.cfg.training
        cache = MultiviewImageCache(
            Path(self.cfg.data.data_dir), views, self.cfg.data.image_resize_dims.hw
        )
        seed = t.rng_seed_data_pt
        augmenter = build_augmenter(t.imgaug, multiview_3d=self.consistent_views)
        self.train_set = MultiviewDataset(
            cache, views, self.splits.train, augmenter, seed, self.augment_3d
        )
        self.val_set = MultiviewDataset(cache, views, self.splits.validation)
        self.test_set = MultiviewDataset(cache, views, self.splits.test)
        self.all_set = MultiviewDataset(cache, views, np.arange(len(views)))
        self.unlabeled = self._multiview_clips(views)
        self._ready = True

    def _multiview_clips(self, views: MultiviewLabels) -> MultiviewClips | None:
        """The same moments of every view's video, for the unsupervised losses."""
        losses = list(self.cfg.model.losses_to_use)
        if not losses:
            return None
        videos = video_dir_videos(self.cfg.data.video_dir, self.cfg.data.data_dir, losses)
        sessions = group_videos_by_view(videos, views.views)
        return MultiviewClips(
            sessions,
            self.cfg.data.image_resize_dims.hw,
            self.cfg.dali.base.train.sequence_length,
            len(views.keypoint_names),
        )

    @property
    def clip_frames(self) -> int:
        """Consecutive unlabeled frames (context models: windows) per training step."""
        dali = self.cfg.dali
        if self.context_offsets:
            return dali.context.train.batch_size
        return dali.base.train.sequence_length

    def _unlabeled_clips(self) -> UnlabeledClips | None:
        """The unlabeled frames the losses need, decoded now so that a bad video fails before
        training writes anything."""
        losses = list(self.cfg.model.losses_to_use)
        if not losses:
            return None
        videos = video_dir_videos(self.cfg.data.video_dir, self.cfg.data.data_dir, losses)
        segment = max(256, 4 * self.clip_frames)
        cache = VideoFrameCache(videos, self.cfg.data.image_resize_dims.hw, segment)
        return UnlabeledClips(cache, self.clip_frames, 0, self.context_offsets)

    @property
    def keypoint_names(self) -> list[str]:
        """The keypoints of one view (the same in every view of a multiview set)."""
        if self.multiview is not None:
            return self.multiview.keypoint_names
        return self.labels.keypoint_names

    @property
    def views(self) -> list[str] | None:
        """The camera names of a multiview set, None for one view."""
        return self.multiview.views if self.multiview is not None else None

    @property
    def num_workers(self) -> int:
        workers = self.cfg.training.num_workers
        return default_num_workers() if workers is None else workers

    def _loader(
        self, dataset: LabeledImageDataset | MultiviewDataset, batch_size: int, train: bool = False
    ) -> DataLoader:
        # Evaluation items are plain slices of the cache: worker processes would only add start-up cost.
        workers = self.num_workers if train else 0
        generator = (
            torch.Generator().manual_seed(self.cfg.training.rng_seed_data_pt) if train else None
        )
        # under DDP each rank iterates its own shard (Lightning swaps in a DistributedSampler)
        ranks = self.trainer.world_size if self.trainer is not None else 1
        shard = math.ceil(len(dataset) / ranks)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            # an epoch is a full pass; only a last batch of one image is dropped (batch norm needs two)
            drop_last=train and shard % batch_size == 1,
            num_workers=workers,
            persistent_workers=workers > 0 and train,
            worker_init_fn=seed_worker,
            generator=generator,
            pin_memory=torch.cuda.is_available() and self.cfg.training.num_gpus > 0,
        )

    def train_dataloader(self) -> DataLoader | CombinedLoader:
        labeled = self._loader(self.train_set, self.cfg.training.train_batch_size, train=True)
        clips = self.unlabeled
        if clips is None:
            return labeled
        rank = self.trainer.global_rank if self.trainer is not None else 0
        clips.length = len(labeled)  # one clip per labeled batch
        clips.reseed(self.cfg.training.rng_seed_data_pt + 7919 * rank)  # ranks draw different clips
        # each item is already a clip; slices of the in-memory cache need no worker processes
        unlabeled = DataLoader(clips, batch_size=None, shuffle=False, num_workers=0)
        return CombinedLoader({"labeled": labeled, "unlabeled": unlabeled}, mode="min_size")

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.cfg.training.val_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, self.cfg.training.test_batch_size)

    def labeled_dataloader(self) -> DataLoader:
        """Every labeled row in CSV order, without augmentation (for writing predictions)."""
        return self._loader(self.all_set, self.cfg.training.test_batch_size)

    def split_of_rows(self) -> np.ndarray:
        """``train`` / ``validation`` / ``test`` / ``unused`` for each CSV row."""
        out = np.full(len(self.labels.image_paths), "unused", dtype=object)
        out[self.splits.train] = "train"
        out[self.splits.validation] = "validation"
        out[self.splits.test] = "test"
        return out
