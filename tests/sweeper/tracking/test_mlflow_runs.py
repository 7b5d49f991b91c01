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


def test_predictions_get_a_one_header_preview(tmp_path: Path) -> None:
    """MLflow's artifact viewer reads one header row: DLC's three get a flat copy under preview/."""
    import numpy as np
    import pandas as pd

    from pose.predict import predictions_frame, write_csv

    out = tmp_path / "trial"
    xy = np.array([[[1.5, 2.5], [3.0, 4.0]]])
    frame = predictions_frame(
        ["labeled-data/img0.png"],
        ["nose", "tail"],
        xy,
        np.array([[0.9, 0.8]]),
        extra_columns={"set": ["train"]},
    )
    write_csv(frame, out / "predictions.csv")
    (out / "metrics.json").write_text("{}")
    pd.DataFrame({"nose": [1.0]}).to_csv(out / "predictions_pixel_error.csv")  # one header already
    root = tmp_path / "mlruns"
    tracker = Tracker(default_tracking_uri(root), "exp", default_artifact_root(root))
    run_id = tracker.start_child(tracker.parent_run("s", {}), "s", 0, {}, {})
    tracker.log_artifacts(run_id, out)

    logged = {a.path for a in tracker.client.list_artifacts(run_id)}
    assert {"predictions.csv", "predictions_pixel_error.csv", "metrics.json", "preview"} <= logged
    assert [a.path for a in tracker.client.list_artifacts(run_id, "preview")] == [
        "preview/predictions.csv"
    ]
    local = tracker.client.download_artifacts(run_id, "preview/predictions.csv", str(tmp_path))
    lines = Path(local).read_text().splitlines()
    assert lines[0] == "image,nose_x,nose_y,nose_likelihood,tail_x,tail_y,tail_likelihood,set"
    assert lines[1] == "labeled-data/img0.png,1.5,2.5,0.9,3.0,4.0,0.8,train"


def test_experiments_open_as_model_training(tmp_path: Path) -> None:
    """The MLflow UI opens an experiment without a kind on its GenAI pages: ours are model
    training, new ones and an older sweep's reopened; a kind someone chose stays."""
    from mlflow import MlflowClient

    uri = default_tracking_uri(tmp_path / "mlruns")
    new = Tracker(uri, "new", None).experiment_id
    client = MlflowClient(uri)
    older = client.create_experiment("older")
    guessed = client.create_experiment(
        "guessed", tags={"mlflow.experimentKind": "no_inferred_type"}
    )
    chosen = client.create_experiment("chosen", tags={"mlflow.experimentKind": "finetuning"})
    for name in ("older", "guessed", "chosen"):
        Tracker(uri, name, None)

    def kind(experiment_id: str) -> str | None:
        return client.get_experiment(experiment_id).tags.get("mlflow.experimentKind")

    assert kind(new) == "custom_model_development"
    assert kind(older) == "custom_model_development"
    assert kind(guessed) == "custom_model_development"
    assert kind(chosen) == "finetuning"


def _trials(tracker: Tracker, parent: str, values: list[tuple[str, float | None]]) -> None:
    for number, (state, value) in enumerate(values):
        run_id = tracker.start_child(parent, "study", number, {"lr": str(number)}, {})
        tracker.log_epoch(run_id, 0, {"val/pixel_error": 100.0 - number})  # not the objective
        final = {} if value is None else {"val_pixel_error": value}
        tracker.finish_child(run_id, state, None if state == "COMPLETE" else "why", final)


def test_show_trials_ranks_them_by_the_objective(tmp_path: Path) -> None:
    """The shared view's filter and sort, run through MLflow's own search, give this study's trials
    best first; the description names the best complete trial and follows new ones."""
    import json

    root = tmp_path / "mlruns"
    tracker = Tracker(default_tracking_uri(root), "exp", default_artifact_root(root))
    parent = tracker.parent_run("study", {})
    other = tracker.parent_run("other", {})
    tracker.start_child(other, "other", 0, {}, {})  # another study's trial, in the same experiment
    page = tracker.show_trials("study", "val/pixel_error", "minimize", "val_pixel_error", ["lr"])
    eid = tracker.experiment_id
    assert (
        page
        == f"#/experiments/{eid}/runs?workflowType=machine_learning&viewStateShareKey=sweeper-study"
    )
    tags = tracker.client.get_experiment(eid).tags
    assert tags["mlflow.note.content"].startswith(
        "Study study minimizes val/pixel_error; no trial yet."
    )

    _trials(
        tracker, parent, [("COMPLETE", 7.5), ("PRUNED", None), ("COMPLETE", 4.25), ("FAIL", None)]
    )
    tags = tracker.client.get_experiment(eid).tags
    view = json.loads(tags["mlflow.sharedViewState.sweeper-study"])
    assert view["orderByKey"] == "metrics.`val_pixel_error`" and view["orderByAsc"] is True
    assert view["selectedColumns"] == [
        "metrics.`val_pixel_error`",
        "params.`lr`",
        "tags.`sweeper.state`",
    ]
    order = "ASC" if view["orderByAsc"] else "DESC"
    ranked = tracker.client.search_runs(
        [eid], view["searchFilter"], order_by=[f"metrics.`val_pixel_error` {order}"]
    )
    assert [r.data.tags["sweeper.study"] for r in ranked] == ["study"] * 4  # no parent, no other
    assert [r.data.tags["sweeper.trial_number"] for r in ranked][:2] == ["2", "0"]
    first_line = tags["mlflow.note.content"].splitlines()[0]
    assert (
        first_line
        == "Study study minimizes val/pixel_error; best so far: trial 2, val_pixel_error = 4.25."
    )

    tracker.client.set_experiment_tag(eid, "mlflow.note.content", "my own notes")
    _trials(tracker, parent, [("COMPLETE", 1.0)])  # trial 0 again, better: the note is the user's
    assert tracker.client.get_experiment(eid).tags["mlflow.note.content"] == "my own notes"


def test_a_maximized_objective_ranks_highest_first(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    tracker = Tracker(default_tracking_uri(root), "exp", default_artifact_root(root))
    parent = tracker.parent_run("study", {})
    tracker.show_trials("study", "val_pixel_error", "maximize", "val_pixel_error", [])
    _trials(tracker, parent, [("COMPLETE", 2.0), ("COMPLETE", 3.0), ("COMPLETE", 1.0)])
    best = tracker.best_trial_run()
    assert best is not None and best.data.tags["sweeper.trial_number"] == "1"
    note = tracker.client.get_experiment(tracker.experiment_id).tags["mlflow.note.content"]
    assert note.startswith("Study study maximizes val_pixel_error; best so far: trial 1, ")


def test_study_views_lists_every_study_of_the_store(tmp_path: Path) -> None:
    from sweeper.tracking.mlflow_runs import study_views

    root = tmp_path / "mlruns"
    uri = default_tracking_uri(root)
    shown = Tracker(uri, "b-exp", None)
    shown.parent_run("ranked", {})
    shown.show_trials("ranked", "train/loss", "minimize", "train/loss", [])
    older = Tracker(uri, "a-exp", None)  # a sweep from before the ranked view
    older.parent_run("plain", {})
    assert study_views(uri) == [
        ("plain", f"#/experiments/{older.experiment_id}/runs?workflowType=machine_learning"),
        (
            "ranked",
            f"#/experiments/{shown.experiment_id}/runs?workflowType=machine_learning"
            "&viewStateShareKey=sweeper-ranked",
        ),
    ]
