"""Checks that span several keys or need a registry, run after the schema has checked types.

Allowed names come from ``pose.config.catalog``, torch-free tables of what the engine's
registries hold (backbones, model types, losses, augmentation pipelines, optimizers); a test holds
each table equal to its registry, so validation cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pose.config.schema import SUPPORTED_RESIZE_DIMS, PoseConfig
from pose.errors import ConfigError
from pose.registry import Registry

# Names Lightning Pose defines that this engine accepts in a config but does not train yet.
UNTRAINED_MODEL_TYPES: tuple[str, ...] = ()
PRECISIONS = ("auto", "32", "bf16", "16")
DOWNSAMPLE_FACTORS = (1, 2, 3)
# (min, max, unfreezing, milestones) keys of each training-length mode
_LENGTH_KEYS = {
    "epochs": ("min_epochs", "max_epochs", "unfreezing_epoch", "milestones"),
    "steps": ("min_steps", "max_steps", "unfreezing_step", "milestone_steps"),
}


class _Checker:
    """Raises the first failed check as one line: ``SOURCE: config key 'KEY': expected ..., got ...``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, expectation: str, value: Any) -> None:
        raise ConfigError(
            f"{self.source}: config key {key!r}: expected {expectation}, got {value!r}"
        )

    def check(self, ok: bool, key: str, expectation: str, value: Any) -> None:
        if not ok:
            self.fail(key, expectation, value)

    def int_at_least(self, key: str, value: Any, low: int, allow_none: bool = False) -> None:
        if value is None and allow_none:
            return
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        self.check(ok, key, f"an integer >= {low}", value)

    def probability(self, key: str, value: Any) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0
        self.check(ok, key, "a probability in [0, 1]", value)

    def registered(
        self, key: str, value: Any, registry: Registry, extra: Sequence[str] = ()
    ) -> None:
        if value in registry or value in extra:
            return
        names = [*registry.names(), *extra]
        plural = registry.kind + ("es" if registry.kind.endswith("s") else "s")
        self.fail(key, f"one of the registered {plural} ({', '.join(names)})", value)


def validate_config(
    cfg: PoseConfig, source: str = "config", mode: str = "epochs", registries: bool = True
) -> None:
    """Raise :class:`ConfigError` for the first value that breaks a rule of the spec.

    Names looked up in registries come last, and only with ``registries``: they import matplotlib
    (the colormap) and, for a custom augmentation pipeline, imgaug, so a first pass without them
    answers plain mistakes in a fraction of a second.
    """
    c = _Checker(source)
    _check_data(c, cfg)
    _check_training(c, cfg, mode)
    _check_model(c, cfg)
    _check_losses_eval(c, cfg)
    if registries:
        _check_registered(c, cfg)


def _check_data(c: _Checker, cfg: PoseConfig) -> None:
    d = cfg.data
    for side in ("height", "width"):
        value = getattr(d.image_resize_dims, side)
        c.check(
            value in SUPPORTED_RESIZE_DIMS,
            f"data.image_resize_dims.{side}",
            f"one of {set(SUPPORTED_RESIZE_DIMS)}",
            value,
        )
    c.check(
        d.downsample_factor in DOWNSAMPLE_FACTORS,
        "data.downsample_factor",
        f"one of {DOWNSAMPLE_FACTORS}",
        d.downsample_factor,
    )
    c.int_at_least("data.num_keypoints", d.num_keypoints, 1, allow_none=True)
    if d.keypoint_names is not None:
        c.check(
            len(set(d.keypoint_names)) == len(d.keypoint_names),
            "data.keypoint_names",
            "unique names",
            d.keypoint_names,
        )
        if d.num_keypoints is not None and len(d.keypoint_names) != d.num_keypoints:
            c.fail(
                "data.keypoint_names",
                f"{d.num_keypoints} names (data.num_keypoints)",
                f"{len(d.keypoint_names)} names",
            )
    csv = d.csv_file
    ok = isinstance(csv, str) or (
        isinstance(csv, list) and csv and all(isinstance(x, str) for x in csv)
    )
    c.check(bool(ok), "data.csv_file", "a file path or a list of file paths", csv)
    if isinstance(csv, list) and d.view_names is not None and len(d.view_names) != len(csv):
        c.fail("data.view_names", f"one name per csv file ({len(csv)})", d.view_names)
    if isinstance(csv, list):
        c.check(len(csv) >= 2, "data.csv_file", "one label file per camera, two or more", csv)
        matches = d.mirrored_column_matches
        c.check(
            not (isinstance(matches, list) and any(isinstance(m, list) for m in matches)),
            "data.mirrored_column_matches",
            "with one label file per camera, a flat list of the keypoint columns every camera sees "
            "(e.g. [0, 2, 3]); lists per view are for one file holding mirrored views",
            matches,
        )
        names = d.view_names or []
        c.check(len(set(names)) == len(names), "data.view_names", "unique camera names", names)
    bbox = d.bbox_file
    if bbox is not None and isinstance(csv, list):
        c.check(
            isinstance(bbox, list) and all(isinstance(x, str) for x in bbox),
            "data.bbox_file",
            f"a list of bounding-box files, one per csv file ({len(csv)})",
            bbox,
        )
        c.check(
            len(bbox) == len(csv),
            "data.bbox_file",
            f"one bounding-box file per csv file ({len(csv)})",
            bbox,
        )
    elif bbox is not None:
        c.check(isinstance(bbox, str), "data.bbox_file", "a bounding-box file path", bbox)
    _check_keypoint_references(c, cfg)


