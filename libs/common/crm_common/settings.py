"""Settings base shared by every service.

Platform-wide values (environment, database server, NATS, signing secret) have one env name each,
so an operator sets them once; service-specific values use the service's own prefix
(``CRM_IDENTITY_PORT``, ``CRM_CAMPAIGN_DATABASE_NAME``...).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

# Used only when CRM_ENV=dev (or test); every other environment must set CRM_JWT_SECRET.
DEV_JWT_SECRET = "crm-dev-only-signing-secret-do-not-use-in-production"  # noqa: S105


class InsecureConfiguration(RuntimeError):
    """Raised at start-up when a secret is missing or left at its dev value outside dev."""


class PlatformSettings(BaseSettings):
    """Values every service needs. Subclasses set ``env_prefix`` for their own fields."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    environment: str = Field(
        "dev",
        validation_alias=AliasChoices("CRM_ENV"),
        description="'dev' allows the dev signing secret, GraphiQL and introspection; "
        "anything else is production-like.",
    )
    database_server_url: str | None = Field(
        None,
        validation_alias=AliasChoices("CRM_DATABASE_URL"),
        description="A PostgreSQL server URL; each service uses its own database on it.",
    )
    nats_url: str = Field("nats://127.0.0.1:4222", validation_alias=AliasChoices("CRM_NATS_URL"))
    nats_consumer_suffix: str = Field(
        "",
        validation_alias=AliasChoices("CRM_NATS_CONSUMER_SUFFIX"),
        description="Appended to every durable JetStream consumer name, so that two deployments sharing "
        "one NATS server (a test run beside a dev platform) never take each other's events.",
    )
    jwt_secret: str = Field(DEV_JWT_SECRET, validation_alias=AliasChoices("CRM_JWT_SECRET"))
    jwt_issuer: str = Field("crm", validation_alias=AliasChoices("CRM_JWT_ISSUER"))
    log_level: str = Field("INFO", validation_alias=AliasChoices("CRM_LOG_LEVEL"))
    log_json: bool = Field(True, validation_alias=AliasChoices("CRM_LOG_JSON"))

    @model_validator(mode="after")
    def _refuse_dev_secret_outside_dev(self) -> PlatformSettings:
        if self.is_dev:
            return self
        if self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32:
            raise InsecureConfiguration(
                "CRM_JWT_SECRET must be set to a secret of at least 32 characters "
                f"when CRM_ENV={self.environment}"
            )
        return self

    @property
    def is_dev(self) -> bool:
        return self.environment == "dev"


class ServiceSettings(PlatformSettings):
    """A REST service with its own database."""

    service_name: str = "service"
    host: str = "127.0.0.1"
    port: int = 8000
    database_name: str = "crm"
    database_url: str | None = Field(
        None, description="Full URL of this service's own database; overrides CRM_DATABASE_URL."
    )
    db_pool_size: int = 10
    db_max_overflow: int = 10
    max_body_bytes: int = 1_048_576
    outbox_poll_seconds: float = 0.2

    def async_database_url(self) -> str:
        """The asyncpg URL of this service's database."""
        if self.database_url:
            return make_url(self.database_url).set(drivername="postgresql+asyncpg").render_as_string(False)
        if not self.database_server_url:
            raise InsecureConfiguration(
                "No database configured: set CRM_DATABASE_URL (or run the platform with `crm dev`)"
            )
        return (
            make_url(self.database_server_url)
            .set(drivername="postgresql+asyncpg", database=self.database_name)
            .render_as_string(False)
        )


def env_names(settings_cls: type[BaseSettings]) -> set[str]:
    """Every environment variable a settings class reads (used to check deployment files)."""
    prefix = settings_cls.model_config.get("env_prefix", "") or ""
    names: set[str] = set()
    for name, field in settings_cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}".upper())
    return names
