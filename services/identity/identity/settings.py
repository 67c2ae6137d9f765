import base64
import binascii
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from crm_common.settings import InsecureConfiguration, ServiceSettings
from identity.timeline.models import Channel

SurvivorshipStrategy = Literal["source_priority", "most_recent", "most_frequent"]

DEV_ERASURE_SALT = "crm-dev-only-erasure-salt"

WebhookMapping = Literal["order", "call_record", "social_mention", "store_visit"]

# Used only when CRM_ENV=dev and no source is configured; refused anywhere else (see WEBHOOKS.md).
DEV_WEBHOOK_SOURCES: dict[str, dict[str, str]] = {
    "shop": {
        "secret": "whsec_Y3JtLWRldi1vbmx5LXdlYmhvb2stc2hvcC0tLS0tLS0=",
        "mapping": "order",
        "channel": "web",
    },
    "callcenter": {"secret": "whsec_Y3JtLWRldi1vbmx5LXdlYmhvb2stY2FsbGNlbnRlci0=", "mapping": "call_record"},
    "social": {"secret": "whsec_Y3JtLWRldi1vbmx5LXdlYmhvb2stc29jaWFsLS0tLS0=", "mapping": "social_mention"},
    "store": {"secret": "whsec_Y3JtLWRldi1vbmx5LXdlYmhvb2stc3RvcmUtLS0tLS0=", "mapping": "store_visit"},
}
# A source name is also an identifier family (`external:<source>`), so it follows that family's rule.
WEBHOOK_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")


class WebhookSource(BaseModel):
    """A partner system allowed to post signed webhooks to ``/v1/webhooks/<source name>``."""

    model_config = ConfigDict(extra="forbid")

    secret: str = Field(
        repr=False,
        description="The source's Standard Webhooks secret: 'whsec_' + base64 of 24-64 random bytes.",
    )
    mapping: WebhookMapping = Field(
        description="The shipped mapping that turns its payloads into identify calls."
    )
    channel: Channel | None = Field(
        None, description="Overrides the mapping's channel for this source's touchpoints."
    )

    @field_validator("secret")
    @classmethod
    def _standard_webhooks_secret(cls, secret: str) -> str:
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("must be 'whsec_' followed by base64") from exc
        if not secret.startswith("whsec_") or not 24 <= len(key) <= 64:
            raise ValueError("must be 'whsec_' followed by the base64 of 24 to 64 random bytes")
        return secret


class SurvivorshipRule(BaseModel):
    """How the golden profile picks one value for a field out of every source's values."""

    strategy: SurvivorshipStrategy = "most_recent"
    source_priority: list[str] = Field(
        default_factory=list, description="Earlier sources win (source_priority); unlisted sources rank last."
    )


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_IDENTITY_", extra="ignore", populate_by_name=True)

    service_name: str = "identity"
    port: int = 8001
    database_name: str = "crm_identity"

    # Normalization
    default_phone_region: str = "KR"
    email_ignore_dots_for: list[str] = Field(
        default_factory=lambda: ["gmail.com", "googlemail.com"],
        description="Domains where dots in the local part do not matter (a.b@gmail.com = ab@gmail.com).",
    )
    email_strip_plus_tags: bool = True
    extra_identifier_types: list[str] = Field(
        default_factory=list,
        description="Identifier types beyond email/phone/device/loyalty/social:*/external:*.",
    )

    # Guardrails
    blocked_values: list[str] = Field(
        default_factory=lambda: [
            "",
            "null",
            "none",
            "undefined",
            "anonymous",
            "unknown",
            "n/a",
            "na",
            "test",
            "0",
        ],
        description="Identifier values never used for matching (compared case-insensitively).",
    )
    shared_email_local_parts: list[str] = Field(
        default_factory=lambda: [
            "info",
            "team",
            "admin",
            "support",
            "sales",
            "contact",
            "hello",
            "office",
            "noreply",
            "no-reply",
        ],
        description="Role addresses shared by many people (info@, team@...): never used for matching.",
    )
    max_identifiers_per_type: dict[str, int] = Field(
        default_factory=lambda: {
            "email": 5,
            "phone": 5,
            "device": 25,
            "loyalty": 1,
            "social:*": 2,
            "external:*": 1,
            "*": 10,
        },
        description="Per customer. 'social:*' covers every platform, each counted on its own.",
    )
    max_merges_per_customer: int = 20
    max_batch_records: int = 1000
    max_traits_per_record: int = 50

    # Probabilistic matching (see MATCHING.md)
    auto_merge_threshold: float = 0.99
    review_threshold: float = 0.80
    probabilistic_matching: bool = True

    # Golden profile
    survivorship: dict[str, SurvivorshipRule] = Field(
        default_factory=lambda: {
            "*": SurvivorshipRule(strategy="most_recent"),
            "name": SurvivorshipRule(
                strategy="source_priority", source_priority=["customer", "crm", "store", "api"]
            ),
            "birth_date": SurvivorshipRule(strategy="most_frequent"),
        }
    )

    # Erasure: identifiers of erased people are kept only as salted hashes.
    erasure_salt: str = DEV_ERASURE_SALT

    # Partner webhooks (see WEBHOOKS.md). JSON in CRM_IDENTITY_WEBHOOK_SOURCES.
    webhook_sources: dict[str, WebhookSource] = Field(
        default_factory=dict,
        description="Partner systems by source name. Empty outside dev unless configured; in dev, "
        "shop/callcenter/social/store with dev-only secrets.",
    )
    webhook_max_attempts: int = Field(8, ge=1, description="Attempts before a delivery is dead-lettered.")
    webhook_backoff_base_seconds: float = Field(
        30.0, gt=0, description="Delay before the second attempt; doubles each attempt, with jitter."
    )
    webhook_backoff_cap_seconds: float = Field(
        3600.0, gt=0, description="The longest delay between attempts."
    )

    @model_validator(mode="after")
    def _refuse_dev_salt_outside_dev(self) -> "IdentitySettings":
        if not self.is_dev and (self.erasure_salt == DEV_ERASURE_SALT or len(self.erasure_salt) < 16):
            raise InsecureConfiguration("CRM_IDENTITY_ERASURE_SALT must be set (16+ characters) outside dev")
        return self

    @model_validator(mode="after")
    def _webhook_sources_safe(self) -> "IdentitySettings":
        if not self.webhook_sources and self.is_dev:
            self.webhook_sources = {
                name: WebhookSource.model_validate(source) for name, source in DEV_WEBHOOK_SOURCES.items()
            }
        dev_secrets = {source["secret"] for source in DEV_WEBHOOK_SOURCES.values()}
        for name, source in self.webhook_sources.items():
            if not WEBHOOK_SOURCE_NAME.match(name):
                raise ValueError(f"webhook source name {name!r}: 1-40 of a-z, 0-9, '_', '.', '-'")
            if not self.is_dev and source.secret in dev_secrets:
                raise InsecureConfiguration(f"webhook source {name!r} uses a dev-only secret outside dev")
        return self

    def survivorship_rule(self, field: str) -> SurvivorshipRule:
        return self.survivorship.get(field) or self.survivorship.get("*") or SurvivorshipRule()

    def identifier_limit(self, identifier_type: str) -> int:
        if identifier_type in self.max_identifiers_per_type:
            return self.max_identifiers_per_type[identifier_type]
        family = identifier_type.split(":", 1)[0] + ":*"
        return self.max_identifiers_per_type.get(family, self.max_identifiers_per_type.get("*", 10))