def _check_keypoint_references(c: _Checker, cfg: PoseConfig) -> None:
    """Keys that name keypoints by column or give one value per keypoint; checked against
    ``data.num_keypoints`` when known (again by :func:`check_keypoint_references` once training
    has read the keypoints from the CSV)."""
    d = cfg.data
    _check_columns(
        c, "data.columns_for_singleview_pca", d.columns_for_singleview_pca, d.num_keypoints
    )
    views = d.mirrored_column_matches
    if isinstance(views, list) and all(isinstance(i, int) for i in views):
        # Lightning Pose's multiview form: the keypoints every camera's file holds
        _check_columns(c, "data.mirrored_column_matches", views, d.num_keypoints)
    elif views is not None:
        ok = isinstance(views, list) and len(views) >= 2 and all(isinstance(v, list) for v in views)
        c.check(
            ok,
            "data.mirrored_column_matches",
            "two or more lists of column indices (one per view)",
            views,
        )
        c.check(
            len({len(v) for v in views}) == 1,
            "data.mirrored_column_matches",
            "lists of equal length (the same keypoints in each view)",
            [len(v) for v in views],
        )
        _check_columns(
            c, "data.mirrored_column_matches", [i for v in views for i in v], d.num_keypoints
        )
    eps = cfg.losses.temporal.epsilon
    if isinstance(eps, list) and d.num_keypoints is not None:
        c.check(
            len(eps) == d.num_keypoints,
            "losses.temporal.epsilon",
            f"one value per keypoint ({d.num_keypoints})",
            f"{len(eps)} values",
        )


def check_keypoint_references(cfg: PoseConfig, source: str = "config") -> None:
    """Raise :class:`ConfigError` for a column index or per-keypoint list that does not fit
    ``data.num_keypoints`` (for configs that leave the count to the CSV)."""
    _check_keypoint_references(_Checker(source), cfg)


def _check_columns(c: _Checker, key: str, columns: Any, num_keypoints: int | None) -> None:
    """Keypoint column indices: whole numbers, each once, within ``num_keypoints`` when known."""
    if columns is None:
        return
    ok = isinstance(columns, list) and all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in columns
    )
    c.check(ok, key, "a list of keypoint column indices (whole numbers from 0)", columns)
    repeated = sorted({i for i in columns if columns.count(i) > 1})
    c.check(not repeated, key, "each keypoint column once", f"{repeated} repeated")
    if num_keypoints is not None:
        bad = [i for i in columns if i >= num_keypoints]
        c.check(not bad, key, f"indices in [0, {num_keypoints}) (data.num_keypoints)", bad)


