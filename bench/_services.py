"""Start one service as a real uvicorn process on a migrated database, for benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psutil
from sqlalchemy.engine import make_url

from crm_platform.dev import Child
from crm_platform.engines import free_port
from crm_platform.migrate import migrate
from crm_platform.services import service
from tests.support import drop_database


@dataclass(frozen=True)
class ServiceProcess:
    """A service started by :func:`service_process`."""

    url: str
    database_url: str  # its own database (plain ``postgresql://``), for seeding and checking in SQL
    pid: int  # the uvicorn process; with --workers N its workers are its children
    worker_pid: int | None  # ``python -m <service>.worker``, when started


@contextlib.contextmanager
def running_service(
    name: str, server_url: str, nats_url: str, *, workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """The service on a fresh database; yields its base URL. Stopped and dropped afterwards."""
    with service_process(name, server_url, nats_url, workers=workers, extra_env=extra_env) as running:
        yield running.url


@contextlib.contextmanager
def service_process(
    name: str,
    server_url: str,
    nats_url: str,
    *,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    with_worker: bool = False,
) -> Iterator[ServiceProcess]:
    """Like :func:`running_service`, and also tells where its database is; ``with_worker`` starts the
    service's worker process (relay, consumers, jobs) with the same environment, after the API is ready."""
    database = f"crm_{name}_bench_{uuid.uuid4().hex[:6]}"
    prefix = f"CRM_{name.upper()}_"
    env = dict(os.environ)
    env.update(
        {
            "CRM_DATABASE_URL": server_url,
            "CRM_NATS_URL": nats_url,
            "CRM_ENV": "dev",
            "CRM_LOG_LEVEL": "WARNING",
            f"{prefix}DATABASE_NAME": database,
            f"{prefix}DB_POOL_SIZE": "20",
            **(extra_env or {}),
        }
    )
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        migrate([service(name)], echo=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    port = free_port()
    spec = service(name)
    child = Child(
        name,
        [
            sys.executable,
            "-m",
            "uvicorn",
            spec.app,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        env,
    )
    worker: Child | None = None
    if with_worker:
        if spec.worker is None:
            raise ValueError(f"{name} has no worker")
        worker = Child(f"{name}-worker", [sys.executable, "-m", spec.worker], env)
    child.start()
    url = f"http://127.0.0.1:{port}"
    database_url = make_url(server_url).set(database=database).render_as_string(hide_password=False)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or not child.alive():
                raise RuntimeError(f"{name} did not become ready")
            time.sleep(0.2)
        if worker is not None:
            worker.start()
        assert child.process is not None
        yield ServiceProcess(
            url=url,
            database_url=database_url,
            pid=child.process.pid,
            worker_pid=worker.process.pid if worker is not None and worker.process is not None else None,
        )
    finally:
        if worker is not None:
            worker.stop()
        child.stop()
        asyncio.run(drop_database(server_url, database_url))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class CpuShare:
    """Where the machine's CPU went during a measured stretch, as % of all cores: this process (the
    load), each process tree in ``pids`` (the service, its worker), the processes called by each name in
    ``names`` (e.g. every ``postgres`` process, which on a shared server includes other users' backends),
    and the rest (the kernel and anything else running).

    On a small machine the load generator competes with the service for the same cores, so its share
    belongs next to the throughput it produced.
    """

    def __init__(self, pids: dict[str, int], names: dict[str, str] | None = None) -> None:
        self._roots = pids
        self._names = names or {}
        self._start: dict[str, dict[int, float]] = {}
        self._machine_start = (0.0, 0.0)
        self._wall_start = 0.0
        self.seconds: dict[str, float] = {}  # CPU seconds per part, after stop()

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    def _tree(self, pid: int) -> dict[int, float]:
        try:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return {}
        found = {}
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                found[process.pid] = self._cpu(process)
        return found

    def _named(self, name: str) -> dict[int, float]:
        found = {}
        for process in psutil.process_iter(["name"]):
            if process.info["name"] == name:
                with contextlib.suppress(psutil.NoSuchProcess):
                    found[process.pid] = self._cpu(process)
        return found

    @staticmethod
    def _machine() -> tuple[float, float]:
        times = psutil.cpu_times()
        idle = times.idle + getattr(times, "iowait", 0.0)
        return sum(times) - idle, sum(times)

    def _sample(self) -> dict[str, dict[int, float]]:
        own = os.times()
        return {
            "load_generator": {os.getpid(): own.user + own.system},
            **{part: self._tree(pid) for part, pid in self._roots.items()},
            **{part: self._named(name) for part, name in self._names.items()},
        }

    def start(self) -> None:
        self._start = self._sample()
        self._machine_start = self._machine()
        self._wall_start = time.perf_counter()

    def stop(self) -> dict[str, float]:
        """% of the whole machine (all cores = 100) per part, plus the machine's busy %."""
        end = self._sample()
        busy, total = self._machine()
        capacity = (time.perf_counter() - self._wall_start) * (os.cpu_count() or 1)
        # Per process: one that started meanwhile counts whole; one that ended meanwhile is lost.
        self.seconds = {
            part: sum(seconds - self._start[part].get(pid, 0.0) for pid, seconds in processes.items())
            for part, processes in end.items()
        }
        parts = {part: 100 * seconds / capacity for part, seconds in self.seconds.items()}
        machine_busy = 100 * (busy - self._machine_start[0]) / max(total - self._machine_start[1], 1e-9)
        return {
            **{f"{part}_pct": round(share, 1) for part, share in parts.items()},
            "rest_pct": round(machine_busy - sum(parts.values()), 1),
            "machine_busy_pct": round(machine_busy, 1),
        }


def load_average() -> float:
    """The 1-minute load average: other work on the machine skews every figure, so it is recorded."""
    return round(os.getloadavg()[0], 2)


_SSL_CONTEXT = ssl.create_default_context()


def single_connection_client(url: str, *, timeout: float = 30.0) -> httpx.AsyncClient:
    """An httpx client with one keep-alive connection, for one simulated user of a load test.

    One client per simulated user, not one pool of many connections: httpx's pool walks all its
    connections on every request, and at 64 connections that cost the load generator ~5x the CPU per
    request on the 2-core bench machine (which then starves the service it measures). The SSL context
    is shared because building one per client takes longer than the requests (plain HTTP needs none).
    """
    return httpx.AsyncClient(
        base_url=url, timeout=timeout, verify=_SSL_CONTEXT, limits=httpx.Limits(max_connections=1)
    )
