"""``sweeper ensemble``: the best trials of a sweep as one tracker, smoothed by EKS."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from pose.errors import PoseError
from sweeper.cli.app import VideosArg, command, console, frame_progress, user_errors
from sweeper.cli.stores import (
    RootOpt,
    StorageOpt,
    StudyArg,
    TrackingOpt,
    quiet_libraries,
    storage_url,
)

if TYPE_CHECKING:  # the ensemble package imports MLflow and the engine: not at CLI start-up
    from sweeper.ensemble import Member


@command()
@user_errors
def ensemble(
    study: StudyArg,
    videos: VideosArg,
    top_k: Annotated[
        int | None,
        typer.Option(
            "--top-k",
            help="Members: the study's K best complete trials (default 3).",
            show_default=False,
        ),
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            "--seeds",
            help="Members: the best trial and S-1 retrainings of its config with other model "
            "seeds, trained now as trials of the study where it has none yet.",
            show_default=False,
        ),
    ] = None,
    smoother: Annotated[
        str,
        typer.Option(
            help="eks: smooth the ensemble over time with the Ensemble Kalman Smoother "
            "(pip install 'pose-sweeper[ensemble]'); none: the members' consensus only."
        ),
    ] = "eks",
    centre: Annotated[
        str, typer.Option(help="The consensus of the members per frame: median or mean.")
    ] = "median",
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", help="Where ensemble/ and members/ go (default ./STUDY-ensemble)."
        ),
    ] = None,
    save_video: Annotated[
        bool,
        typer.Option("--save-video/--no-save-video", help="Write a labeled video per video."),
    ] = True,
    reader: Annotated[str, typer.Option(help="Video reader: auto, dali, opencv or pyav.")] = "auto",
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = Path("mlruns"),
) -> None:
    """Ensemble a study's best trials on videos: the members' median and variance per keypoint,
    the EKS-smoothed trajectory with its posterior variance, a labeled video; one MLflow run."""
    from pose.ensemble import CENTRES
    from pose.video_files import require_videos

    files = require_videos(list(videos))
    if centre not in CENTRES:
        raise PoseError(f"--centre {centre!r}: expected one of {', '.join(CENTRES.names())}")
    if top_k is not None and seeds is not None:
        raise PoseError("--top-k and --seeds: the members are one or the other; pass one")
    url = storage_url(storage, root)
    quiet_libraries()
    from pose.ensemble import OUTLIER_FACTOR
    from pose.video.readers import VideoInfo
    from sweeper.ensemble import EnsembleProgress, build_ensemble, check_smoother
    from sweeper.tracking.mlflow_runs import default_tracking_uri

    tracking = tracking_uri or default_tracking_uri(root)
    check_smoother(smoother)
    members = None if seeds is None else _seed_members(study, url, tracking, root, seeds)
    out = output_dir or Path(f"{study}-ensemble")
    with frame_progress() as bars:
        task = bars.add_task("members", total=None)

        def start(label: str, info: VideoInfo) -> None:
            bars.reset(task, total=info.frame_count_hint or None)
            bars.update(task, description=f"{label}: {escape(info.path.name)}")

        def ready(label: str, video: Path, reused: bool) -> None:
            how = "reused its trial's predictions" if reused else "predicted"
            console.print(f"{escape(label)} {how} of {escape(video.name)}")

        result = build_ensemble(
            study,
            url,
            tracking,
            files,
            3 if top_k is None else top_k,
            out,
            centre=centre,
            smoother=smoother,
            save_video=save_video,
            reader=reader,
            progress=EnsembleProgress(
                on_start=start, on_batch=lambda n: bars.advance(task, n), on_ready=ready
            ),
            members=members,
        )
    joined = ", ".join(f"{m.label} ({m.value:.4g})" for m in result.members)
    console.print(
        f"[bold green]ensemble[/] of {escape(joined)}, centre {result.centre}, {result.smoother}"
    )
    for done in result.videos:
        console.print(
            f"{escape(done.video.name)}: {done.frames} frames, median member spread {done.spread_px:.2f} px"
        )
        console.print(f"  consensus: {escape(str(done.consensus_csv))}")
        if done.smoothed_csv is not None:
            console.print(f"  smoothed:  {escape(str(done.smoothed_csv))}")
            left_out = [m.label for m in result.members if m.label not in done.smoothed_members]
            if left_out:
                console.print(
                    f"  left out of smoothing as outliers (over {OUTLIER_FACTOR:g}x the median "
                    f"distance to the centre): {escape(', '.join(left_out))}"
                )
        if done.labeled_video is not None:
            console.print(f"  labeled video: {escape(str(done.labeled_video))}")
    distances = ", ".join(f"{k} {v:.2f}" for k, v in result.distances.items())
    console.print(f"members' mean distance to the centre (px): {escape(distances)}")
    console.print(f"MLflow run {result.run_id}")


def _seed_members(study: str, url: str, tracking: str, root: Path, seeds: int) -> list[Member]:
    """The seed members, training the missing ones under the sweep's live view."""
    from rich.live import Live

    from sweeper.cli.progress import ended_line, render
    from sweeper.ensemble import seed_members
    from sweeper.sweep import SweepView

    seen: set[int] | None = None
    with Live(console=console, refresh_per_second=2, transient=True) as live:

        def on_tick(view: SweepView) -> None:
            nonlocal seen
            ended = {t.number for t in view.ended}
            for trial in view.ended:
                if seen is not None and trial.number not in seen:
                    live.console.print(ended_line(trial, view))
            seen = ended
            live.update(render(view))

        members = seed_members(study, url, tracking, root, seeds, on_tick)
    numbers = ", ".join(str(m.trial_number) for m in members)
    console.print(f"seed members: trials {numbers} (trial {members[0].trial_number}'s config)")
    return members