def _check_training(c: _Checker, cfg: PoseConfig, mode: str) -> None:
    t = cfg.training
    if t.imgaug_hflip and isinstance(cfg.data.csv_file, list):
        c.fail("training.imgaug_hflip", "false for multiview configs (several csv files)", True)
    if t.imgaug_3d and not isinstance(cfg.data.csv_file, list):
        c.fail(
            "training.imgaug_3d",
            "false for one camera (3D augmentation moves calibrated views of a multiview config)",
            True,
        )
    for key in (
        "train_batch_size",
        "val_batch_size",
        "test_batch_size",
        "accumulate_grad_batches",
        "log_every_n_steps",
        "check_val_every_n_epoch",
        "early_stop_patience",
    ):
        c.int_at_least(f"training.{key}", getattr(t, key), 1)
    c.int_at_least("training.num_gpus", t.num_gpus, 0)
    c.int_at_least("training.num_workers", t.num_workers, 0, allow_none=True)
    c.probability("training.train_prob", t.train_prob)
    c.probability("training.val_prob", t.val_prob)
    c.check(
        t.train_prob + t.val_prob <= 1.0 + 1e-9,
        "training.val_prob",
        f"at most 1 - training.train_prob = {1 - t.train_prob:g}",
        t.val_prob,
    )
    c.check(t.train_prob > 0, "training.train_prob", "a probability > 0", t.train_prob)
    tf = t.train_frames
    ok = (isinstance(tf, float) and 0 < tf <= 1) or (
        isinstance(tf, int) and not isinstance(tf, bool) and tf >= 1
    )
    c.check(ok, "training.train_frames", "a fraction in (0, 1] or a frame count >= 1", tf)
    ms = t.lr_scheduler_params.multisteplr
    # the same rules for epoch-based and step-based training, on that mode's keys
    low_key, high_key, unfreeze_key, milestone_name = _LENGTH_KEYS[mode]
    low, high = getattr(t, low_key), getattr(t, high_key)
    c.int_at_least(f"training.{high_key}", high, 1)
    c.int_at_least(f"training.{low_key}", low, 0)
    c.check(low <= high, f"training.{low_key}", f"<= training.{high_key} ({high})", low)
    c.int_at_least(f"training.{unfreeze_key}", getattr(t, unfreeze_key), 0)
    milestones = getattr(ms, milestone_name) or []
    milestone_key = f"training.lr_scheduler_params.multisteplr.{milestone_name}"
    limit, limit_key = high, f"training.{high_key}"
    c.check(
        all(isinstance(m, int) and m >= 1 for m in milestones),
        milestone_key,
        "positive integers",
        milestones,
    )
    c.check(list(milestones) == sorted(milestones), milestone_key, "increasing values", milestones)
    beyond = [m for m in milestones if m > limit]
    c.check(not beyond, milestone_key, f"values <= {limit_key} ({limit})", milestones)
    c.check(
        0 < ms.gamma <= 1,
        "training.lr_scheduler_params.multisteplr.gamma",
        "a factor in (0, 1]",
        ms.gamma,
    )
    if t.ckpt_every_n_epochs is not None:
        c.int_at_least("training.ckpt_every_n_epochs", t.ckpt_every_n_epochs, 1)
        c.check(
            t.ckpt_every_n_epochs % t.check_val_every_n_epoch == 0,
            "training.ckpt_every_n_epochs",
            f"a multiple of training.check_val_every_n_epoch ({t.check_val_every_n_epoch})",
            t.ckpt_every_n_epochs,
        )
    c.check(
        t.optimizer_params.learning_rate > 0,
        "training.optimizer_params.learning_rate",
        "a positive number",
        t.optimizer_params.learning_rate,
    )
    c.check(
        t.precision in PRECISIONS,
        "training.precision",
        f"one of {', '.join(PRECISIONS)}",
        t.precision,
    )
    c.probability("training.patch_mask.init_ratio", t.patch_mask.init_ratio)
    c.probability("training.patch_mask.final_ratio", t.patch_mask.final_ratio)


def _check_model(c: _Checker, cfg: PoseConfig) -> None:
    """What the unsupervised losses need from the data section (their names are checked against
    the registry in ``_check_registered``)."""
    losses = list(cfg.model.losses_to_use)
    c.check(len(set(losses)) == len(losses), "model.losses_to_use", "each loss once", losses)
    multiview = isinstance(cfg.data.csv_file, list)
    if "pca_singleview" in losses and multiview:
        c.fail(
            "model.losses_to_use",
            "pca_multiview or temporal for one label file per camera (pca_singleview compares one "
            "camera's pose; it is not trained on multiview data yet)",
            losses,
        )
    if "pca_multiview" in losses and not multiview:
        c.check(
            cfg.data.mirrored_column_matches is not None,
            "data.mirrored_column_matches",
            "the keypoints' columns per view (e.g. [[0, 1, 2], [3, 4, 5]]), which pca_multiview compares",
            None,
        )
    if losses and cfg.data.video_dir in (None, ""):
        c.fail(
            "data.video_dir",
            f"a directory of videos, whose frames {', '.join(losses)} train on",
            None,
        )


def _check_losses_eval(c: _Checker, cfg: PoseConfig) -> None:
    losses = cfg.losses
    c.probability("losses.temporal.prob_threshold", losses.temporal.prob_threshold)
    k = losses.pca_singleview.components_to_keep
    ok = (isinstance(k, float) and 0 < k <= 1) or (
        isinstance(k, int) and not isinstance(k, bool) and k >= 1
    )
    c.check(
        ok,
        "losses.pca_singleview.components_to_keep",
        "a variance fraction in (0, 1] or a count >= 1",
        k,
    )
    k = losses.pca_multiview.components_to_keep
    c.check(
        isinstance(k, (int, float)) and not isinstance(k, bool) and k > 0,
        "losses.pca_multiview.components_to_keep",
        "a positive number (pca_multiview keeps 3 components, one per spatial dimension)",
        k,
    )
    eps = losses.temporal.epsilon
    numbers = [eps] if isinstance(eps, (int, float)) and not isinstance(eps, bool) else eps
    ok = isinstance(numbers, list) and all(
        isinstance(e, (int, float)) and not isinstance(e, bool) and e >= 0 for e in numbers
    )
    c.check(
        ok and bool(numbers),
        "losses.temporal.epsilon",
        "a number >= 0 or a list of them (one per keypoint), in pixels",
        eps,
    )
    for name in ("pca_singleview", "pca_multiview"):
        eps = getattr(losses, name).epsilon
        c.check(
            eps is None
            or (isinstance(eps, (int, float)) and not isinstance(eps, bool) and eps >= 0),
            f"losses.{name}.epsilon",
            "null (from the labels' own reprojection errors) or a number >= 0, in pixels",
            eps,
        )
    c.probability("eval.confidence_thresh_for_vid", cfg.eval.confidence_thresh_for_vid)


