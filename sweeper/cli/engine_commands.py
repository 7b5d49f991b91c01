"""Engine commands: train one model, validate a config, write the synthetic example data."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.text import Text

from pose.errors import PoseError
from sweeper.cli.app import (
    ConfigArg,
    OverrideOpt,
    VideosArg,
    command,
    console,
    err_console,
    frame_progress,
    user_errors,
)

if TYPE_CHECKING:
    from pose.config import PoseConfig
    from pose.predict.images import TrainedModel


def _print_warnings(cfg: PoseConfig) -> None:
    from pose.config import config_warnings

    for warning in config_warnings(cfg):
        err_console.print(
            Text.assemble(("warning", "yellow"), f": {warning}"), highlight=False, soft_wrap=True
        )


def _default_output_dir() -> Path:
    return Path("outputs") / (now := datetime.now()).strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")


@command()
@user_errors
def train(
    config: ConfigArg,
    override: OverrideOpt = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", help="Where to write outputs (default outputs/DATE/TIME)."),
    ] = None,
) -> None:
    """Train one model; writes config.yaml, best.ckpt, predictions CSVs and metrics.json."""
    from pose.config import load_config

    cfg = load_config(config, override or [])
    _print_warnings(cfg)
    from pose.pipeline import train as run_training  # Lightning once the config is known good

    out = output_dir or _default_output_dir()
    result = run_training(cfg, out)
    m = result.metrics
    err = m.get("pixel_error", {})
    fmt = lambda v: "n/a" if v is None else f"{v:.2f} px"  # noqa: E731
    console.print(
        f"[bold green]done[/] in {m.get('wall_seconds', 0):.0f} s ({m.get('epochs_run')} epochs, "
        f"{m.get('train_images_per_second', 0):.1f} images/s, {m.get('precision')}); pixel error "
        f"train {fmt(err.get('train'))}, val {fmt(err.get('validation'))}, test {fmt(err.get('test'))}"
    )
    console.print(f"outputs in [bold]{escape(str(result.output_dir))}[/]")


def _calibration_line(cfg: PoseConfig) -> str:
    """What a multiview config's calibration turns on (3D augmentation, the reprojection loss)."""
    from pose.data.multiview_labels import augments_in_3d, calibration_file, reprojection_loss_on

    path = calibration_file(cfg)  # check_data has read it: every view is in it
    if path is None:
        return "no calibration (data.camera_params_file, or calibration.toml in data.data_dir)"
    uses = []
    if augments_in_3d(cfg, True):
        uses.append("3D augmentation (training.imgaug_3d)")
    if reprojection_loss_on(cfg):
        weight = cfg.losses.supervised_reprojection_heatmap_mse.log_weight
        uses.append(f"the reprojection loss (log_weight {weight:g})")
    return f"calibrated by {path.name}" + (f": {', '.join(uses)}" if uses else "")


def _predict_multiview(
    trained: TrainedModel, files: list[Path], out: Path, reader: str, save_video: bool
) -> None:
    """A multiview model: synchronized sets paired by view name, one CSV per view, 3D with the
    calibration the model was trained with (when its data is still there)."""
    import functools

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from pose.data.multiview import load_rig
    from pose.data.multiview_labels import view_names
    from pose.data.unlabeled import check_synchronized
    from pose.predict.multiview_video import predict_multiview_videos, session_name
    from pose.video.readers import open_video
    from pose.video_files import group_videos_by_view

    views = view_names(trained.cfg)
    sessions = group_videos_by_view(files, views)
    check_synchronized(sessions, reader)  # every set, before any is written
    try:
        rig = load_rig(trained.cfg)
    except PoseError as err:
        rig = None
        console.print(f"[dim]3D keypoints left out: {escape(str(err))}[/dim]")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as progress:
        for session in sessions:
            name = session_name(session, views)
            total = open_video(session[0], reader).info.frame_count_hint or None
            task = progress.add_task(name, total=total)
            done = predict_multiview_videos(
                trained,
                session,
                out,
                rig=rig,
                reader=reader,
                save_video=save_video,
                session=name,
                on_batch=functools.partial(progress.advance, task),
            )
            progress.remove_task(task)
            console.print(
                f"{escape(name)}: {done.frames} frames x {len(views)} views -> "
                + ", ".join(escape(str(c)) for c in done.csvs)
            )
            if done.csv_3d is not None:
                console.print(f"  3D keypoints: {escape(str(done.csv_3d))}")
            for video in done.labeled_videos:
                console.print(f"  labeled video: {escape(str(video))}")


