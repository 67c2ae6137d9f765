"""Where each service lives and how it is started — the one list `crm dev` and `crm migrate` read."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from crm_common.settings import PlatformSettings, ServiceSettings


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    settings_path: str  # "module:Class"
    app: str  # uvicorn factory path
    worker: str | None  # module run with `python -m`
    has_database: bool = True

    def settings(self, **overrides: object) -> PlatformSettings:
        module_name, class_name = self.settings_path.split(":")
        settings_cls = getattr(importlib.import_module(module_name), class_name)
        return settings_cls(**overrides)

    def database_settings(self) -> ServiceSettings:
        settings = self.settings()
        assert isinstance(settings, ServiceSettings)
        return settings

    def source_dir(self) -> Path:
        """``services/<name>``: the folder that holds ``alembic.ini`` and ``migrations/``."""
        package = importlib.import_module(self.name)
        candidates = [Path(package.__file__ or "").resolve().parents[1], Path.cwd() / "services" / self.name]
        for candidate in candidates:
            if (candidate / "alembic.ini").exists():
                return candidate
        raise FileNotFoundError(f"services/{self.name}/alembic.ini not found (run from the repository root)")


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "identity", "identity.settings:IdentitySettings", "identity.main:create_app", "identity.worker"
    ),
    ServiceSpec(
        "campaign", "campaign.settings:CampaignSettings", "campaign.main:create_app", "campaign.worker"
    ),
    ServiceSpec(
        "feedback", "feedback.settings:FeedbackSettings", "feedback.main:create_app", "feedback.worker"
    ),
    ServiceSpec(
        "gateway", "gateway.settings:GatewaySettings", "gateway.main:create_app", None, has_database=False
    ),
)

DATABASE_SERVICES = tuple(spec for spec in SERVICES if spec.has_database)


def service(name: str) -> ServiceSpec:
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise KeyError(name)
