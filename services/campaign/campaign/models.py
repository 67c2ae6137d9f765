"""Every table of the campaign service, imported once so the metadata (and Alembic) sees them all."""

import campaign.audience.models
import campaign.campaigns.models
import campaign.channels.models
import campaign.delivery.models
import campaign.segments.models  # noqa: F401
