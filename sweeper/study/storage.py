"""Where studies live: the embedded SQLite default under ``mlruns/``, or any Optuna storage URL.

SQLite files are switched to write-ahead logging and opened with a long busy timeout, so several
local ``sweeper run`` processes can share them without "database is locked" failures.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import optuna
from filelock import FileLock
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial

from sweeper.errors import SweepError

DEFAULT_ROOT = Path("mlruns")
SQLITE_TIMEOUT_SECONDS = 60


def default_storage_url(root: Path = DEFAULT_ROOT) -> str:
    return f"sqlite:///{(root / 'optuna.db').resolve()}"


def redact(url: str) -> str:
    """``url`` with any password (user info or ``?password=``) replaced by ``***``."""
    parts = urlsplit(url)
    query = re.sub(r"(?i)(^|&)(password|passwd|pwd)=[^&]*", r"\1\2=***", parts.query)
    if parts.password is None and query == parts.query:
        return url  # untouched (urlunsplit would also rewrite sqlite://// paths)
    if parts.password is not None:
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts._replace(query=query))


def scrub(text: str, url: str) -> str:
    """``text`` with the password of ``url`` (if any) replaced by ``***``."""
    parts = urlsplit(url)
    secrets = [parts.password or ""] + re.findall(
        r"(?i)(?:^|&)(?:password|passwd|pwd)=([^&]*)", parts.query
    )
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    return text


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL, else None."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


@contextmanager
def init_lock(url: str) -> Iterator[None]:
    """Serialize creating/migrating a SQLite store across processes (its schema setup races)."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=SQLITE_TIMEOUT_SECONDS):
        yield


def prepare_sqlite(url: str) -> None:
    """Create the directory of a SQLite database and switch it to write-ahead logging (persistent)."""
    path = sqlite_path(url)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=SQLITE_TIMEOUT_SECONDS) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def open_storage(
    url: str,
    heartbeat_seconds: int,
    on_stale_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
) -> RDBStorage:
    """An Optuna RDB storage with heartbeats, so trials of a dead worker are found and retried."""
    engine_kwargs: dict = {}
    if url.startswith("sqlite"):
        prepare_sqlite(url)
        engine_kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT_SECONDS}
    elif url.startswith("postgresql"):
        engine_kwargs["pool_pre_ping"] = True
    try:
        with init_lock(url):
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_seconds,
                grace_period=2 * heartbeat_seconds,
                heartbeat_stale_trial_callback=on_stale_trial,
            )
    except ModuleNotFoundError as err:
        extra = " (pip install 'pose-sweeper[postgres]')" if "psycopg" in str(err) else ""
        raise SweepError(f"--storage {redact(url)}: missing driver {err.name}{extra}") from None
    except Exception as err:  # SQLAlchemy's URL and connection errors
        reason = scrub(str(err).strip().splitlines()[0], url)
        raise SweepError(f"--storage {redact(url)}: cannot open Optuna storage: {reason}") from None