def _check_registered(c: _Checker, cfg: PoseConfig) -> None:
    """Names a registry must hold (read from the torch-free catalog), a custom augmentation
    pipeline's classes and arguments (which imports imgaug), and matplotlib's colormaps."""
    import matplotlib

    from pose.config.catalog import (
        AUGMENTATIONS,
        BACKBONES,
        HEATMAP_LOSSES,
        LR_SCHEDULERS,
        MODEL_TYPES,
        OPTIMIZERS,
        UNSUPERVISED_LOSSES,
    )

    t, m = cfg.training, cfg.model
    if isinstance(t.imgaug, str):  # a pipeline's name: no need to build it
        if t.imgaug not in AUGMENTATIONS:
            c.fail(
                "training.imgaug",
                f"one of the registered augmentation pipelines ({', '.join(AUGMENTATIONS.names())})"
                " or a custom pipeline mapping",
                t.imgaug,
            )
    else:
        from pose.data.augmentation import validate_augmentation

        try:
            validate_augmentation(t.imgaug)
        except ConfigError as err:
            raise ConfigError(f"{c.source}: {err}") from None
    c.registered("training.optimizer", t.optimizer, OPTIMIZERS)
    c.registered("training.lr_scheduler", t.lr_scheduler, LR_SCHEDULERS)
    c.registered("model.backbone", m.backbone, BACKBONES)
    c.registered("model.model_type", m.model_type, MODEL_TYPES, extra=UNTRAINED_MODEL_TYPES)
    if m.model_type in MODEL_TYPES:
        kind = MODEL_TYPES.get(m.model_type)
        multiview = isinstance(cfg.data.csv_file, list)
        if multiview and not kind.multi_view:
            c.fail(
                "model.model_type",
                "a model type for several cameras ("
                + ", ".join(n for n in MODEL_TYPES.names() if MODEL_TYPES.get(n).multi_view)
                + ") with data.csv_file a list",
                m.model_type,
            )
        if not multiview and not kind.single_view:
            c.fail(
                "data.csv_file",
                f"a list of label files, one per camera, for {m.model_type}",
                cfg.data.csv_file,
            )
        readouts = kind.backbone_readouts
        if readouts is not None and BACKBONES.get(m.backbone).readout not in readouts:
            usable = [n for n in BACKBONES.names() if BACKBONES.get(n).readout in readouts]
            c.fail(
                "model.backbone",
                f"a backbone {m.model_type} can use ({', '.join(usable)})",
                m.backbone,
            )
    c.registered("model.heatmap_loss_type", m.heatmap_loss_type, HEATMAP_LOSSES)
    for loss in m.losses_to_use:
        c.registered("model.losses_to_use", loss, UNSUPERVISED_LOSSES)
    c.check(
        cfg.eval.colormap in matplotlib.colormaps,
        "eval.colormap",
        "a matplotlib colormap name (e.g. cool, viridis)",
        cfg.eval.colormap,
    )


def config_warnings(cfg: PoseConfig) -> list[str]:
    """Valid settings that probably do not do what the user wants (shown by the CLI, not fatal)."""
    t = cfg.training
    out = []
    frozen_for, length, unit = (
        (t.unfreezing_step, t.max_steps, "step")
        if t.step_based
        else (t.unfreezing_epoch, t.max_epochs, "epoch")
    )
    if frozen_for is not None and length is not None and frozen_for >= length:
        out.append(
            f"training.unfreezing_{unit}={frozen_for} >= training.max_{unit}s={length}: the backbone "
            f"stays frozen for the whole run"
        )
    return out


def untrainable_reason(cfg: PoseConfig) -> str | None:
    """Why this engine cannot train ``cfg`` yet (a valid Lightning Pose config), or None."""
    if cfg.model.model_type in UNTRAINED_MODEL_TYPES:
        return f"model.model_type {cfg.model.model_type!r} is not trained by this engine yet"
    return None
