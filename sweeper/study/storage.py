"""Where studies live: the embedded SQLite default under ``mlruns/``, or any Optuna storage URL.

SQLite files are switched to write-ahead logging and opened with a long busy timeout, so several
local ``sweeper run`` processes can share them without "database is locked" failures. A server
database that refuses connections (restarting, failing over, out of slots) is waited for with
backoff on every call a sweep makes, not only on opening.
"""

from __future__ import annotations

import functools
import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import optuna
from filelock import FileLock, Timeout
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError

from sweeper.errors import SweepError

DEFAULT_ROOT = Path("mlruns")
SQLITE_TIMEOUT_SECONDS = 60
# workers set up a new store one at a time, a few seconds each on a loaded machine: 32 workers
# starting at once waited past 60 s (bench/scaling.py), so the set-up lock waits much longer
INIT_LOCK_TIMEOUT_SECONDS = 900
# One kept connection per worker process (its threads take turns; Optuna's calls are short), so
# 64 workers hold 64 of PostgreSQL's default max_connections of 100; one more opens only while a
# call nests a second session (Optuna's schema check does) and closes after. Pre-ping replaces
# connections the server or a proxy dropped while a trial trained.
SERVER_POOL: dict[str, Any] = {
    "pool_size": 1,
    "max_overflow": 1,
    "pool_timeout": 60,
    "pool_pre_ping": True,
    "pool_recycle": 1800,
}
# a refused connection (server starting, or out of connection slots) is retried this many times,
# waiting 1, 2, 4, ... seconds (with jitter, so many workers do not retry in step): about a
# minute in all, what a PostgreSQL restart or a managed database's failover takes
CONNECT_ATTEMPTS = 7
SCHEMA_RACE_ATTEMPTS = 5


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
    lock = FileLock(str(path) + ".lock", timeout=INIT_LOCK_TIMEOUT_SECONDS)
    try:
        lock.acquire()
    except Timeout:
        raise SweepError(
            f"{path}: waited {INIT_LOCK_TIMEOUT_SECONDS:g} s for another process to finish setting "
            f"up this store (lock {lock.lock_file}); if no sweeper is using it, delete that file"
        ) from None
    try:
        yield
    finally:
        lock.release()


def prepare_sqlite(url: str) -> None:
    """Create the directory of a SQLite database and switch it to write-ahead logging (persistent)."""
    path = sqlite_path(url)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=SQLITE_TIMEOUT_SECONDS) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


_T = TypeVar("_T")


def with_backoff(
    what: str, url: str, call: Callable[[], _T], attempts: int = CONNECT_ATTEMPTS
) -> _T:
    """``call()``, retried with exponential backoff while the database refuses connections; then
    a one-line :class:`SweepError` naming the storage (its password hidden) and the reason."""
    for attempt in range(attempts):
        try:
            return call()
        except (DBAPIError, optuna.exceptions.StorageInternalError) as err:
            refused = _refused_connection(err)
            if refused is None:
                raise
            if attempt == attempts - 1:
                reason = scrub(str(refused.orig or refused).strip().splitlines()[0], url)
                raise SweepError(
                    f"--storage {redact(url)}: {what}: the database refused {attempts} connection "
                    f"attempts over {2 ** (attempts - 1) - 1} s: {reason}"
                ) from None
            time.sleep(2**attempt * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


def _refused_connection(err: BaseException) -> DBAPIError | None:
    """The driver error of a connection the server refused or dropped, also where Optuna wraps it
    in a ``StorageInternalError``; None for errors a retry cannot mend."""
    if isinstance(err, optuna.exceptions.StorageInternalError):
        err = err.__cause__  # type: ignore[assignment]
    if not isinstance(err, DBAPIError):
        return None
    return err if err.connection_invalidated or _refused(err) else None


def _refused(err: Exception) -> bool:
    """A connection the server refused or dropped: worth retrying (unlike a bad password)."""
    text = str(getattr(err, "orig", None) or err).lower()
    return any(
        phrase in text
        for phrase in (
            "connection refused",
            "too many clients",
            "remaining connection slots",
            "the database system is starting up",
            "server closed the connection",
            "could not connect",
            "connection timeout",
            "timeout expired",
        )
    )


class PatientRDBStorage(RDBStorage):
    """Optuna's RDB storage whose every call waits out a database that refuses connections (with
    :func:`with_backoff`), so a sweep's loop, trials and heartbeats ride out a server restart
    instead of failing; past the backoff a call fails with one line naming the storage.

    Retrying is safe: a refused or dropped connection rolls its transaction back.
    """


def _patient(name: str) -> Callable[..., Any]:
    method = getattr(RDBStorage, name)

    @functools.wraps(method)
    def call(self: PatientRDBStorage, *args: Any, **kwargs: Any) -> Any:
        return with_backoff(
            f"Optuna storage call {name}", self.url, lambda: method(self, *args, **kwargs)
        )

    return call


# beyond the abstract API: what heartbeats and stale-trial checks call, and what Optuna's cache in
# front of an RDB storage calls on it directly
_EXTRA_CALLS = {
    "record_heartbeat",
    "_get_stale_trial_ids",
    "_get_trials",
    "_get_best_trial_id",
    "_create_new_trial",
    "_set_trial_param",
    "get_best_trial",
    "get_trial_id_from_study_id_trial_number",
    "get_trial_param",
}
for _name in sorted(optuna.storages.BaseStorage.__abstractmethods__ | _EXTRA_CALLS):
    setattr(PatientRDBStorage, _name, _patient(_name))


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
    else:
        engine_kwargs.update(SERVER_POOL)

    def create() -> RDBStorage:
        with init_lock(url):
            return PatientRDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_seconds,
                grace_period=2 * heartbeat_seconds,
                heartbeat_stale_trial_callback=on_stale_trial,
            )

    def connect() -> RDBStorage:
        # workers opening a fresh server database at once race to create Optuna's tables (the
        # file lock serializes only SQLite): the losers' commit fails; by then the tables exist
        for attempt in range(SCHEMA_RACE_ATTEMPTS):
            try:
                return create()
            except (
                optuna.exceptions.StorageInternalError,
                IntegrityError,
                ProgrammingError,
            ) as err:
                if _refused_connection(err) is not None:
                    raise  # with_backoff's to retry
                if sqlite_path(url) is not None or attempt == SCHEMA_RACE_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0.2, 1.0))
        raise AssertionError("unreachable")

    try:
        return with_backoff("cannot open Optuna storage", url, connect)
    except SweepError:
        raise
    except ImportError as err:  # Optuna re-raises the driver's ModuleNotFoundError as ImportError
        driver = err.name or (err.__cause__ and getattr(err.__cause__, "name", None)) or "module"
        extra = " (pip install 'pose-sweeper[postgres]')" if url.startswith("postgresql") else ""
        raise SweepError(
            f"--storage {redact(url)}: missing database driver {driver}{extra}"
        ) from None
    except Exception as err:  # SQLAlchemy's URL and connection errors
        reason = scrub(str(err).strip().splitlines()[0], url)
        raise SweepError(f"--storage {redact(url)}: cannot open Optuna storage: {reason}") from None