@command()
@user_errors
def validate(config: ConfigArg, override: OverrideOpt = None) -> None:
    """Load and check a config and its labeled data; print a short summary."""
    from pose.config import load_config, untrainable_reason

    cfg = load_config(config, override or [])
    _print_warnings(cfg)
    from pose.config.catalog import MODEL_TYPES  # what the engine's registry holds, torch-free
    from pose.data import check_data  # pandas (a third of a second): only for a config that loads

    t, d, m = cfg.training, cfg.data, cfg.model
    line = lambda text: console.print(text, markup=False, highlight=False)  # noqa: E731
    window = MODEL_TYPES.get(m.model_type).context_offsets if m.model_type in MODEL_TYPES else None
    # a config this engine cannot train yet: report it, do not read its data
    summary = None if untrainable_reason(cfg) else check_data(cfg, window)
    console.print(f"[bold green]valid[/]: {escape(str(config))}")
    if summary is not None:
        if summary.views:
            line(
                f"  data      {summary.num_frames} labeled moments seen by {len(summary.views)} "
                f"cameras ({', '.join(summary.views)}) in {d.data_dir}"
            )
        else:
            line(
                f"  data      {summary.num_frames} labeled frames in {d.data_dir} ({summary.csv_path.name})"
            )
        line(f"  keypoints {len(summary.keypoint_names)}: {', '.join(summary.keypoint_names)}")
        if d.bbox_file:
            boxes = [d.bbox_file] if isinstance(d.bbox_file, str) else list(d.bbox_file)
            line(f"  crops     placed in their full frames by {', '.join(boxes)}")
        if summary.views:
            line(f"  cameras   {_calibration_line(cfg)}")
        if summary.frames_with_full_context is not None:
            line(
                f"  context   {summary.frames_with_full_context} of {summary.num_frames} labeled "
                f"frames have their {summary.context_neighbours} neighbouring frames beside them "
                "(in the others, the labeled frame stands in for missing ones)"
            )
        if summary.videos is not None:
            line(
                f"  videos    {len(summary.videos)} in {d.video_dir}: unlabeled frames for "
                f"{', '.join(m.losses_to_use)}"
            )
    line(f"  images    resized to {d.image_resize_dims.height}x{d.image_resize_dims.width} (h x w)")
    line(
        f"  model     {m.model_type}, backbone {m.backbone}, loss {m.heatmap_loss_type}, "
        f"losses_to_use {list(m.losses_to_use)}"
    )
    length = f"{t.max_steps} steps" if t.step_based else f"{t.min_epochs}-{t.max_epochs} epochs"
    imgaug = t.imgaug if isinstance(t.imgaug, str) else "custom"
    line(
        f"  training  {length}, batch {t.train_batch_size}, {t.optimizer} "
        f"lr {t.optimizer_params.learning_rate:g}, imgaug {imgaug}"
    )
    reason = untrainable_reason(cfg)
    if reason:
        console.print(
            f"[yellow]warning[/]: loads as a Lightning Pose config, but cannot be trained here yet: {escape(reason)}"
        )


