"""Refused input answers without the engine: one line, exit code 2, and neither torch nor Lightning
imported (each command runs in a fresh interpreter; this test process has torch already)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# the child: run the CLI on argv, then name the heavy modules it imported (main always exits)
CHILD = """\
import sys
sys.argv = ["sweeper", *sys.argv[1:]]
try:
    from sweeper.cli import main
    main()
finally:
    print("HEAVY:", *[m for m in ("torch", "lightning") if m in sys.modules], file=sys.stderr)
"""

# this checkout first, as the editable install has it; wide, so no error wraps at a long temp path
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
ENV["COLUMNS"] = "500"

SPACE = "training.optimizer_params.learning_rate: {low: 3.0e-4, high: 3.0e-3, log: true}\n"

# (args, message): CONFIG is the synthetic config, TMP this test's directory
REFUSED = [
    (["train", "TMP/missing.yaml"], "missing.yaml: config file not found"),
    (
        ["train", "CONFIG", "-o", "training.max_epochs=abc"],
        "config key 'training.max_epochs': expected an integer, got 'abc'",
    ),
    (
        ["train", "CONFIG", "-o", "training.no_such_key=1"],
        "unknown config key 'training.no_such_key'",
    ),
    (
        ["train", "CONFIG", "-o", "training.train_batch_size=0"],
        "config key 'training.train_batch_size': expected an integer >= 1, got 0",
    ),
    (["validate", "TMP/missing.yaml"], "missing.yaml: config file not found"),
    (
        ["run", "TMP/missing.yaml", "--space", "TMP/space.yaml", "-n", "1"],
        "missing.yaml: config file not found",
    ),
    (
        ["run", "CONFIG", "--space", "TMP/missing-space.yaml", "-n", "1"],
        "missing-space.yaml: search-space file not found",
    ),
    (
        ["run", "CONFIG", "--space", "TMP/bad-space.yaml", "-n", "1"],
        "bad-space.yaml [training.no_such_key=1]: unknown config key 'training.no_such_key'",
    ),
    (
        ["run", "CONFIG", "--space", "TMP/space.yaml", "-n", "1", "-o", "training.nosuch=2"],
        "unknown config key 'training.nosuch'",
    ),
    (["run", "CONFIG", "--space", "TMP/space.yaml", "-n", "0"], "--n-trials: expected a positive"),
    (
        ["run", "CONFIG", "--space", "TMP/space.yaml", "-n", "1", "-o", "data.data_dir=TMP/none"],
        "config key 'data.data_dir': directory not found",
    ),
    (["report", "some-study", "--root", "TMP/no-store"], "no sweep store at"),
    (["predict", "TMP", "TMP/missing.mp4"], "missing.mp4: file not found"),
    (["example-data", "TMP"], "is not empty"),
]


@pytest.mark.parametrize(("args", "message"), REFUSED, ids=[" ".join(a[:4]) for a, _ in REFUSED])
def test_refused_input_never_imports_the_engine(
    synthetic_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "bad-space.yaml").write_text("training.no_such_key: {choices: [1, 2]}\n")
    argv = [
        a.replace("CONFIG", str(synthetic_dir / "config.yaml")).replace("TMP", str(tmp_path))
        for a in args
    ]
    child = subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=ENV,
    )
    lines = child.stderr.strip().splitlines()
    heavy, errors = lines[-1], lines[:-1]
    assert child.returncode == 2, child.stderr
    assert len(errors) == 1 and errors[0].startswith("error: "), child.stderr
    assert message in errors[0]
    assert heavy == "HEAVY:", f"imported {heavy[7:]} to answer: {errors[0]}"
    assert not (tmp_path / "mlruns").exists()  # no store opened either
