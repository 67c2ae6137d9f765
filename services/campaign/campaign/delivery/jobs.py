from campaign.settings import CampaignSettings
from crm_common.worker import BackgroundJob


def jobs(settings: CampaignSettings) -> list[BackgroundJob]:
    """The background jobs this domain runs in the campaign worker."""
    return []
