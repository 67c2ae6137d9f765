from pydantic_settings import SettingsConfigDict

from crm_common.settings import ServiceSettings


class FeedbackSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_FEEDBACK_", extra="ignore", populate_by_name=True)

    service_name: str = "feedback"
    port: int = 8003
    database_name: str = "crm_feedback"
