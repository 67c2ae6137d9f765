from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from crm_common.settings import InsecureConfiguration, ServiceSettings

# Used only when CRM_ENV=dev (or test); every other environment must set its own.
DEV_TRACKING_SECRET = "crm-dev-only-tracking-secret-do-not-use-in-production"  # noqa: S105
DEV_WEBHOOK_SIGNING_SECRET = "whsec_Y3JtLWRldi1vbmx5LXdlYmhvb2stc2lnbmluZy1zZWNyZXQ="  # noqa: S105


class CampaignSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_CAMPAIGN_", extra="ignore", populate_by_name=True)

    service_name: str = "campaign"
    port: int = 8002
    database_name: str = "crm_campaign"
    public_base_url: str = Field(
        "http://127.0.0.1:8002", description="Where tracked links and the open pixel point (this service)."
    )
    default_time_zone: str = Field(
        "Asia/Seoul", description="IANA zone for customers whose profile names none (quiet hours, windows)."
    )
    tracking_secret: str = Field(DEV_TRACKING_SECRET, description="HMAC key of tracked-link tokens.")
    webhook_signing_secret: str = Field(
        DEV_WEBHOOK_SIGNING_SECRET,
        description="Standard Webhooks secret (whsec_...) signing outbound webhooks to channel providers.",
    )

    # --- audience (read model) ---

    # --- segments ---

    # --- delivery ---

    # --- channels ---

    # --- campaigns ---

    @model_validator(mode="after")
    def _refuse_dev_secrets_outside_dev(self) -> "CampaignSettings":
        if self.is_dev:
            return self
        if self.tracking_secret == DEV_TRACKING_SECRET or len(self.tracking_secret) < 32:
            raise InsecureConfiguration("CRM_CAMPAIGN_TRACKING_SECRET must be set outside dev")
        if self.webhook_signing_secret == DEV_WEBHOOK_SIGNING_SECRET:
            raise InsecureConfiguration("CRM_CAMPAIGN_WEBHOOK_SIGNING_SECRET must be set outside dev")
        return self
