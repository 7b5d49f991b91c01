"""Promotion after a one-trial quick-start sweep: the README's snippet and the printed hint load the
model in a fresh process, and the trial's finished run is left exactly as it was."""

from __future__ import annotations

import contextlib
import io
import math
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.entities import Run

from pose.data.synthetic import HEIGHT, KEYPOINTS, WIDTH
from sweeper.cli import main
from sweeper.promote import Promotion
from sweeper.tracking.mlflow_runs import default_tracking_uri
from tests.conftest import REPO
from tests.sweeper.conftest import SWEEP_FAST, overrides

pytestmark = pytest.mark.slow

# SWEEP_FAST, cut to one epoch: the model only has to exist, not to be good
ONE_EPOCH = [*SWEEP_FAST, "training.max_epochs=1", "training.min_epochs=1"]


@dataclass
class Promoted:
    home: Path  # laid out like the repository root after the quick start
    client: MlflowClient
    run_id: str
    before: dict[str, Any]
    after: dict[str, Any]
    after_run: Run
    out: str  # what `sweeper promote` printed


def _sweeper(monkeypatch: pytest.MonkeyPatch, *args: object) -> str:
    """``sweeper ARGS`` in-process; its stdout (fails on a non-zero exit)."""
    monkeypatch.setattr(sys, "argv", ["sweeper", *map(str, args)])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as info:
        main()
    assert not info.value.code, f"sweeper {args}: exit {info.value.code}\n{out.getvalue()}"
    return out.getvalue()


def _snapshot(client: MlflowClient, run_id: str) -> dict[str, Any]:
    """Everything of a run that promotion must not change, metric histories included."""
    run = client.get_run(run_id)
    histories = {
        key: sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key))
        for key in run.data.metrics
    }
    info = run.info
    return {
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "lifecycle_stage": info.lifecycle_stage,
        "metrics": dict(run.data.metrics),
        "histories": histories,
        "params": dict(run.data.params),
        "tags": dict(run.data.tags),
    }


@pytest.fixture(scope="module")
def promoted(tmp_path_factory: pytest.TempPathFactory) -> Promoted:
    """The README's quick start, shrunk: example data, a 1-trial sweep, ``promote --model-name
    mouse``, all with the default ``--root mlruns`` in the current directory."""
    home = tmp_path_factory.mktemp("quickstart")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(home)
        _sweeper(monkeypatch, "example-data", "example", "--n-images", 30)
        space = REPO / "configs" / "search_spaces" / "quickstart.yaml"
        _sweeper(
            monkeypatch,
            *["run", "example/config.yaml", "--space", space, "--n-trials", 1, "--seed", 0],
            *overrides(*ONE_EPOCH),
        )
        uri = default_tracking_uri(Path("mlruns"))
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        experiment = client.get_experiment_by_name("example")
        assert experiment is not None
        (trial,) = client.search_runs(
            [experiment.experiment_id], filter_string="tags.`sweeper.role` = 'trial'"
        )
        run_id = trial.info.run_id
        before = _snapshot(client, run_id)
        out = _sweeper(monkeypatch, "promote", "example", "--model-name", "mouse")
        after = _snapshot(client, run_id)
    return Promoted(home, client, run_id, before, after, client.get_run(run_id), out)


def _readme_promote_snippet() -> str:
    """The python block of the README's Promotion section, as a user would copy it."""
    readme = (REPO / "README.md").read_text()
    section = re.split(r"\n##+ ", readme.split("### Promotion", 1)[1], maxsplit=1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "the Promotion section should show one python block"
    return blocks[0]


def _printed_keypoints(stdout: str) -> dict[str, float]:
    """``print(prediction.T)`` of one image: a ``0`` header, then ``<column> <value>`` lines."""
    rows = [line.split() for line in stdout.strip().splitlines()]
    assert rows[0] == ["0"], stdout
    return {name: float(value) for name, value in rows[1:]}


def _assert_predictions(values: dict[str, float]) -> None:
    assert list(values) == [f"{k}_{part}" for k in KEYPOINTS for part in ("x", "y", "likelihood")]
    assert all(math.isfinite(v) for v in values.values()), values
    for k in KEYPOINTS:
        assert 0 <= values[f"{k}_x"] <= WIDTH and 0 <= values[f"{k}_y"] <= HEIGHT, values
        assert 0 <= values[f"{k}_likelihood"] <= 1, values


def _python(code: str, cwd: Path) -> str:
    """Run ``code`` in a fresh interpreter in ``cwd``; its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_readme_snippet_predicts_in_a_fresh_process(promoted: Promoted) -> None:
    snippet = _readme_promote_snippet()
    _assert_predictions(_printed_keypoints(_python(snippet, promoted.home)))
    assert not (promoted.home / "mlflow.db").exists(), "the snippet must use the sweep's store"


def test_printed_hint_loads_the_model_from_anywhere(promoted: Promoted, tmp_path: Path) -> None:
    hint = promoted.out.split("load it with:\n", 1)[1].strip()
    assert hint.splitlines()[-1] == "model = mlflow.pyfunc.load_model('models:/mouse@champion')"
    image = promoted.home / "example" / "labeled-data" / "img0000.png"
    code = (
        f"{hint}\nimport pandas as pd\n"
        f"print(model.predict(pd.DataFrame({{'image_path': [{str(image)!r}]}})).T)"
    )
    _assert_predictions(_printed_keypoints(_python(code, tmp_path)))
    assert not (tmp_path / "mlflow.db").exists()


def test_promotion_leaves_the_trial_run_as_it_finished(promoted: Promoted) -> None:
    before, after = promoted.before, promoted.after
    assert before["status"] == "FINISHED" and before["end_time"] >= before["start_time"]
    assert before["metrics"] and before["params"] and before["histories"]
    for key in before:
        assert after[key] == before[key], key
    # ...yet the model is linked to it: the run lists it, it names the run, the version records it
    client = promoted.client
    version = client.get_model_version_by_alias("mouse", "champion")
    assert version.run_id == promoted.run_id
    assert version.tags["sweeper.study"] == "example"
    source = version.source or ""
    assert source.startswith("models:/m-"), source  # a logged model, not a run's artifacts
    model = client.get_logged_model(source.removeprefix("models:/"))
    assert model.source_run_id == promoted.run_id and model.status.name == "READY"
    outputs = promoted.after_run.outputs
    assert outputs is not None
    assert [o.model_id for o in outputs.model_outputs] == [model.model_id]


def test_printed_hint_redacts_passwords() -> None:
    promotion = Promotion(
        "mouse", "1", "champion", "trial 0 (1)", "r", "http://me:hunter2@host:5000"
    )
    snippet = promotion.load_snippet
    compile(snippet, "<hint>", "exec")
    assert "hunter2" not in snippet and "http://me:***@host:5000" in snippet
