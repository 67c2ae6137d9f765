import campaign.models  # noqa: F401  (registers every table on the metadata)
from campaign.database import metadata
from campaign.settings import CampaignSettings
from crm_common.migrations import run_env

run_env(metadata, CampaignSettings())
