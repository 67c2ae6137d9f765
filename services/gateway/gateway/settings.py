from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from crm_common.settings import PlatformSettings


class GatewaySettings(PlatformSettings):
    """The gateway has no database: only where the services are and how long to wait for them."""

    model_config = SettingsConfigDict(env_prefix="CRM_GATEWAY_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = 8000
    identity_url: str = "http://127.0.0.1:8001"
    campaign_url: str = "http://127.0.0.1:8002"
    feedback_url: str = "http://127.0.0.1:8003"
    service_timeout_seconds: float = Field(
        2.0, gt=0, description="Longest wait for one call to a service before its fields resolve as errors."
    )
    max_body_bytes: int = Field(
        262_144,
        description="Largest request body: a GraphQL document with its variables is a few KiB; a bigger "
        "one is refused (413) before it is read further.",
    )
    max_batch_operations: int = Field(
        10,
        ge=1,
        description="Most operations one POST may carry as a JSON array; a longer batch is refused whole "
        "with HTTP 400 before anything runs.",
    )
    persisted_queries_path: Path | None = Field(
        None,
        description="A JSON object mapping the sha256 hex of each document to the document, as "
        "`python -m gateway.persisted build` writes it; read once at start-up.",
    )
    persisted_queries_only: bool = Field(
        False,
        description="Allow-list mode: only documents in persisted_queries_path run, by hash or by their "
        "exact text (set it in production).",
    )
    live_queue_size: int = Field(
        100,
        ge=1,
        description="Events one subscription may have waiting for its client; a client further behind "
        "has its subscription ended with SUBSCRIBER_TOO_SLOW rather than hold back the others.",
    )
    nats_reconnect_seconds: float = Field(
        1.0, gt=0, description="Pause between attempts to reach NATS for the live events, at start and later."
    )
    ws_connection_init_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a new WebSocket may take to send connection_init with its token."
    )
    ws_max_subscriptions_per_connection: int = Field(
        20, ge=1, description="Operations one WebSocket may run at once."
    )

    @model_validator(mode="after")
    def _allow_list_needs_a_list(self) -> "GatewaySettings":
        if self.persisted_queries_only and self.persisted_queries_path is None:
            raise ValueError("CRM_GATEWAY_PERSISTED_QUERIES_ONLY needs CRM_GATEWAY_PERSISTED_QUERIES_PATH")
        return self

    def service_urls(self) -> dict[str, str]:
        """Base URL of each service behind the graph, by service name."""
        return {"identity": self.identity_url, "campaign": self.campaign_url, "feedback": self.feedback_url}
