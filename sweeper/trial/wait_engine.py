"""A trial engine that waits instead of training, to measure the sweep platform on its own.

``SWEEPER_TRIAL_ENGINE=wait:SECONDS`` (read by ``bench/scaling.py``'s workers, never set by the
CLI) makes each trial's child spend ``SECONDS`` in total over its ``training.max_epochs`` epochs
without importing torch, and do everything else a trial does for real: it reports each epoch's
metrics and waits for the pruner's verdict, writes ``config.yaml``, ``metrics.json`` and a small
``best.ckpt`` for the sweep to log as artifacts, and ends done or pruned. Its error curve depends on
the sampled learning rate, so samplers and pruners have something to work with.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from multiprocessing.connection import Connection
from typing import Any

import yaml

from sweeper.trial.child import exit_when_parent_dies, redirect_output
from sweeper.trial.request import TrialRequest

ENGINE_ENV = "SWEEPER_TRIAL_ENGINE"
ARTIFACT_BYTES = 64 * 1024


def wait_seconds() -> float | None:
    """The seconds per trial of ``SWEEPER_TRIAL_ENGINE=wait:SECONDS``; None for the real engine."""
    value = os.environ.get(ENGINE_ENV, "")
    if not value.startswith("wait:"):
        return None
    return float(value.removeprefix("wait:"))


def _curve(raw: dict[str, Any], epoch: int, epochs: int) -> float:
    """Pixel error after ``epoch``: lowest near learning rate 1e-3, falling as epochs pass."""
    lr = float(raw.get("training", {}).get("optimizer_params", {}).get("learning_rate", 1e-3))
    floor = 2.0 + 4.0 * abs(math.log10(lr) + 3.0)
    return floor + 40.0 * math.exp(-3.0 * (epoch + 1) / epochs)


def run_wait_trial(request: TrialRequest, conn: Connection, alive: Connection) -> None:
    """Child entry point of the wait engine (see the module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's to handle
    exit_when_parent_dies(alive)
    redirect_output(request.log_file)
    seconds = wait_seconds() or 0.0
    raw = request.raw_config
    epochs = int(raw.get("training", {}).get("max_epochs") or 1)
    started = time.perf_counter()
    best = math.inf
    for epoch in range(epochs):
        time.sleep(seconds / epochs)
        error = _curve(raw, epoch, epochs)
        best = min(best, error)
        conn.send(
            {
                "type": "epoch",
                "epoch": epoch,
                "max_epochs": epochs,
                "metrics": {
                    "train/loss": error / 100,
                    "val/loss": error / 90,
                    "val/pixel_error": error,
                },
                "validated": True,
            }
        )
        if conn.recv().get("prune"):
            conn.send({"type": "pruned", "reason": f"pruned after epoch {epoch + 1}"})
            return
    out = request.output_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    metrics = {"val_pixel_error": best, "best_val_loss": best / 90}
    (out / "metrics.json").write_text(json.dumps(metrics))
    (out / "best.ckpt").write_bytes(os.urandom(ARTIFACT_BYTES))
    print(f"waited {seconds:.1f} s over {epochs} epochs")
    conn.send({"type": "done", "metrics": metrics, "engine_seconds": time.perf_counter() - started})
