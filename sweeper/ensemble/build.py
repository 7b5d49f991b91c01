"""Build an ensemble from a sweep's best trials and log it as one MLflow run.

Each member predicts the videos (or lends the predictions its trial already logged for the same
video file), the members' consensus and spread are written per video, then EKS's smoothed
trajectory with its posterior variance and a labeled video of it, ringed by its uncertainty.
The run is nested under the study's parent run, so the MLflow UI shows it beside the trials.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from pose.config import PoseConfig, load_config
from pose.ensemble import (
    Consensus,
    MemberPredictions,
    Smoothed,
    consensus,
    consensus_frame,
    inliers,
    member_distances,
    smooth,
)
from pose.ensemble.smoothing import FEATURE
from pose.optional import require
from pose.predict import write_csv
from pose.video.labeled import write_labeled_video
from pose.video.readers import VideoInfo, VideoReader, open_video
from sweeper.ensemble.members import Member, top_members
from sweeper.errors import SweepError
from sweeper.study.storage import open_storage, redact
from sweeper.study.study import load_existing_study
from sweeper.tracking.mlflow_runs import (
    TAG_CENTRE,
    TAG_MEMBER_RUNS,
    TAG_MEMBERS,
    TAG_PARENT,
    TAG_ROLE,
    TAG_SMOOTHED_MEMBERS,
    TAG_SMOOTHER,
    TAG_STUDY,
)
from sweeper.tracking.models import resolve_model

ENSEMBLE_DIR = "ensemble"
MEMBERS_DIR = "members"
PREDICTIONS_DIR = "video_preds"  # a trial's own video predictions, as it logged them
SMOOTHERS = ("eks", "none")
UNCERTAINTY_SIGMAS = 2.0  # the labeled video's rings: two posterior standard deviations


@dataclass
class EnsembleProgress:
    """What the CLI shows while members predict: a video starts (its header known), a batch of
    frames is done, a member's predictions of a video are ready (``reused`` from its trial)."""

    on_start: Callable[[str, VideoInfo], None] = lambda label, info: None
    on_batch: Callable[[int], None] = lambda frames: None
    on_ready: Callable[[str, Path, bool], None] = lambda label, video, reused: None


@dataclass
class VideoEnsemble:
    video: Path
    frames: int
    consensus_csv: Path
    smoothed_csv: Path | None
    labeled_video: Path | None
    spread_px: float  # median over frames and keypoints of the members' spread
    # the members EKS smoothed: all but the outliers (pose.ensemble.inliers); empty without EKS
    smoothed_members: list[str] = field(default_factory=list)


@dataclass
class EnsembleResult:
    run_id: str
    members: list[Member]
    output_dir: Path
    centre: str
    smoother: str
    videos: list[VideoEnsemble] = field(default_factory=list)
    # each member's mean pixel distance to the centre, over all videos
    distances: dict[str, float] = field(default_factory=dict)


def _member_runs(client: MlflowClient, members: Sequence[Member], tracking_uri: str) -> Any:
    """The members' runs must be in this tracking store; the first one's (parent, experiment)."""
    runs = []
    for member in members:
        try:
            runs.append(client.get_run(member.run_id))
        except MlflowException:
            raise SweepError(
                f"MLflow run {member.run_id} of trial {member.trial_number} is not in "
                f"{redact(tracking_uri)}; pass the --tracking-uri the sweep logged to"
            ) from None
    return runs[0].data.tags.get(TAG_PARENT), runs[0].info.experiment_id


def _logged_predictions(
    client: MlflowClient, run_id: str, cfg: PoseConfig, source: VideoReader, into: Path
) -> Path | None:
    """The member's own predictions of the video, if its trial predicted this very file after
    training (``eval.test_videos_directory``) and logged them whole; else None."""
    video = source.info.path
    directory = cfg.eval.test_videos_directory
    if not directory or Path(directory).resolve() != video.parent.resolve():
        return None
    name = f"{PREDICTIONS_DIR}/{video.stem}.csv"
    try:
        path = Path(client.download_artifacts(run_id, name, str(into)))
    except (MlflowException, OSError):
        return None
    frames = sum(1 for _ in path.open()) - 3  # DLC's three header rows
    expected = source.info.frame_count_hint
    return path if expected and frames == expected else None


def _predict_members(
    client: MlflowClient,
    members: Sequence[Member],
    sources: Mapping[Path, VideoReader],
    tracking_uri: str,
    out: Path,
    reader: str,
    progress: EnsembleProgress,
) -> tuple[dict[Path, list[Path]], PoseConfig]:
    """Each member's predictions CSV of each video, under ``out/members/<trial>/``, and the best
    member's config."""
    from pose.predict.images import load_trained
    from pose.predict.video import predict_video

    csvs: dict[Path, list[Path]] = {video: [] for video in sources}
    configs: list[PoseConfig] = []
    for member in members:
        member_dir = out / MEMBERS_DIR / member.label
        with tempfile.TemporaryDirectory(prefix="sweeper-member-") as tmp:
            config, checkpoint = resolve_model(f"runs:/{member.run_id}", tracking_uri, Path(tmp))
            configs.append(load_config(str(config)))
            trained = None
            for video, source in sources.items():
                target = member_dir / PREDICTIONS_DIR / f"{video.stem}.csv"
                logged = _logged_predictions(client, member.run_id, configs[-1], source, Path(tmp))
                if logged is not None:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(logged.read_bytes())
                else:
                    trained = trained or load_trained(config, checkpoint)
                    predict_video(
                        trained,
                        video,
                        member_dir,
                        reader=reader,
                        on_start=functools.partial(progress.on_start, member.label),
                        on_batch=progress.on_batch,
                    )
                progress.on_ready(member.label, video, logged is not None)
                csvs[video].append(target)
    return csvs, configs[0]


