"""Outside dev the campaign service refuses to start with the dev tracking or webhook-signing secret."""

import pytest

from campaign.settings import CampaignSettings
from crm_common.settings import InsecureConfiguration

PRODUCTION_JWT = "j" * 40
TRACKING = "t" * 40
SIGNING = "whsec_cHJvZHVjdGlvbi13ZWJob29rLXNpZ25pbmctc2VjcmV0"


def production(**overrides: str) -> CampaignSettings:
    values = {
        "environment": "prod",
        "jwt_secret": PRODUCTION_JWT,
        "tracking_secret": TRACKING,
        "webhook_signing_secret": SIGNING,
        **overrides,
    }
    return CampaignSettings(**values)  # type: ignore[arg-type]


def test_production_settings_with_secrets_of_their_own_are_accepted() -> None:
    settings = production()
    assert (settings.tracking_secret, settings.webhook_signing_secret) == (TRACKING, SIGNING)


@pytest.mark.parametrize(
    "missing", ["tracking_secret", "webhook_signing_secret"], ids=["tracking", "webhook-signing"]
)
def test_production_refuses_a_dev_secret(missing: str) -> None:
    defaults = CampaignSettings.model_fields[missing].default
    with pytest.raises(InsecureConfiguration):
        production(**{missing: defaults})


def test_production_refuses_a_short_tracking_secret() -> None:
    with pytest.raises(InsecureConfiguration):
        production(tracking_secret="short")


def test_dev_runs_with_the_dev_secrets() -> None:
    assert CampaignSettings(environment="dev").is_dev
