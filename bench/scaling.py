"""How the sweep platform scales with workers, apart from compute.

Starts 1, 4, 16 and 32 ``sweeper run`` worker processes on one study, on the embedded stores
(SQLite under one ``--root``) and on PostgreSQL + an MLflow tracking server (a throwaway cluster and
server on 127.0.0.1, as the ``services`` tests start them). Each trial replaces training by a fixed
wait (``SWEEPER_TRIAL_ENGINE=wait:SECONDS``, spread over its epochs) and does everything else for
real: ask, one report and prune verdict per epoch (median pruner), params, per-epoch metrics, a
64 KiB checkpoint and its other files as MLflow artifacts, tell. A study gets W x (10 + W) trials,
so that all W workers run at once for a while however long the last of them takes to start; the
figures are measured over the time all W ran trials at once: trials per hour, the share of that
time spent in the trials' waits (1.0 would be a platform that costs nothing), and its ratio to one
worker's share (the ratio to linear).

    python bench/scaling.py [--workers 1 4 16 32] [--trials-per-worker 10] [--wait 2]
        [--stores sqlite postgres]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO, machine  # noqa: E402

SPACE = """
training.optimizer_params.learning_rate:
  low: 1.0e-4
  high: 1.0e-2
  log: true
"""
EPOCHS = 4


def _steady(storage: str, study: str, workers: int, wait: float) -> dict:
    """Throughput while all ``workers`` were busy: from the first moment ``workers`` trials ran at
    once to the last (before it, workers were still starting; after it, the study ran out), as
    trials/hour and as the share of that time spent in the trials' waits (1.0 is ideal)."""
    import optuna

    from sweeper.study.storage import open_storage

    trials = optuna.load_study(study_name=study, storage=open_storage(storage, 60)).trials
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    spans = [
        (t.datetime_start.timestamp(), t.datetime_complete.timestamp(), len(t.intermediate_values))
        for t in trials
        if t.state.name in ("COMPLETE", "PRUNED") and t.datetime_start and t.datetime_complete
    ]
    events = sorted([(s, 1) for s, _, _ in spans] + [(e, -1) for _, e, _ in spans])
    running, full = 0, []
    for when, step in events:
        running += step
        if running >= workers:
            full.append(when)
    if len(full) < 2:
        return {
            "counts": counts,
            "trials_per_hour": float("nan"),
            "busy": float("nan"),
            "window": 0.0,
        }
    t0, t1 = full[0], full[-1]
    # each trial counts for the share of its duration inside the window
    done = 0.0
    epochs = 0.0
    for s, e, n in spans:
        overlap = max(0.0, min(e, t1) - max(s, t0))
        if e > s and overlap > 0:
            done += overlap / (e - s)
            epochs += n * overlap / (e - s)
    window = t1 - t0
    busy = epochs * (wait / EPOCHS) / (workers * window)
    return {
        "counts": counts,
        "trials_per_hour": done / window * 3600,
        "busy": busy,
        "window": window,
    }


def run(store: str, workers: int, args: argparse.Namespace, work: Path, services: dict) -> dict:
    study = f"scale-{store}-{workers}"
    root = work / study
    root.mkdir()
    extra: list[str] = []
    if store == "sqlite":
        storage = f"sqlite:///{root / 'mlruns' / 'optuna.db'}"
    else:
        storage = services["postgres"].create_database(study.replace("-", "_"))
        extra = ["--storage", storage, "--tracking-uri", services["mlflow"].uri]
    data = work / "data"
    (root / "space.yaml").write_text(SPACE)
    command = [
        sys.executable, "-m", "sweeper", "run", str(data / "config.yaml"),
        "--space", str(root / "space.yaml"), "-n", str(workers * args.trials_per_worker + workers * workers),
        "--study-name", study, "--gpus", "", "--heartbeat", "10",
        "--pruner", "median", "--pruner-startup-trials", "5",
        "--override", f"training.max_epochs={EPOCHS}", "--override", f"training.min_epochs={EPOCHS}",
        *extra,
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SWEEPER_TRIAL_ENGINE": f"wait:{args.wait}",
        "OMP_NUM_THREADS": "1",
    }
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in range(workers)
    ]
    errors = [p.communicate()[1].decode() for p in procs]
    for proc, err in zip(procs, errors, strict=True):
        if proc.returncode != 0:
            raise SystemExit(f"{study}: a worker exited {proc.returncode}: {err[-2000:]}")
    wall = time.monotonic() - started
    locked = sum("locked" in err for err in errors)
    return {**_steady(storage, study, workers, args.wait), "wall": wall, "locked": locked}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--trials-per-worker", type=int, default=10)
    parser.add_argument("--wait", type=float, default=2.0, help="seconds each trial waits")
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    from pose.data.synthetic import make_example_dataset
    from tests import services as svc

    print(machine())
    print(
        f"workers {args.workers}, {args.trials_per_worker} trials per worker, {EPOCHS} epochs, "
        f"{args.wait:g} s wait per trial (ideal {3600 / args.wait:.0f} trials/hour per worker)"
    )
    results: dict[tuple[str, int], dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        work = Path(tmp)
        make_example_dataset(work / "data", n_images=20, n_video_frames=8, seed=0)
        services: dict = {}
        if "postgres" in args.stores:
            reason = svc.missing_reason()
            if reason:
                raise SystemExit(f"postgres: {reason}")
            services["postgres"] = svc.start_postgres(max_connections=100)
            services["mlflow"] = svc.MlflowServer(
                services["postgres"].create_database("mlflow"),
                work / "artifacts",
                work / "mlflow.log",
            )
            services["mlflow"].start()
        try:
            for store in args.stores:
                for workers in args.workers:
                    result = run(store, workers, args, work, services)
                    results[store, workers] = result
                    print(
                        f"  {store:8} {workers:3d} workers: {result['counts']}, "
                        f"{result['trials_per_hour']:.0f} trials/h and {result['busy']:.3f} busy "
                        f"over {result['window']:.0f} s with all workers running; wall "
                        f"{result['wall']:.0f} s; 'locked' in {result['locked']} workers' output",
                        flush=True,
                    )
        finally:
            if services:
                services["mlflow"].stop()
                svc.remove(services["postgres"])
    print("\n| store | workers | trials/hour (all busy) | time in trial waits | ratio to linear |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for (store, workers), result in results.items():
        base = results.get((store, 1))
        ratio = result["busy"] / base["busy"] if base else float("nan")
        print(
            f"| {store} | {workers} | {result['trials_per_hour']:.0f} | {result['busy']:.3f} | "
            f"{ratio:.2f} |"
        )
    print("ratio to linear: the share of time in trial waits, over one worker's share")


if __name__ == "__main__":
    main()
