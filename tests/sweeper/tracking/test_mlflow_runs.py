"""MLflow bookkeeping: params from nested configs, parent-run reuse, statuses of ended trials."""

from __future__ import annotations

from pathlib import Path

from sweeper.tracking.mlflow_runs import (
    Tracker,
    default_artifact_root,
    default_tracking_uri,
    flatten,
)


def test_flatten_nested_config() -> None:
    tree = {
        "data": {"image_resize_dims": {"height": 64, "width": 64}, "csv_file": "a.csv"},
        "x": [],
    }
    assert flatten(tree) == {
        "data.image_resize_dims.height": 64,
        "data.image_resize_dims.width": 64,
        "data.csv_file": "a.csv",
        "x": [],
    }


def test_parent_reused_and_child_statuses(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    tracker = Tracker(default_tracking_uri(root), "exp", default_artifact_root(root))
    parent = tracker.parent_run("study", {"sweeper.sampler": "tpe"})
    again = Tracker(default_tracking_uri(root), "exp", default_artifact_root(root))
    assert again.parent_run("study", {"sweeper.sampler": "random"}) == parent
    assert again.client.get_run(parent).data.tags["sweeper.sampler"] == "random"

    sampled = {"data.image_resize_dims": "{height: 64, width: 64}"}
    config = {"data": {"image_resize_dims": {"height": 64, "width": 64}, "csv_file": "a.csv"}}
    runs = {}
    for number, state in enumerate(("COMPLETE", "PRUNED", "FAIL")):
        run_id = tracker.start_child(parent, "study", number, sampled, config)
        tracker.log_epoch(run_id, 0, {"val/pixel_error": 5.0})
        tracker.finish_child(run_id, state, None if state == "COMPLETE" else "why", {"m": 1.0})
        runs[state] = tracker.client.get_run(run_id)
    interrupted = tracker.start_child(parent, "study", 3, sampled, config)
    tracker.finish_child(interrupted, "FAIL", "interrupted", {}, interrupted=True)

    complete = runs["COMPLETE"]
    # the sampled mapping is one param; its sub-keys are not logged again from the config
    assert complete.data.params == {
        "data.image_resize_dims": "{height: 64, width: 64}",
        "data.csv_file": "a.csv",
    }
    assert complete.data.tags["mlflow.parentRunId"] == parent
    assert [r.info.status for r in runs.values()] == ["FINISHED", "KILLED", "FAILED"]
    assert runs["FAIL"].data.tags["sweeper.reason"] == "why"
    assert tracker.client.get_run(interrupted).info.status == "KILLED"
    assert not tracker.run_is_active(interrupted)
    location = tracker.client.get_experiment(tracker.experiment_id).artifact_location
    assert location == (default_artifact_root(root) / "exp").as_uri()


def test_a_trials_running_run_is_found_by_its_tags(tmp_path: Path) -> None:
    """A worker killed between creating a trial's run and recording its id in Optuna: the run is
    still found (and so ended) by study and trial number."""
    root = tmp_path / "mlruns"
    tracker = Tracker(default_tracking_uri(root), "exp", default_artifact_root(root))
    parent = tracker.parent_run("study", {})
    other_study = tracker.start_child(parent, "other", 4, {}, {})
    ended = tracker.start_child(parent, "study", 4, {}, {})
    tracker.finish_child(ended, "COMPLETE", None, {})
    assert tracker.active_trial_run("study", 4) is None
    running = tracker.start_child(parent, "study", 4, {}, {})
    assert tracker.active_trial_run("study", 4) == running
    assert tracker.active_trial_run("other", 4) == other_study
    assert tracker.active_trial_run("study", 5) is None
