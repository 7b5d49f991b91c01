"""What a sweep is worth: Lightning Pose's default config, a sweep, and the sweep's EKS ensemble,
each given the same CPU budget on the mirror-mouse example.

Three contenders, scored by one script on the same frames:
1. **Lightning Pose 2.4.3 itself** (``--lp-python``; bench/lp_reference.py) with its
   mirror-mouse-example config as it ships, but for what cannot run here: its
   ``resnet50_animal_ap10k`` backbone is torchvision's resnet50 with weights LP downloads, so it
   trains as ``resnet50`` from random init; its ``pca_singleview`` loss is dropped (LP trains
   unsupervised losses only on an NVIDIA GPU); training stops at the budget (Lightning's
   ``max_time``) and LP evaluates its best checkpoint as usual. 256x256, backbone frozen until
   epoch 20, validation every 10 epochs, all as in that config.
2. **The best trial of ``sweeper run``** on configs/base/mirror-mouse-resnet18.yaml (LP's example
   settings with resnet18 at 128x128 from random init) over shipped search spaces (default
   learning_rate.yaml and losses.yaml), trials of ``--trial-epochs`` epochs validated every 5 and
   predicting test_vid.mp4 after training, median pruner. No new trial starts after the budget less
   ``--reserve-min``; at the budget the sweep is interrupted as a user would (Ctrl-C), which ends the
   trial still running as failed.
3. **The EKS ensemble of the sweep's ``--top-k`` best trials** (``sweeper ensemble``, after the
   budget, its own minutes printed; it reuses the trials' video predictions).

The two budgets run side by side, each pinned to one of this machine's cores (``taskset``,
``OMP_NUM_THREADS=1``). Scores: mean pixel error over every labeled keypoint of the test split
(the split both engines draw from seed 42 with train_prob 0.8, val_prob 0.1), in original pixels,
from each model's ``predictions.csv``; the ensemble's labeled figure is its members' median on those
frames (EKS smooths a video over time, and the labeled frames are not a sequence). On
``videos/test_vid.mp4`` (994 frames, unlabeled): the PCA singleview and multiview reprojection
errors (px) with PCAs fitted on the training labels, and the share of keypoint moves between
frames beyond ``losses.temporal.epsilon`` (20 px), for each model's own predictions of every frame.

    python bench/sweep_value.py --lp-python /path/to/lp-env/bin/python [--budget-min 60]
        [--trial-epochs 100] [--space learning_rate --space losses] [--top-k 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import BASE_CONFIG, MIRROR_MOUSE, REPO, machine  # noqa: E402
from pose.predict.dlc_csv import read_predictions  # noqa: E402

VIDEO = MIRROR_MOUSE / "videos" / "test_vid.mp4"
STUDY = "sweep-value"
LP_OVERRIDES = [
    "model.backbone=resnet50",
    "model.backbone_pretrained=false",
    "model.losses_to_use=[]",
]


def one_core(core: int) -> tuple[list[str], dict[str, str]]:
    """The command prefix and environment that keep a process tree on one core, one thread."""
    return ["taskset", "-c", str(core)], {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def start_lp(
    python: str, budget_min: float, out: Path, core: int, extra: list[str]
) -> tuple[subprocess.Popen[str], float]:
    prefix, env = one_core(core)
    command = [
        *prefix,
        python,
        str(REPO / "bench" / "lp_reference.py"),
        f"--peer-configs={REPO.parent / 'shared' / 'peer-configs'}",
        f"--data-dir={MIRROR_MOUSE}",
        f"--output-dir={out / 'lp'}",
        f"--max-minutes={budget_min}",
        f"--predict-video={VIDEO}",
        *(f"--override={o}" for o in [*LP_OVERRIDES, *extra]),
    ]
    log = (out / "lp.log").open("w")
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=out
    ), time.time()


def sweep_overrides(epochs: int) -> list[str]:
    return [
        f"data.data_dir={MIRROR_MOUSE}",
        f"training.max_epochs={epochs}",
        f"training.min_epochs={epochs}",
        "training.check_val_every_n_epoch=5",
        f"training.lr_scheduler_params.multisteplr.milestones=[{round(epochs * 0.6)},{round(epochs * 0.8)}]",
        "eval.predict_vids_after_training=true",
        f"eval.test_videos_directory={VIDEO.parent}",
        "eval.save_vids_after_training=false",
    ]


def start_sweep(
    args: argparse.Namespace, out: Path, core: int
) -> tuple[subprocess.Popen[str], float]:
    prefix, env = one_core(core)
    command = [
        *prefix,
        sys.executable,
        "-m",
        "sweeper",
        "run",
        str(BASE_CONFIG),
        *(
            a
            for s in args.space
            for a in ("--space", str(REPO / "configs" / "search_spaces" / f"{s}.yaml"))
        ),
        "--n-trials=1000",
        f"--study-name={STUDY}",
        f"--timeout={(args.budget_min - args.reserve_min) * 60}",
        "--pruner-startup-trials=3",
        "--pruner-warmup-epochs=20",
        f"--seed={args.sampler_seed}",
        f"--root={out / 'mlruns'}",
        *(f"--override={o}" for o in sweep_overrides(args.trial_epochs)),
    ]
    log = (out / "sweep.log").open("w")
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=out
    ), time.time()


def xy_of(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """``[N, K, 2]`` from a DLC-style frame (any scorer), keypoints in ``names`` order."""
    frame = frame.droplevel(0, axis=1)
    return np.stack(
        [
            frame[[(n, "x") for n in names]].to_numpy(float),
            frame[[(n, "y") for n in names]].to_numpy(float),
        ],
        -1,
    )


class Scorer:
    """One scorer for every contender: the labels read and the video metrics' PCAs fitted once."""

    def __init__(self) -> None:
        from pose.config import load_config
        from pose.predict.label_free import LabelFreeMetrics

        cfg = load_config(BASE_CONFIG, [f"data.data_dir={MIRROR_MOUSE}"])
        self.names = list(cfg.data.keypoint_names)
        self.labels = read_predictions(MIRROR_MOUSE / "CollectedData.csv")
        self.label_free = LabelFreeMetrics.from_labels_of(cfg)

    def test_error(self, predictions: list[Path]) -> float:
        """Mean error on the test split of the models' median (one CSV: that model's own)."""
        frames = [read_predictions(p) for p in predictions]
        split = frames[0][("set", "", "")]
        test = split.index[split == "test"]
        centre = np.median(np.stack([xy_of(f.loc[test], self.names) for f in frames]), axis=0)
        truth = xy_of(self.labels.loc[test], self.names)
        return float(np.nanmean(np.linalg.norm(centre - truth, axis=-1)))

    def video(self, csv: Path) -> dict[str, float]:
        xy = xy_of(read_predictions(csv), self.names)
        with tempfile.TemporaryDirectory() as tmp:
            return self.label_free.write(xy, self.names, Path(tmp), "video")


