"""The identity service's own metadata: its tables, its outbox and inbox, nothing else."""

from crm_common.db import model_base, new_metadata
from crm_common.events import add_event_tables

metadata = new_metadata()
IdentityModel = model_base(metadata)
add_event_tables(metadata)
