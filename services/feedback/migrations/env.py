import feedback.models  # noqa: F401  (registers every table on the metadata)
from crm_common.migrations import run_env
from feedback.database import metadata
from feedback.settings import FeedbackSettings

run_env(metadata, FeedbackSettings())
