"""Real services for the ``services`` tests: a throwaway PostgreSQL cluster and an MLflow tracking
server backed by it, both bound to 127.0.0.1 on free ports.

PostgreSQL comes from Debian's packages (``.ci/run`` installs them when absent); the cluster lives
in a temporary directory (``initdb`` + ``pg_ctl``), needs no system service, and is removed at the
end. ``initdb`` refuses to run as root, so as root the cluster runs as the packages' ``postgres``
user. Its superuser has a password, so the tests exercise real password authentication.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PASSWORD = "pg-s3cret-Zq9"  # the tests look for this string where it must not appear
USER = "sweeper"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bin() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: Debian's newest, else the PATH's."""
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def missing_reason() -> str | None:
    """Why a PostgreSQL cluster cannot be started here (None when it can)."""
    if postgres_bin() is None:
        return "PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or _uid("postgres") is None):
        return "running as root without a 'postgres' user to run the cluster as"
    try:
        import psycopg  # noqa: F401
    except ModuleNotFoundError:
        return "the PostgreSQL driver is missing (pip install 'pose-sweeper[postgres]')"
    return None


def _uid(name: str) -> int | None:
    import pwd

    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


@dataclass
class Postgres:
    """A running throwaway cluster; ``url(db)`` is an SQLAlchemy URL with the password in it."""

    directory: Path
    port: int
    bin: Path
    as_user: list[str] = field(default_factory=list)
    options: str = ""  # postgres's command-line options, for a restart

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=USER,
            password=PASSWORD,
            dbname="postgres",
            autocommit=True,
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        log = str(self.directory / "server.log")
        self._ctl("start", "-w", "-l", log, "-o", self.options)

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast", "-w")


def start_postgres(max_connections: int = 100) -> Postgres:
    """initdb a cluster in a new temporary directory and start it on 127.0.0.1."""
    bin_dir = postgres_bin()
    assert bin_dir is not None, missing_reason()
    directory = Path(tempfile.mkdtemp(prefix="sweeper-pg-"))
    directory.chmod(0o755)
    (directory / "pw").write_text(PASSWORD + "\n")
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(directory, "postgres")
        shutil.chown(directory / "pw", "postgres")
    subprocess.run(
        [
            *as_user,
            str(bin_dir / "initdb"),
            "-D",
            str(directory / "data"),
            "-U",
            USER,
            f"--pwfile={directory / 'pw'}",
            "--auth=scram-sha-256",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = Postgres(directory, free_port(), bin_dir, as_user)
    server.options = (
        f"-c listen_addresses=127.0.0.1 -p {server.port} -k {directory} "
        f"-c max_connections={max_connections} -c fsync=off -c synchronous_commit=off"
    )
    server.start()
    return server


def remove(server: Postgres) -> None:
    try:
        server.stop()
    finally:
        shutil.rmtree(server.directory, ignore_errors=True)


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 with a PostgreSQL backend and a local artifact store; it can be
    stopped and started again on the same port (the outage test)."""

    def __init__(self, backend_uri: str, artifacts: Path, log: Path) -> None:
        self.backend_uri, self.artifacts, self.log = backend_uri, artifacts, log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--backend-store-uri",
                    self.backend_uri,
                    "--artifacts-destination",
                    str(self.artifacts),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    "1",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"mlflow server did not start in {timeout:.0f} s: {self.log}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()
