"""CLI latency of refused input: how long ``sweeper`` takes to answer an argument, file, config or
space error, and whether answering it imported torch (target: well under 1 s, no torch).

Each command runs ``--runs`` times in a fresh interpreter, as the console script does
(``sweeper.cli.main``, wrapped so the child reports on stderr whether ``torch`` and ``lightning``
ended up in ``sys.modules``, and its peak RSS, ``VmHWM``). Wall time is measured here around the
whole child, interpreter start included. Inputs are a small synthetic data set
(``pose.data.synthetic``, 10 images) and its config in a temp dir, a valid space file, a space with an
unknown key, and an empty store root. Two commands are shown for reference: ``--help`` and a valid
``validate``, which reads the registries' names from ``pose.config.catalog`` (it imported the engine
before that catalog).

``--before DIR`` also times another source tree of the project (e.g. ``git worktree add /tmp/before
HEAD~1``), its ``sweeper`` first on the child's ``PYTHONPATH``; the two trees' runs alternate, so both
columns come from the same minutes of the same machine.

    python bench/cli_latency.py [--runs 5] [--before DIR]
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

from bench._common import machine, median  # noqa: E402

# the child: run the CLI on argv, then say which heavy modules it imported (main always exits)
WRAPPER = """\
import sys
sys.argv = ["sweeper", *sys.argv[1:]]
try:
    from sweeper.cli import main
    main()
finally:
    hwm = next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM"))
    heavy = [m for m in ("torch", "lightning") if m in sys.modules]
    print("IMPORTED", hwm, *heavy, file=sys.stderr)
"""


def commands(tmp: Path) -> list[tuple[str, list[str], int]]:
    """(label, argv, expected exit code) of each timed command."""
    from pose.data.synthetic import make_example_dataset

    config = make_example_dataset(tmp / "data", n_images=10, n_video_frames=10)
    space = tmp / "space.yaml"
    space.write_text("training.optimizer_params.learning_rate: {low: 3.0e-4, high: 3.0e-3}\n")
    bad_space = tmp / "bad-space.yaml"
    bad_space.write_text("training.no_such_key: {choices: [1, 2]}\n")
    missing = str(tmp / "missing.yaml")
    root = ["--root", str(tmp / "no-store")]
    c, s = str(config), str(space)
    return [
        ("sweeper --help", ["--help"], 0),
        ("train missing.yaml", ["train", missing], 2),
        ("run missing.yaml --space s.yaml -n 1", ["run", missing, "--space", s, "-n", "1"], 2),
        ("train cfg -o training.max_epochs=abc", ["train", c, "-o", "training.max_epochs=abc"], 2),
        ("train cfg -o training.no_such_key=1", ["train", c, "-o", "training.no_such_key=1"], 2),
        (
            "train cfg -o training.train_batch_size=0",
            ["train", c, "-o", "training.train_batch_size=0"],
            2,
        ),
        ("run cfg --space missing.yaml -n 1", ["run", c, "--space", missing, "-n", "1"], 2),
        (
            "run cfg --space unknown-key.yaml -n 1",
            ["run", c, "--space", str(bad_space), "-n", "1", *root],
            2,
        ),
        ("run cfg --space s.yaml -n 0", ["run", c, "--space", s, "-n", "0", *root], 2),
        (
            "run cfg -o data.data_dir=missing ...",
            ["run", c, "--space", s, "-n", "1", "-o", f"data.data_dir={tmp}/none", *root],
            2,
        ),
        ("validate missing.yaml", ["validate", missing], 2),
        ("report study (no store)", ["report", "study", *root], 2),
        ("predict dir missing.mp4", ["predict", str(tmp / "data"), str(tmp / "missing.mp4")], 2),
        ("example-data (not empty)", ["example-data", str(tmp)], 2),
        (
            "validate cfg -o model.backbone=resnet19",
            ["validate", c, "-o", "model.backbone=resnet19"],
            2,
        ),
        ("validate cfg (valid)", ["validate", c], 0),
    ]


def run_once(
    argv: list[str], cwd: Path, tree: Path | None = None
) -> tuple[float, int, float, str, str]:
    """(wall seconds, exit code, peak RSS in GB, imported heavy modules, first stderr line) of the
    installed project, or of the source ``tree``."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    start = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", WRAPPER, *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    wall = time.perf_counter() - start
    lines = child.stderr.splitlines()
    report = next((line for line in reversed(lines) if line.startswith("IMPORTED")), "IMPORTED 0")
    _, hwm_kb, *heavy = report.split()
    message = next((line for line in lines if not line.startswith("IMPORTED")), "")
    return wall, child.returncode, int(hwm_kb) / 1024**2, " ".join(heavy) or "-", message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", type=Path, help="another source tree to time beside this one")
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    trees: list[tuple[str, Path]] = [("this tree", here)]
    if args.before is not None:
        trees.insert(0, ("before", args.before.resolve()))
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f} at start")
    print(
        f"each command {args.runs} times per tree in a fresh interpreter, trees alternating: "
        + ", ".join(f"{label} = {path}" for label, path in trees)
    )
    print("wall s median (min-max), peak RSS (max), what it imported\n")
    with tempfile.TemporaryDirectory(prefix="cli-latency-") as tmp_name:
        tmp = Path(tmp_name)
        for label, argv, expected in commands(tmp):
            results: dict[str, list[tuple[float, int, float, str, str]]] = {t: [] for t, _ in trees}
            for _ in range(args.runs):
                for tree_label, tree in trees:
                    results[tree_label].append(run_once(argv, tmp, tree))
            print(label)
            for tree_label, runs in results.items():
                walls = [r[0] for r in runs]
                _, code, _, imported, message = runs[-1]
                flag = "" if code == expected else f"  (expected exit {expected})"
                print(
                    f"  {tree_label:10} {median(walls):6.2f} s ({min(walls):.2f}-{max(walls):.2f})"
                    f"  {max(r[2] for r in runs):5.2f} GB  exit {code}  imports: {imported}{flag}"
                )
            message = results[trees[-1][0]][-1][4]
            if message and results[trees[-1][0]][-1][1]:
                print(f"  {'':10} {message[:110]}")
    print(f"\nload average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
