"""``sweeper ui`` serves the MLflow UI of the embedded store, on 127.0.0.1 only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sweeper.tracking.mlflow_runs import Tracker, default_artifact_root, default_tracking_uri
from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lan_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.255.255.255", 1))
            address = sock.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


@pytest.mark.slow
def test_ui_serves_the_store_on_localhost(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    tracker = Tracker(default_tracking_uri(root), "demo", default_artifact_root(root))
    tracker.parent_run("demo", {})
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "sweeper", "ui", "--port", str(port), "--root", str(root)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline, body = time.monotonic() + 90, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                    body = reply.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert body is not None and "OK" in body, (
            server.stdout.read().decode() if server.stdout else ""
        )
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=demo",
            timeout=5,
        ) as reply:
            assert b'"name": "demo"' in reply.read().replace(b'":"', b'": "')
        lan = _lan_address()
        if lan is not None:  # bound to loopback only: another interface refuses the connection
            with pytest.raises(OSError), socket.create_connection((lan, port), timeout=2):
                pass
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
