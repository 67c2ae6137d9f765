"""`crm dev`: the whole platform on this machine, stopped cleanly with Ctrl-C.

Engines are embedded unless CRM_DATABASE_URL / CRM_NATS_URL name servers. Every service and worker
is a child process; children get SIGTERM if this process dies (PR_SET_PDEATHSIG), so nothing is
orphaned even when the supervisor is killed.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from crm_platform.engines import EmbeddedNats, EmbeddedPostgres, free_port
from crm_platform.migrate import migrate
from crm_platform.seed import seed
from crm_platform.services import SERVICES, ServiceSpec

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGTERM it when the supervisor dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            self.argv,
            env=self.env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Platform:
    """The processes of one running platform (also used by the end-to-end tests)."""

    database_url: str
    nats_url: str
    ports: dict[str, int]
    base_env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[Child] = field(default_factory=list)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def env(self) -> dict[str, str]:
        env = dict(self.base_env)
        env.update(
            {
                "CRM_DATABASE_URL": self.database_url,
                "CRM_NATS_URL": self.nats_url,
                "CRM_ENV": env.get("CRM_ENV", "dev"),
                "CRM_GATEWAY_IDENTITY_URL": self.url("identity"),
                "CRM_GATEWAY_CAMPAIGN_URL": self.url("campaign"),
                "CRM_GATEWAY_FEEDBACK_URL": self.url("feedback"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        for spec in SERVICES:
            env[f"CRM_{spec.name.upper()}_PORT"] = str(self.ports[spec.name])
        return env

    def child_for(self, spec: ServiceSpec, *, worker: bool = False) -> Child:
        env = self.env()
        if worker:
            assert spec.worker is not None
            return Child(f"{spec.name}-worker", [sys.executable, "-m", spec.worker], env)
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            spec.app,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.ports[spec.name]),
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "10",
        ]
        return Child(spec.name, argv, env)

    def start(self, services: list[str] | None = None, *, workers: bool = True) -> None:
        for spec in SERVICES:
            if services is not None and spec.name not in services:
                continue
            child = self.child_for(spec)
            child.start()
            self.children.append(child)
            if workers and spec.worker:
                worker = self.child_for(spec, worker=True)
                worker.start()
                self.children.append(worker)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for spec in SERVICES:
            if not any(child.name == spec.name for child in self.children):
                continue
            path = "/healthz" if not spec.has_database else "/readyz"
            while True:
                try:
                    if httpx.get(self.url(spec.name) + path, timeout=1.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                dead = [child.name for child in self.children if not child.alive()]
                if dead:
                    raise RuntimeError(f"process(es) exited during start-up: {', '.join(dead)}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{spec.name} not ready after {timeout}s")
                time.sleep(0.1)

    def child(self, name: str) -> Child:
        return next(child for child in self.children if child.name == name)

    def stop(self) -> None:
        # APIs first (no new writes), then workers, so the relays publish what the APIs committed.
        for child in sorted(self.children, key=lambda c: c.name.endswith("-worker")):
            child.stop()
        self.children.clear()


def dev_outbox(platform: Platform, directory: Path) -> Child | None:
    """Start the dev sinks for the campaign's email and provider webhooks, unless configured elsewhere."""
    if "CRM_CAMPAIGN_SMTP_PORT" in os.environ or "CRM_CAMPAIGN_CHANNEL_WEBHOOK_URLS" in os.environ:
        return None
    smtp_port, http_port = free_port(), free_port()
    sinks = Child(
        "outbox-sinks",
        [
            sys.executable,
            "-m",
            "crm_platform.sinks",
            "--dir",
            str(directory),
            "--smtp-port",
            str(smtp_port),
            "--http-port",
            str(http_port),
        ],
        dict(os.environ),
    )
    sinks.start()
    platform.children.append(sinks)
    provider = f"http://127.0.0.1:{http_port}"
    platform.base_env["CRM_CAMPAIGN_SMTP_PORT"] = str(smtp_port)
    platform.base_env["CRM_CAMPAIGN_CHANNEL_WEBHOOK_URLS"] = json.dumps(
        {channel: f"{provider}/{channel}" for channel in ("sms", "push", "webhook")}
    )
    return sinks


def default_ports() -> dict[str, int]:
    ports: dict[str, int] = {}
    for spec in SERVICES:
        env_value = os.environ.get(f"CRM_{spec.name.upper()}_PORT")
        ports[spec.name] = int(env_value) if env_value else int(spec.settings().model_dump().get("port", 0))
    return ports


def run_dev(data_dir: Path, *, load_demo: bool = True, echo: Callable[[str], None] = print) -> int:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    engines: list[EmbeddedPostgres | EmbeddedNats] = []
    platform: Platform | None = None
    stopping = {"signal": 0}

    def on_signal(signum: int, _frame: object) -> None:
        stopping["signal"] = signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        database_url = os.environ.get("CRM_DATABASE_URL")
        if not database_url:
            pg = EmbeddedPostgres(data_dir / "postgres").start()
            engines.append(pg)
            database_url = pg.url
            echo(f"embedded PostgreSQL: {database_url} (data in {pg.pgdata})")
        nats_url = os.environ.get("CRM_NATS_URL")
        if not nats_url:
            nats = EmbeddedNats(data_dir / "nats").start()
            engines.append(nats)
            nats_url = nats.url
            echo(f"embedded NATS JetStream: {nats_url} (data in {nats.data_dir})")
        os.environ["CRM_DATABASE_URL"] = database_url
        os.environ["CRM_NATS_URL"] = nats_url
        migrate()
        platform = Platform(database_url, nats_url, default_ports())
        sinks = dev_outbox(platform, data_dir / "outbox")
        if sinks is not None:
            echo(f"outbound email and provider webhooks are written to {data_dir / 'outbox'}")
        platform.start()
        platform.wait_ready()
        # Embedded PostgreSQL gets a new port each run, so its marker must not depend on the URL.
        server_key = "embedded" if any(isinstance(e, EmbeddedPostgres) for e in engines) else database_url
        marker = data_dir / f"seeded-{hashlib.sha256(server_key.encode()).hexdigest()[:12]}"
        if load_demo and not marker.exists():
            ids = seed(platform.url("identity"))
            marker.write_text("\n".join(ids) + "\n")
            echo(f"loaded demo data: {len(ids)} customers")
        echo("")
        echo(f"  GraphQL gateway  {platform.url('gateway')}/graphql")
        for name in ("identity", "campaign", "feedback"):
            echo(f"  {name:<16} {platform.url(name)}/docs")
        echo("  a dev token:     crm token --role admin")
        echo("\nPress Ctrl-C to stop.")
        while not stopping["signal"]:
            dead = [child.name for child in platform.children if not child.alive()]
            if dead:
                echo(f"process(es) exited: {', '.join(dead)}; stopping the platform")
                return 1
            time.sleep(0.3)
        return 0
    finally:
        echo("stopping...")
        if platform is not None:
            platform.stop()
        for engine in reversed(engines):
            engine.stop()
        echo("stopped.")