def open_study(root: Path) -> Any:
    from sweeper.study.storage import default_storage_url, open_storage
    from sweeper.study.study import load_existing_study

    return load_existing_study(STUDY, open_storage(default_storage_url(root), heartbeat_seconds=60))


def trial_files(study: Any, root: Path, k: int, into: Path) -> list[tuple[int, float, Path, Path]]:
    """The ``k`` best complete trials: (number, val px, predictions.csv, video CSV), downloaded."""
    from mlflow import MlflowClient

    from sweeper.ensemble.members import top_members
    from sweeper.tracking.mlflow_runs import default_tracking_uri

    client = MlflowClient(tracking_uri=default_tracking_uri(root))
    out = []
    for member in top_members(study, k):
        target = into / member.label
        target.mkdir(parents=True, exist_ok=True)
        labeled = client.download_artifacts(member.run_id, "predictions.csv", str(target))
        video = client.download_artifacts(
            member.run_id, f"video_preds/{VIDEO.stem}.csv", str(target)
        )
        out.append((member.trial_number, member.value, Path(labeled), Path(video)))
    return out


def row(name: str, test: float, video: dict[str, float], minutes: str) -> str:
    return (
        f"{name:<44}{test:>9.2f}{video.get('pca_singleview_error', float('nan')):>10.2f}"
        f"{video.get('pca_multiview_error', float('nan')):>10.2f}"
        f"{100 * video.get('temporal_jump_rate', float('nan')):>9.1f}%  {minutes}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--lp-python", required=True, help="python of an environment with lightning-pose 2.4.3"
    )
    parser.add_argument(
        "--budget-min", type=float, default=60.0, help="wall minutes each, one core each"
    )
    parser.add_argument(
        "--reserve-min", type=float, default=3.0, help="no new trial in the budget's last minutes"
    )
    parser.add_argument("--trial-epochs", type=int, default=100)
    parser.add_argument(
        "--space", action="append", help="shipped space names (default learning_rate, losses)"
    )
    parser.add_argument(
        "--lp-override",
        action="append",
        default=[],
        help="KEY=VALUE for LP only (e.g. training.check_val_every_n_epoch=1 for a short smoke run)",
    )
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--sampler-seed", type=int, default=0)
    parser.add_argument(
        "--workdir", type=Path, help="keep everything here (default: a temporary directory)"
    )
    args = parser.parse_args()
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    warnings.filterwarnings("ignore", message=".*experimental feature.*")
    args.space = args.space or ["learning_rate", "losses"]
    if not MIRROR_MOUSE.exists():
        sys.exit(f"needs {MIRROR_MOUSE}")
    out = (args.workdir or Path(tempfile.mkdtemp(prefix="sweep-value-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    print(
        f"budget: {args.budget_min:g} min each, side by side, one core and one thread each; workdir {out}\n"
        f"LP: its mirror-mouse-example config with {' '.join(LP_OVERRIDES + args.lp_override)}\n"
        f"sweep: {BASE_CONFIG.name}, spaces {', '.join(args.space)}, {args.trial_epochs}-epoch trials, "
        f"median pruner (3 startup trials, 20 warmup epochs), sampler seed {args.sampler_seed}",
        flush=True,
    )
    lp, lp_started = start_lp(args.lp_python, args.budget_min, out, 0, args.lp_override)
    sweep, sweep_started = start_sweep(args, out, core=1)
    deadline = sweep_started + args.budget_min * 60
    while sweep.poll() is None and time.time() < deadline:
        time.sleep(5)
    if sweep.poll() is None:  # the budget is up: Ctrl-C, as a user would
        sweep.send_signal(signal.SIGINT)
        sweep.wait()
    sweep_min = (time.time() - sweep_started) / 60
    lp_out, _ = lp.communicate()
    lp_min = (time.time() - lp_started) / 60
    if lp.returncode != 0:
        sys.exit(f"Lightning Pose failed (exit {lp.returncode}); see {out / 'lp.log'}")
    lp_result = json.loads(lp_out.strip().splitlines()[-1])

    started = time.time()
    _, env = one_core(1)
    ensemble = subprocess.run(
        [
            sys.executable,
            "-m",
            "sweeper",
            "ensemble",
            STUDY,
            str(VIDEO),
            f"--top-k={args.top_k}",
            f"--root={out / 'mlruns'}",
            f"--output-dir={out / 'ensemble'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=out,
    )
    ensemble_min = (time.time() - started) / 60
    if ensemble.returncode != 0:
        sys.exit(f"sweeper ensemble failed:\n{ensemble.stdout[-2000:]}{ensemble.stderr[-2000:]}")

    from sweeper.study.study import state_counts

    score = Scorer()
    study = open_study(out / "mlruns")
    members = trial_files(study, out / "mlruns", args.top_k, out / "scored")
    ens_dir = out / "ensemble" / "ensemble"
    lp_epochs = max((e for e, _ in lp_result["val_curve"]), default=0)
    print(
        f"\nLP: trained {lp_result['wall_seconds'] / 60:.1f} min (validated up to epoch {lp_epochs}), "
        f"{lp_min:.1f} min in all with its evaluation and {lp_result.get('video_seconds', 0) / 60:.1f} min "
        f"predicting the video frame by frame"
    )
    print(
        f"sweep: {sweep_min:.1f} min, trials {dict(state_counts(study))}; best trials "
        + ", ".join(f"{n} (val {v:.2f} px)" for n, v, _, _ in members)
    )
    print(f"ensemble of the top {args.top_k}: {ensemble_min:.1f} min after the budget (one core)")
    budget = f"{args.budget_min:g} min"
    centre = score.test_error([m[2] for m in members])
    # (name, test px, video CSV, time)
    table: list[tuple[str, float, Path, str]] = [
        (
            "Lightning Pose 2.4.3, default config",
            score.test_error([out / "lp" / "predictions.csv"]),
            Path(lp_result["video_csv"]),
            budget,
        ),
        *(
            (
                f"sweep's best trial ({n})" if i == 0 else f"  trial {n}",
                score.test_error([labeled]),
                video,
                budget if i == 0 else "",
            )
            for i, (n, _, labeled, video) in enumerate(members)
        ),
        (
            f"ensemble of top {args.top_k}: median centre",
            centre,
            ens_dir / f"{VIDEO.stem}_ensemble.csv",
            f"+{ensemble_min:.1f} min",
        ),
        (
            f"ensemble of top {args.top_k}: EKS",
            centre,
            ens_dir / f"{VIDEO.stem}_eks.csv",
            "(test px: the centre)",
        ),
    ]
    print(f"\n{'':<44}{'test px':>9}{'PCA sv px':>10}{'PCA mv px':>10}{'jumps':>10}")
    for name, test, video_csv, minutes in table:
        print(row(name, test, score.video(video_csv), minutes))


if __name__ == "__main__":
    main()
