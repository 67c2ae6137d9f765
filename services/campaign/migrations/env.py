import campaign.audience.models  # noqa: F401  (registers the tables on the metadata)
from campaign.database import metadata
from campaign.settings import CampaignSettings
from crm_common.migrations import run_env

run_env(metadata, CampaignSettings())
