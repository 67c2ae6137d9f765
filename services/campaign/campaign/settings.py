import functools

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from crm_common.settings import InsecureConfiguration, ServiceSettings

# Used only when CRM_ENV=dev (or test); every other environment must set its own.
DEV_TRACKING_SECRET = "crm-dev-only-tracking-secret-do-not-use-in-production"  # noqa: S105
DEV_WEBHOOK_SIGNING_SECRET = "whsec_Y3JtLWRldi1vbmx5LXdlYmhvb2stc2lnbmluZy1zZWNyZXQ="  # noqa: S105


class CampaignSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_CAMPAIGN_", extra="ignore", populate_by_name=True)

    service_name: str = "campaign"
    port: int = 8002
    database_name: str = "crm_campaign"
    public_base_url: str = Field(
        "http://127.0.0.1:8002", description="Where tracked links and the open pixel point (this service)."
    )
    default_time_zone: str = Field(
        "Asia/Seoul", description="IANA zone for customers whose profile names none (quiet hours, windows)."
    )
    tracking_secret: str = Field(DEV_TRACKING_SECRET, description="HMAC key of tracked-link tokens.")
    webhook_signing_secret: str = Field(
        DEV_WEBHOOK_SIGNING_SECRET,
        description="Standard Webhooks secret (whsec_...) signing outbound webhooks to channel providers.",
    )

    # --- audience (read model) ---
    audience_new_customer_days: int = Field(
        30, ge=1, description="Lifecycle 'new': the first order is at most this many days old."
    )
    audience_active_days: int = Field(
        90, ge=1, description="Lifecycle 'active': the last order is at most this many days old."
    )
    audience_at_risk_days: int = Field(
        180,
        ge=1,
        description="Lifecycle 'at_risk' up to this many days since the last order; 'lapsed' beyond.",
    )
    audience_derive_interval_seconds: float = Field(
        300.0, gt=0, description="How often RFM quintiles are recomputed and every member re-derived."
    )
    audience_recommendation_price_band: float = Field(
        0.5, gt=0, le=1, description="Recommended prices lie within avg item price x (1 -/+ this)."
    )

    # --- segments ---
    segments_poll_seconds: float = Field(
        0.1, gt=0, description="How often the membership job looks for changed customers when idle."
    )
    segments_claim_batch: int = Field(500, ge=1, le=10_000, description="Changed customers per pass.")
    segments_full_refresh_seconds: float = Field(
        300.0, gt=0, description="Every segment re-evaluated over the whole base (time-relative rules)."
    )
    segments_max_rule_depth: int = Field(8, ge=1, description="Nesting limit of and/or/not in a rule.")
    segments_max_rule_conditions: int = Field(64, ge=1, description="Conditions allowed in one rule.")

    # --- delivery ---
    delivery_claim_batch: int = Field(
        500,
        ge=1,
        le=10_000,
        description="Ledger rows one delivery task claims per transaction (SKIP LOCKED).",
    )
    delivery_concurrency: int = Field(
        2, ge=1, le=64, description="Claim-and-send loops per delivery process (overlaps DB and network)."
    )
    delivery_poll_seconds: float = Field(
        0.1, gt=0, description="How long an idle delivery loop waits before looking for due rows again."
    )
    delivery_lease_seconds: float = Field(
        60.0, gt=0, description="A claimed row is re-claimed by another worker once its lease expires."
    )
    delivery_max_attempts: int = Field(6, ge=1, description="Transient failures before a message is failed.")
    delivery_backoff_base_seconds: float = Field(
        5.0, gt=0, description="First retry delay; doubles per attempt, with +-50% jitter."
    )
    delivery_backoff_max_seconds: float = Field(3600.0, gt=0, description="Longest retry delay.")
    delivery_rate_limits: dict[str, float] = Field(
        default_factory=lambda: {"email": 500.0, "sms": 100.0, "push": 1000.0, "webhook": 1000.0},
        description="Messages per second per channel, PER DELIVERY PROCESS (token bucket); a channel not "
        "listed is unlimited. N processes send up to N times these rates.",
    )
    delivery_frequency_caps: list[dict[str, object]] = Field(
        default_factory=lambda: list[dict[str, object]](
            [
                {"channel": None, "max": 3, "window_hours": 24},
                {"channel": "email", "max": 2, "window_hours": 24},
                {"channel": None, "max": 10, "window_hours": 168},
            ]
        ),
        description="Marketing messages per customer over rolling windows; channel null = all channels.",
    )
    delivery_quiet_hours_start: str = Field("21:00", description="Quiet hours start (customer's local time).")
    delivery_quiet_hours_end: str = Field("08:00", description="Quiet hours end (customer's local time).")
    delivery_quiet_release_minutes: float = Field(
        60.0, ge=0, description="Held messages are released spread over this long after quiet hours end."
    )

    # --- channels ---
    smtp_host: str = Field("127.0.0.1", description="SMTP relay that email goes out through.")
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_use_tls: bool = Field(False, description="Implicit TLS (SMTPS, usually port 465).")
    smtp_starttls: bool = Field(False, description="Upgrade with STARTTLS after connecting (port 587).")
    smtp_timeout_seconds: float = 10.0
    smtp_pool_size: int = Field(
        4, ge=1, le=100, description="SMTP connections each sender process keeps open."
    )
    email_from: str = "CRM <no-reply@crm.example>"
    email_message_id_domain: str = Field("crm.example", description="Right-hand side of Message-ID.")
    channel_webhook_urls: dict[str, str] = Field(
        default_factory=dict,
        description='Provider URL per webhook-borne channel, e.g. {"sms": "https://...", "push": "..."}.',
    )
    channel_http_timeout_seconds: float = 5.0
    channel_http_max_connections: int = Field(
        64, ge=1, le=1000, description="Keep-alive connections per provider URL (concurrent sends)."
    )
    channel_provider_secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Standard Webhooks secret (whsec_...) per provider posting channel events.",
    )
    template_max_output_chars: int = Field(
        200_000, ge=1, description="A rendered field longer than this fails."
    )

    # --- campaigns ---
    campaign_runner_poll_seconds: float = Field(
        5.0, gt=0, description="How often the journey runner looks for due enrollments."
    )
    campaign_runner_batch_size: int = Field(
        500, ge=1, le=10_000, description="Enrollments the runner claims per transaction (SKIP LOCKED)."
    )
    campaign_enroll_batch_size: int = Field(
        5_000, ge=1, le=50_000, description="Segment members enrolled per statement (keyset batches)."
    )
    campaign_inline_enroll_max: int = Field(
        20_000,
        ge=0,
        description="A broadcast whose segment has at most this many members is enrolled inside the launch "
        "transaction; bigger ones are enrolled by the runner job in committed keyset batches.",
    )
    campaign_allocation_interval_seconds: float = Field(
        300.0, gt=0, le=900, description="How often Thompson-sampling weights are recomputed (≤ 15 min)."
    )
    campaign_thompson_draws: int = Field(
        20_000, ge=100, le=1_000_000, description="Monte Carlo draws per allocation recomputation."
    )
    campaign_template_sample_size: int = Field(
        5, ge=1, le=100, description="Segment members whose contexts templates must render for at launch."
    )
    global_control_percent: float = Field(
        0.0, ge=0, le=50, description="Share of all customers held out of every campaign (measured only)."
    )
    global_control_salt: str = Field(
        "crm-global-control-v1", min_length=1, description="Salt of the global control group's hash."
    )

    @model_validator(mode="after")
    def _refuse_dev_secrets_outside_dev(self) -> "CampaignSettings":
        if self.is_dev:
            return self
        if self.tracking_secret == DEV_TRACKING_SECRET or len(self.tracking_secret) < 32:
            raise InsecureConfiguration("CRM_CAMPAIGN_TRACKING_SECRET must be set outside dev")
        if self.webhook_signing_secret == DEV_WEBHOOK_SIGNING_SECRET:
            raise InsecureConfiguration("CRM_CAMPAIGN_WEBHOOK_SIGNING_SECRET must be set outside dev")
        return self


@functools.cache
def current_settings() -> CampaignSettings:
    """This process's settings, read once from the environment, for code that is not handed them: event
    handlers get only a session and an envelope."""
    return CampaignSettings()
