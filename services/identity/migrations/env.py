import identity.models  # noqa: F401  (registers every table on the metadata)
from crm_common.migrations import run_env
from identity.database import metadata
from identity.settings import IdentitySettings

run_env(metadata, IdentitySettings())