@command("example-data")
@user_errors
def example_data(
    directory: Annotated[
        Path, typer.Argument(help="Directory to create the synthetic data set in.")
    ],
    n_images: Annotated[int, typer.Option(min=10, help="Labeled images to render.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    context: Annotated[
        bool,
        typer.Option(
            "--context",
            help="Label the middle of 5-frame clips and configure a context model (heatmap_mhcrnn).",
        ),
    ] = False,
    views: Annotated[
        int | None,
        typer.Option(
            help="Film the animal in 3D with this many calibrated cameras (2-6): a Lightning Pose "
            "multiview project with calibration.toml and a heatmap_multiview_transformer config.",
            show_default=False,
        ),
    ] = None,
    crops: Annotated[
        bool,
        typer.Option(
            "--crops",
            help="With --views: label crops around the animal, placed in the frames by "
            "bboxes_<view>.csv (data.bbox_file), as Lightning Pose's default multiview config expects.",
        ),
    ] = False,
) -> None:
    """Write a synthetic labeled data set with known keypoints, a video, and a config.yaml."""
    labels = ["CollectedData.csv"]
    if views is not None:
        from pose.data import synthetic_multiview as multiview  # no torch: refusals stay quick

        if not multiview.MIN_VIEWS <= views <= multiview.MAX_VIEWS:
            raise PoseError(
                f"--views: expected {multiview.MIN_VIEWS} to {multiview.MAX_VIEWS} cameras, "
                f"got {views}"
            )
        if context:
            raise PoseError("--context: the multi-camera example (--views) has no context clips")
        labels = multiview.label_files(views)
    elif crops:
        raise PoseError("--crops: only the multi-camera example (--views) is written as crops")
    config = directory / "config.yaml"
    if directory.exists() and any(directory.iterdir()):
        if not (config.is_file() and all((directory / name).is_file() for name in labels)):
            raise PoseError(
                f"{directory} is not empty; choose a new directory for the example data"
            )
        console.print(f"example data already in {escape(str(directory))}; reusing it")
    elif views is not None:
        config = multiview.make_multiview_example_dataset(
            directory, views=views, n_frames=n_images, seed=seed, crops=crops
        )
        console.print(
            f"wrote synthetic {views}-camera data set and config: [bold]{escape(str(config))}[/]"
        )
    else:
        from pose.data.synthetic import make_example_dataset

        config = make_example_dataset(directory, n_images=n_images, seed=seed, context=context)
        console.print(f"wrote synthetic data set and config: [bold]{escape(str(config))}[/]")
    console.print(f"train it with: sweeper train {escape(str(config))}")
    if views is None:  # the quick-start space's rates suit the resnet18, not a random-init ViT
        console.print(
            f"sweep it with: sweeper run {escape(str(config))} "
            "--space configs/search_spaces/quickstart.yaml --n-trials 4"
        )


@command()
@user_errors
def predict(
    model: Annotated[
        str,
        typer.Argument(
            help="Training output dir, runs:/RUN_ID or models:/NAME@ALIAS.", show_default=False
        ),
    ],
    videos: VideosArg,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help="Where video_preds/ goes (default: the model's directory, or the current one).",
        ),
    ] = None,
    save_video: Annotated[
        bool, typer.Option("--save-video", help="Also write labeled videos (h264 mp4).")
    ] = False,
    reader: Annotated[
        str,
        typer.Option(
            help="Video reader: auto (DALI on a GPU; otherwise PyAV for mono videos, else "
            "OpenCV), dali, opencv or pyav."
        ),
    ] = "auto",
    tracking_uri: Annotated[
        str | None,
        typer.Option("--tracking-uri", help="MLflow tracking URI for runs:/ and models:/ models."),
    ] = None,
) -> None:
    """Predict keypoints on every frame of videos: DLC-style CSVs, temporal norms, labeled videos."""
    import functools
    import tempfile
    import warnings

    from rich.progress import TaskID

    from pose.video_files import require_videos

    files = require_videos(list(videos))
    # the engine (torch) and MLflow only once the videos are there
    from pose.predict.images import load_trained
    from pose.predict.video import predict_video
    from pose.video.readers import VideoInfo
    from sweeper.tracking.mlflow_runs import default_tracking_uri
    from sweeper.tracking.models import resolve_model

    local = not model.startswith(("runs:/", "models:/"))
    out = output_dir or (Path(model) if local else Path.cwd())
    with tempfile.TemporaryDirectory(prefix="sweeper-model-") as tmp:
        config, checkpoint = resolve_model(model, tracking_uri or default_tracking_uri(), Path(tmp))
        trained = load_trained(config, checkpoint)
    from pose.data.multiview_labels import is_multiview
    from pose.predict.label_free import LabelFreeMetrics

    if is_multiview(trained.cfg):
        _predict_multiview(trained, files, out, reader, save_video)
        return
    with warnings.catch_warnings(record=True) as left_out:
        warnings.simplefilter("always")
        try:  # the PCAs need the training labels: a model moved off its data predicts without them
            trained.label_free = LabelFreeMetrics.from_labels_of(trained.cfg)
        except PoseError as err:
            console.print(f"[dim]label-free video metrics left out: {escape(str(err))}[/dim]")
    for warning in left_out:  # a PCA too few labels can fit: one dim line, not a Python warning
        console.print(f"[dim]{escape(str(warning.message))}[/dim]")
    failed = 0
    with frame_progress() as progress:

        def set_total(task: TaskID, info: VideoInfo) -> None:
            progress.update(task, total=info.frame_count_hint or None)

        for video in files:
            task = progress.add_task(video.name, total=None)
            try:
                done = predict_video(
                    trained,
                    video,
                    out,
                    reader=reader,
                    save_video=save_video,
                    on_start=functools.partial(set_total, task),
                    on_batch=functools.partial(progress.advance, task),
                )
            except PoseError as err:  # one unreadable video does not stop the others
                failed += 1
                err_console.print(Text.assemble(("error", "bold red"), f": {err}"), highlight=False)
                continue
            finally:
                progress.remove_task(task)
            console.print(f"{escape(video.name)}: {done.frames} frames -> {escape(str(done.csv))}")
            if done.metrics:
                figures = ", ".join(f"{k} {v:.3g}" for k, v in done.metrics.items())
                console.print(f"  label-free: {escape(figures)}")
            if done.labeled_video is not None:
                console.print(f"  labeled video: {escape(str(done.labeled_video))}")
    if failed:
        raise typer.Exit(2)
