"""SIGTERM during training ends the process, as it would without Lightning's handler in between."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import lightning as L
    from pose.config import load_config
    from pose.pipeline import train

    class Stop(L.Callback):
        def on_train_epoch_end(self, trainer, module):
            os.kill(os.getpid(), signal.SIGTERM)

    overrides = sys.argv[3:]
    cfg = load_config(sys.argv[1], overrides)
    try:
        train(cfg, sys.argv[2], extra_callbacks=[Stop()], progress_bar=False)
    except SystemExit:
        print("swallowed: SystemExit", flush=True)  # what a test runner would do
    except BaseException as err:
        print(f"raised: {type(err).__name__}", flush=True)
    print("still running", flush=True)
    """
)


@pytest.mark.slow
def test_sigterm_during_fit_ends_the_process(synthetic_dir: Path, tmp_path: Path) -> None:
    from tests.pose.train.test_train import FAST

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            str(synthetic_dir / "config.yaml"),
            str(tmp_path / "o"),
            *FAST,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == -signal.SIGTERM, done.stdout + done.stderr[-2000:]
    assert "still running" not in done.stdout
