"""``sweeper ui`` serves the MLflow UI of the embedded store, on 127.0.0.1 only, and prints the
page of each study's trials ranked by the objective (checked in headless Chromium)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sweeper.tracking.mlflow_runs import Tracker, default_artifact_root, default_tracking_uri
from tests.conftest import REPO
from tests.services import free_port


def _lan_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.255.255.255", 1))
            address = sock.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


@contextlib.contextmanager
def _serving(root: Path, log: Path) -> Iterator[int]:
    """``sweeper ui`` on a free port until the block ends; its output goes to ``log`` (a pipe
    nobody reads would fill with the server's request lines and stall it)."""
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "sweeper", "ui", "--port", str(port), "--root", str(root)],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=out,
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
        assert body is not None and "OK" in body, log.read_text()
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@dataclass
class Served:
    port: int
    log: Path  # what ``sweeper ui`` printed
    experiment_id: str
    tmp_path: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A store with study ``demo``'s parent run and three trials (two complete, one pruned), served
    by one ``sweeper ui`` for this module's tests (its start-up is most of their time)."""
    tmp_path = tmp_path_factory.mktemp("ui")
    root = tmp_path / "mlruns"
    tracker = Tracker(default_tracking_uri(root), "demo", default_artifact_root(root))
    parent = tracker.parent_run("demo", {})
    tracker.show_trials("demo", "val/pixel_error", "minimize", "val_pixel_error", ["training.lr"])
    for number, (state, value) in enumerate([("COMPLETE", 7.5), ("COMPLETE", 4.25), ("PRUNED", 0)]):
        run_id = tracker.start_child(parent, "demo", number, {"training.lr": f"1e-{number}"}, {})
        for epoch in range(3):  # the last epoch's val/pixel_error is not the objective value
            tracker.log_epoch(run_id, epoch, {"val/pixel_error": 10.0 - number - epoch})
        final = {"val_pixel_error": value} if state == "COMPLETE" else {}
        tracker.finish_child(run_id, state, None if state == "COMPLETE" else "pruned", final)
    tracker.finish_parent(parent, {}, {}, [], still_running=False)
    log = tmp_path / "ui.log"
    with _serving(root, log) as port:
        yield Served(port, log, tracker.experiment_id, tmp_path)


@pytest.mark.slow
def test_ui_serves_the_store_on_localhost(served: Served) -> None:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{served.port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=demo",
        timeout=5,
    ) as reply:
        assert b'"name": "demo"' in reply.read().replace(b'":"', b'": "')
    lan = _lan_address()
    if lan is not None:  # bound to loopback only: another interface refuses the connection
        with pytest.raises(OSError), socket.create_connection((lan, served.port), timeout=2):
            pass


CHROMIUM = Path("/usr/bin/chromium")
# no internet: without the background-networking flags Chromium's own connections are refused
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.slow
@pytest.mark.browser
def test_the_printed_page_shows_the_trials_ranked_by_the_objective(served: Served) -> None:
    """A fresh browser opening the page ``sweeper ui`` prints sees the runs table, not MLflow's
    GenAI overview: the trials flat, best first, with the objective's column and the description
    naming the best trial. The screenshot is left in the fixture's directory."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs `pip install playwright`")
    if not CHROMIUM.is_file():
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        pages = re.findall(r"^  trials of demo: (\S+)$", served.log.read_text(), re.MULTILINE)
        assert pages == [
            f"http://127.0.0.1:{served.port}/#/experiments/{served.experiment_id}/runs"
            "?workflowType=machine_learning&viewStateShareKey=sweeper-demo"
        ], served.log.read_text()
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(pages[0])
            names = page.get_by_text(re.compile(r"^demo-trial-\d$"))
            names.first.wait_for(timeout=60_000)
            page.get_by_text("val_pixel_error", exact=True).first.wait_for(timeout=30_000)
            page.screenshot(path=str(served.tmp_path / "mlflow_ui.png"))
            rows = sorted(
                (box["y"], text)
                for text, box in zip(
                    names.all_inner_texts(), (n.bounding_box() for n in names.all()), strict=True
                )
                if box is not None
            )
            assert [text for _, text in rows] == ["demo-trial-1", "demo-trial-0", "demo-trial-2"]
            assert page.get_by_text("Study demo minimizes val/pixel_error").count() == 1
            assert page.get_by_text("best so far: trial 1, val_pixel_error = 4.25").count() == 1
            body = page.inner_text("body")
            # neither the GenAI overview nor its sidebar (whose runs page is "Training runs")
            for genai in ("Token Usage", "Observability", "Training runs"):
                assert genai not in body
            assert "/runs?" in page.url
        finally:
            browser.close()
