"""The Typer app and what every command shares: our errors become one line on stderr, exit code 2.

Commands live in :mod:`sweeper.cli.engine_commands` (train, validate, example-data) and
:mod:`sweeper.cli.sweep_commands` (run, report, promote, ui); importing :mod:`sweeper.cli` registers them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from pose.errors import PoseError
from sweeper.cli.help import UsageCommand

if TYPE_CHECKING:  # rich.progress only where a command shows progress
    from rich.progress import Progress

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="sweeper",
    help="Train pose-estimation models from Lightning Pose configs and sweep their hyperparameters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def command(name: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Register a command of ``sweeper`` with Unix-style help (:class:`UsageCommand`)."""
    return app.command(name, cls=UsageCommand)


ConfigArg = Annotated[
    Path, typer.Argument(help="A Lightning Pose config.yaml.", show_default=False)
]
VideosArg = Annotated[
    list[Path], typer.Argument(help="Video files or directories of videos.", show_default=False)
]
OverrideOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--override",
        "-o",
        help="Dotted KEY=VALUE override, e.g. training.max_epochs=5 (repeatable).",
    ),
]


def frame_progress() -> Progress:
    """The progress bars of commands that run models over video frames (``predict``,
    ``ensemble``): one bar per video, frames done of the container's count, time left."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn our own errors (bad config, data, weights) into one line on stderr and exit code 2.

    Anything else is a bug and keeps its traceback.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except PoseError as err:
            err_console.print(
                Text.assemble(("error", "bold red"), f": {err}"), highlight=False, soft_wrap=True
            )
            raise typer.Exit(2) from None

    return wrapper


def main() -> None:
    """Console-script entry point: usage errors are one line too, Ctrl-C is exit code 130."""
    import sys

    from typer.exceptions import TyperException  # Typer's (vendored) click errors derive from it

    try:
        code = app(standalone_mode=False, prog_name="sweeper")
    except TyperException as err:
        ctx = getattr(err, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        err_console.print(
            Text.assemble(("error", "bold red"), f": {message}{hint}"),
            highlight=False,
            soft_wrap=True,
        )
        code = int(getattr(err, "exit_code", 2))
    except (typer.Abort, KeyboardInterrupt):
        err_console.print(Text.assemble(("interrupted", "bold yellow")))
        code = 130
    if code == 130:
        # Python gives SIGINT back to the OS default as it shuts down: a second Ctrl-C then would
        # end the process by the signal instead of with 130 (only at a real exit, not in-process)
        import atexit

        atexit.register(_ignore_interrupts)
    sys.exit(code if isinstance(code, int) else 0)


def _ignore_interrupts() -> None:
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
