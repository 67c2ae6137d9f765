from pydantic import Field
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
    max_body_bytes: int = 1_048_576

    def service_urls(self) -> dict[str, str]:
        """Base URL of each service behind the graph, by service name."""
        return {"identity": self.identity_url, "campaign": self.campaign_url, "feedback": self.feedback_url}
