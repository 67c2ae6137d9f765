"""Every table of the identity service, imported so the metadata is complete (Alembic, tests)."""

from identity.consents.models import ConsentChange
from identity.customers.models import Customer, MatchKey, TraitValue
from identity.erasure.models import ErasureTombstone
from identity.identifiers.models import Identifier
from identity.merges.models import Merge, MergeConflict, MergeMove, NeverMerge
from identity.suggestions.models import MatchSuggestion
from identity.timeline.models import Touchpoint
from identity.webhooks.models import WebhookDelivery

__all__ = [
    "ConsentChange",
    "Customer",
    "ErasureTombstone",
    "Identifier",
    "MatchKey",
    "MatchSuggestion",
    "Merge",
    "MergeConflict",
    "MergeMove",
    "NeverMerge",
    "Touchpoint",
    "TraitValue",
    "WebhookDelivery",
]
