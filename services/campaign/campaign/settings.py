from pydantic_settings import SettingsConfigDict

from crm_common.settings import ServiceSettings


class CampaignSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_CAMPAIGN_", extra="ignore", populate_by_name=True)

    service_name: str = "campaign"
    port: int = 8002
    database_name: str = "crm_campaign"