def _ensemble_video(
    source: VideoReader,
    predictions: MemberPredictions,
    ensemble: Consensus,
    out: Path,
    smoother: str,
    mirrored: Sequence[Sequence[int]] | None,
    save_video: bool,
    colormap: str,
) -> VideoEnsemble:
    video = source.info.path
    names = predictions.keypoint_names
    directory = out / ENSEMBLE_DIR
    consensus_csv = directory / f"{video.stem}_ensemble.csv"
    write_csv(consensus_frame(ensemble, names), consensus_csv)
    smoothed: Smoothed | None = None
    smoothed_csv = None
    smoothed_members: list[str] = []
    if smoother == "eks":
        kept = inliers(predictions, ensemble)
        smoothed_members = kept.members
        smoothed = smooth(kept, mirrored)
        smoothed_csv = directory / f"{video.stem}_eks.csv"
        write_csv(smoothed.frame(), smoothed_csv)
    labeled = None
    if save_video:
        if smoothed is not None:
            xy, rings = smoothed.xy, UNCERTAINTY_SIGMAS * np.sqrt(smoothed.posterior_var.sum(-1))
        else:
            xy, rings = ensemble.xy, UNCERTAINTY_SIGMAS * ensemble.spread
        labeled = (
            directory
            / "labeled_videos"
            / f"{video.stem}_{smoother if smoothed else 'ensemble'}_labeled.mp4"
        )
        write_labeled_video(
            source.frames(),
            xy,
            np.ones(xy.shape[:2]),  # every keypoint drawn: the ring says how sure it is
            labeled,
            source.info.fps,
            colormap,
            0.0,
            uncertainty=rings,
        )
    return VideoEnsemble(
        video,
        len(ensemble.xy),
        consensus_csv,
        smoothed_csv,
        labeled,
        float(np.median(ensemble.spread)),
        smoothed_members,
    )


def build_ensemble(
    study_name: str,
    storage_url: str,
    tracking_uri: str,
    videos: Sequence[Path],
    top_k: int,
    output_dir: Path,
    *,
    centre: str = "median",
    smoother: str = "eks",
    save_video: bool = True,
    reader: str = "auto",
    progress: EnsembleProgress | None = None,
    members: Sequence[Member] | None = None,
) -> EnsembleResult:
    """The ensemble of ``members`` (seed members; default: the study's ``top_k`` best complete
    trials) over ``videos``, written under ``output_dir`` and logged as one MLflow run nested
    under the study's parent run."""
    check_smoother(smoother)
    how = f"top{top_k}" if members is None else f"seeds{len(members)}"
    if members is None:
        study = load_existing_study(study_name, open_storage(storage_url, heartbeat_seconds=60))
        members = top_members(study, top_k)
    client = MlflowClient(tracking_uri=tracking_uri)
    parent_id, experiment_id = _member_runs(client, members, tracking_uri)
    eks_version = _eks_version() if smoother == "eks" else "none"
    tags = {
        TAG_STUDY: study_name,
        TAG_ROLE: "ensemble",
        TAG_MEMBERS: ",".join(str(m.trial_number) for m in members),
        TAG_MEMBER_RUNS: ",".join(m.run_id for m in members),
        TAG_CENTRE: centre,
        TAG_SMOOTHER: eks_version,
    }
    if parent_id:
        tags[TAG_PARENT] = parent_id
    run = client.create_run(experiment_id, run_name=f"{study_name}-ensemble-{how}", tags=tags)
    run_id = run.info.run_id
    result = EnsembleResult(run_id, list(members), output_dir, centre, eks_version)
    try:
        for key, value in {
            "members": how,
            "centre": centre,
            "smoother": smoother,
            "videos": ", ".join(v.name for v in videos),
        }.items():
            client.log_param(run_id, key, str(value)[:6000])
        sources = {video: open_video(video, "auto") for video in videos}
        csvs, best_config = _predict_members(
            client,
            members,
            sources,
            tracking_uri,
            output_dir,
            reader,
            progress or EnsembleProgress(),
        )
        totals = np.zeros(len(members))
        for video, source in sources.items():
            predictions = MemberPredictions.from_csvs(csvs[video], [m.label for m in members])
            ensemble = consensus(predictions, centre)
            done = _ensemble_video(
                source,
                predictions,
                ensemble,
                output_dir,
                smoother,
                best_config.data.mirrored_column_matches,
                save_video,
                best_config.eval.colormap,
            )
            result.videos.append(done)
            totals += member_distances(predictions, ensemble)
            client.log_metric(run_id, f"spread_px.{video.stem}", done.spread_px)
            if done.smoothed_members:
                client.set_tag(
                    run_id, f"{TAG_SMOOTHED_MEMBERS}.{video.stem}", ",".join(done.smoothed_members)
                )
        for member, total in zip(members, totals / len(videos), strict=True):
            result.distances[member.label] = float(total)
            client.log_metric(run_id, f"distance_px.{member.label}", float(total))
        client.log_artifacts(run_id, str(output_dir / ENSEMBLE_DIR), ENSEMBLE_DIR)
        client.log_artifacts(run_id, str(output_dir / MEMBERS_DIR), MEMBERS_DIR)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return result


def check_smoother(smoother: str) -> None:
    """A bad --smoother, or eks missing for it, answers before anything is trained or predicted."""
    if smoother not in SMOOTHERS:
        raise SweepError(f"--smoother {smoother!r}: expected one of {', '.join(SMOOTHERS)}")
    if smoother == "eks":
        require("eks", "ensemble", FEATURE)


def _eks_version() -> str:
    from importlib.metadata import version

    return f"eks {version('ensemble-kalman-smoother')}"
