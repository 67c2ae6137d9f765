"""docker-compose.yml and infra/<service>/Dockerfile held to the code they deploy.

No Docker engine runs where the suite runs, so these tests read the deployment files and compare
them with what the code says: the platform's service list (``crm_platform.services.SERVICES``,
the one `crm dev` runs), each service's settings class, its modules and its port.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic_settings import BaseSettings

from crm_common.settings import env_names
from crm_platform.services import SERVICES, ServiceSpec

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENGINES = ("postgres", "nats")

SPECS: dict[str, ServiceSpec] = {spec.name: spec for spec in SERVICES}
API_NAMES = sorted(SPECS)
DATABASE_API_NAMES = sorted(spec.name for spec in SERVICES if spec.has_database)
# compose service name -> the platform service whose image and settings it uses
PLATFORM_CONTAINERS: dict[str, str] = {name: name for name in SPECS} | {
    f"{spec.name}-worker": spec.name for spec in SERVICES if spec.worker
}
WORKER_NAMES = sorted(name for name in PLATFORM_CONTAINERS if name.endswith("-worker"))

SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|SALT", re.IGNORECASE)
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt}, ${NAME+alt}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<operator>:?[-?+])?(?P<argument>[^}]*)\}")
REQUIRED_OPERATORS = (":?", "?")


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    return services[name]


def settings_class(service: str) -> type[BaseSettings]:
    """The settings class a platform service reads, imported when the test runs (not at collection)."""
    module_name, class_name = SPECS[service].settings_path.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def default_port(service: str) -> int:
    return int(settings_class(service).model_fields["port"].default)


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's environment, whichever of the two compose syntaxes it uses."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(entry.split("=", 1) if "=" in entry else (entry, "") for entry in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def published_ports(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) pairs of a compose service, short or long syntax."""
    pairs = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            pairs.append((int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        assert len(parts) >= 2, f"port {entry!r} publishes on a random host port"
        pairs.append((int(parts[-2]), int(parts[-1])))
    return pairs


def command_steps(argv_or_string: list[str] | str) -> list[list[str]]:
    """The simple commands a container runs: its argv, or each step of an ``sh -c "a && b"``."""
    if isinstance(argv_or_string, str):
        argv = shlex.split(argv_or_string)
    else:
        argv = [str(arg) for arg in argv_or_string]
    if argv[:2] != ["sh", "-c"]:
        return [argv]
    steps = [shlex.split(step) for step in argv[2].split("&&")]
    return [step[1:] if step[:1] == ["exec"] else step for step in steps]


def python_targets(steps: list[list[str]]) -> list[tuple[str, str | None]]:
    """(module, attribute) pairs run by ``uvicorn pkg.main:create_app`` and ``python -m pkg.worker``."""
    targets: list[tuple[str, str | None]] = []
    for argv in steps:
        if argv[0] == "uvicorn":
            rest = argv[1:]
        elif "-m" in argv:
            module = argv[argv.index("-m") + 1]
            if module != "uvicorn":
                targets.append((module, None))
                continue
            rest = argv[argv.index("-m") + 2 :]
        else:
            continue
        app = next(arg for arg in rest if not arg.startswith("-"))
        module, _, attribute = app.partition(":")
        targets.append((module, attribute or None))
    return targets


def option_value(argv: list[str], option: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == option:
            return argv[index + 1]
        if arg.startswith(f"{option}="):
            return arg.split("=", 1)[1]
    return None


def uvicorn_step(steps: list[list[str]]) -> list[str]:
    serving = [argv for argv in steps if argv[0] == "uvicorn" or argv[:3][1:] == ["-m", "uvicorn"]]
    assert len(serving) == 1, f"expected one uvicorn step in {steps}"
    return serving[0]


def dockerfile(service: str) -> Path:
    return ROOT / "infra" / service / "Dockerfile"


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    pairs = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def test_compose_defines_every_service_worker_and_engine() -> None:
    expected = {*ENGINES, *PLATFORM_CONTAINERS}
    missing = expected - set(compose()["services"])
    assert not missing, f"docker-compose.yml lacks {sorted(missing)}"


@pytest.mark.parametrize("service", API_NAMES)
def test_published_port_is_the_settings_default_port(service: str) -> None:
    port = default_port(service)
    assert published_ports(compose_service(service)) == [(port, port)]


@pytest.mark.parametrize("service", API_NAMES)
def test_command_serves_the_settings_port(service: str) -> None:
    steps = command_steps(compose_service(service)["command"])
    assert option_value(uvicorn_step(steps), "--port") == str(default_port(service))


@pytest.mark.parametrize("service", [*ENGINES, *API_NAMES])
def test_service_has_a_healthcheck(service: str) -> None:
    healthcheck = compose_service(service).get("healthcheck")
    assert healthcheck, f"{service} has no healthcheck"
    assert not healthcheck.get("disable", False)
    assert healthcheck.get("test"), f"{service}'s healthcheck runs nothing"


@pytest.mark.parametrize("service", API_NAMES)
def test_healthcheck_probes_the_service_port_and_readiness_path(service: str) -> None:
    # A service with a database is healthy once /readyz says its database and NATS answer; the
    # gateway has neither, so its liveness is what there is to probe (as `crm dev` does).
    path = "/readyz" if SPECS[service].has_database else "/healthz"
    probe = " ".join(compose_service(service)["healthcheck"]["test"])
    assert f"127.0.0.1:{default_port(service)}{path}" in probe


def test_depends_on_waits_for_a_healthcheck() -> None:
    services = compose()["services"]
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on must name a condition per service"
        for dependency, condition in depends_on.items():
            assert condition.get("condition") == "service_healthy", f"{name} -> {dependency}"
            assert services[dependency].get("healthcheck"), f"{name} waits on {dependency}, which has none"


@pytest.mark.parametrize("worker", WORKER_NAMES)
def test_worker_starts_after_its_service_is_healthy(worker: str) -> None:
    # Healthy means `crm migrate` has run, so the worker's outbox and inbox tables exist.
    service = PLATFORM_CONTAINERS[worker]
    assert compose_service(worker)["depends_on"][service] == {"condition": "service_healthy"}


@pytest.mark.parametrize("service", DATABASE_API_NAMES)
def test_service_migrates_its_database_before_serving(service: str) -> None:
    steps = command_steps(compose_service(service)["command"])
    assert steps[0] == ["crm", "migrate", "--service", service]
    assert steps[1][0] == "uvicorn", "uvicorn must start only after the migration succeeded"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["crm"] == "crm_platform.cli:main"


@pytest.mark.parametrize("container", sorted(PLATFORM_CONTAINERS))
def test_environment_names_are_read_by_the_settings_class(container: str) -> None:
    read = env_names(settings_class(PLATFORM_CONTAINERS[container]))
    unread = set(environment(compose_service(container))) - read
    assert not unread, f"{container} sets {sorted(unread)}, which its settings class never reads"


@pytest.mark.parametrize("container", sorted(PLATFORM_CONTAINERS))
def test_container_runs_production_settings_with_a_supplied_secret(container: str) -> None:
    env = environment(compose_service(container))
    assert env.get("CRM_ENV", "dev") != "dev"
    assert "CRM_JWT_SECRET" in env


@pytest.mark.parametrize("backend", [name for name in API_NAMES if name != "gateway"])
def test_gateway_reaches_each_backend_by_its_compose_name_and_port(backend: str) -> None:
    env = environment(compose_service("gateway"))
    assert env[f"CRM_GATEWAY_{backend.upper()}_URL"] == f"http://{backend}:{default_port(backend)}"


@pytest.mark.parametrize("container", sorted(PLATFORM_CONTAINERS))
def test_build_uses_the_service_dockerfile(container: str) -> None:
    service = PLATFORM_CONTAINERS[container]
    build = compose_service(container)["build"]
    assert (ROOT / build["context"]).resolve() == ROOT
    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == dockerfile(service)
    assert dockerfile(service).is_file()


@pytest.mark.parametrize("worker", WORKER_NAMES)
def test_worker_reuses_its_service_image(worker: str) -> None:
    assert compose_service(worker)["image"] == compose_service(PLATFORM_CONTAINERS[worker])["image"]


@pytest.mark.parametrize("container", sorted(PLATFORM_CONTAINERS))
def test_modules_named_in_the_command_are_importable(container: str) -> None:
    targets = python_targets(command_steps(compose_service(container)["command"]))
    assert targets, f"{container}'s command runs no Python module"
    for module, _attribute in targets:
        assert importlib.util.find_spec(module) is not None, f"{container} runs {module}, which is missing"


@pytest.mark.parametrize("container", sorted(PLATFORM_CONTAINERS))
def test_command_runs_what_crm_dev_runs(container: str) -> None:
    spec = SPECS[PLATFORM_CONTAINERS[container]]
    expected = spec.worker if container.endswith("-worker") else spec.app
    targets = python_targets(command_steps(compose_service(container)["command"]))
    assert [f"{module}:{attribute}" if attribute else module for module, attribute in targets] == [expected]


def test_no_secret_has_a_literal_default() -> None:
    text = COMPOSE_FILE.read_text().replace("$$", "")  # $$ is compose's escaped, literal dollar
    for match in INTERPOLATION.finditer(text):
        if SECRET_NAME.search(match["name"]):
            assert match["operator"] in REQUIRED_OPERATORS, f"{match[0]} must be required (:?), not defaulted"

    def required_interpolation(value: str) -> bool:
        match = INTERPOLATION.fullmatch(value)
        return match is not None and match["operator"] in REQUIRED_OPERATORS

    for name, service in compose()["services"].items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert required_interpolation(value), f"{name}: {key} is not taken from the operator"
            if "://" in value:
                password = urlsplit(value).password
                if password is not None:
                    assert required_interpolation(password), f"{name}: {key} embeds a literal password"


@pytest.mark.parametrize("service", API_NAMES)
def test_dockerfile_exposes_the_settings_port(service: str) -> None:
    exposed = [
        args for instruction, args in dockerfile_instructions(dockerfile(service)) if instruction == "EXPOSE"
    ]
    assert exposed == [str(default_port(service))]


@pytest.mark.parametrize("service", API_NAMES)
def test_dockerfile_cmd_serves_the_service_app_on_the_settings_port(service: str) -> None:
    commands = [
        args for instruction, args in dockerfile_instructions(dockerfile(service)) if instruction == "CMD"
    ]
    assert len(commands) == 1
    steps = command_steps(json.loads(commands[0]))
    assert python_targets(steps) == [tuple(SPECS[service].app.split(":"))]
    assert option_value(uvicorn_step(steps), "--port") == str(default_port(service))


@pytest.mark.parametrize("service", API_NAMES)
def test_dockerfile_runs_as_a_non_root_user(service: str) -> None:
    users = [
        args for instruction, args in dockerfile_instructions(dockerfile(service)) if instruction == "USER"
    ]
    assert users, f"infra/{service}/Dockerfile runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")
