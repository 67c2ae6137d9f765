from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from crm_common.settings import ServiceSettings

# The default idea workflow: each status and the statuses it may move to. ``duplicate`` is reached
# only by merging ideas (and left only by undoing the merge).
DEFAULT_WORKFLOW: dict[str, list[str]] = {
    "new": ["under_review", "planned", "declined"],
    "under_review": ["planned", "declined", "new"],
    "planned": ["in_progress", "declined", "under_review"],
    "in_progress": ["launched", "planned"],
    "launched": [],
    "declined": ["under_review"],
    "duplicate": [],
}


class FeedbackSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_FEEDBACK_", extra="ignore", populate_by_name=True)

    service_name: str = "feedback"
    port: int = 8003
    database_name: str = "crm_feedback"

    # --- ideas ------------------------------------------------------------------------------------
    idea_workflow: dict[str, list[str]] = Field(
        default_factory=lambda: dict(DEFAULT_WORKFLOW),
        description="Status -> statuses it may move to (JSON). Must contain 'new' and 'duplicate'.",
    )
    idea_initial_status: str = "new"
    idea_closed_statuses: list[str] = Field(
        default_factory=lambda: ["launched", "declined", "duplicate"],
        description="Statuses in which voting stops and budget votes come back.",
    )
    idea_edit_window_seconds: int = Field(900, ge=0, description="How long an author may edit an idea.")
    default_board_slug: str = "ideas"
    similar_ideas_limit: int = Field(5, ge=0, le=20)
    similar_ideas_threshold: float = Field(
        0.18, ge=0, le=1, description="pg_trgm similarity above which a title counts as similar."
    )
    trending_half_life_hours: float = Field(
        48.0, gt=0, description="Half-life of an upvote's or comment's weight in the trending ranking."
    )
    # --- write rate limits per customer (count per period) -----------------------------------------
    idea_submit_rate: tuple[int, float] = (5, 3600.0)
    comment_rate: tuple[int, float] = (30, 3600.0)
    vote_rate: tuple[int, float] = (120, 60.0)
    # --- moderation -------------------------------------------------------------------------------
    spam_hold_threshold: float = Field(
        1.0, ge=0, description="Spam score at or above which a post waits in the moderation queue."
    )
    spam_max_links: int = Field(2, ge=0, description="Links above this count add to the spam score.")
    spam_burst_count: int = Field(3, ge=1, description="Posts by one author within the burst window.")
    spam_burst_window_seconds: int = Field(600, ge=1)
    spam_repeat_window_days: int = Field(7, ge=1, description="Repeated text within this window is suspect.")
    # --- notifications ------------------------------------------------------------------------------
    notification_chunk_size: int = Field(5000, ge=1, le=50_000)
    notification_poll_seconds: float = Field(1.0, gt=0)
    # --- idempotency --------------------------------------------------------------------------------
    idempotency_ttl_hours: float = Field(24.0, gt=0)

    @model_validator(mode="after")
    def _workflow_is_consistent(self) -> "FeedbackSettings":
        statuses = set(self.idea_workflow)
        targets = {target for nexts in self.idea_workflow.values() for target in nexts}
        missing = (
            targets | {self.idea_initial_status, "duplicate"} | set(self.idea_closed_statuses)
        ) - statuses
        if missing:
            raise ValueError(f"idea_workflow does not define the statuses {sorted(missing)}")
        return self

    # --- experience (CEM) ---------------------------------------------------------------------------
    # Rates per customer (count per period): feedback is cheap to give, complaints open staff work.
    feedback_submit_rate: tuple[int, float] = (20, 3600.0)
    complaint_submit_rate: tuple[int, float] = (5, 3600.0)
    sentiment_neutral_band: float = Field(
        0.05, ge=0, lt=1, description="Scores within ±band are neutral (VADER's recommended 0.05)."
    )
    health_max_windows: int = Field(400, ge=1, le=5000, description="Most windows one health query spans.")
    # Crisis detector (EXPERIENCE.md): negatives of one touchpoint in a window vs its previous windows.
    alert_window_minutes: int = Field(60, ge=5, le=1440)
    alert_baseline_windows: int = Field(24, ge=3, le=24 * 28, description="Previous windows in the baseline.")
    alert_min_count: int = Field(5, ge=1, description="Fewer negatives than this in a window never alert.")
    alert_max_p_value: float = Field(
        0.001,
        gt=0,
        lt=1,
        description="Alert when P(X ≥ count) under the baseline's Poisson rate is at most this.",
    )
    alert_min_baseline_rate: float = Field(
        0.5,
        gt=0,
        description="Floor of the baseline rate per window, so a quiet touchpoint needs a real spike.",
    )
    alert_check_seconds: float = Field(60.0, gt=0, description="How often the worker runs the detector.")
