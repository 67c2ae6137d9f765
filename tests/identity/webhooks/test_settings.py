"""Webhook sources are configuration: dev sources only in dev, secrets checked at start-up."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from crm_common.settings import InsecureConfiguration
from identity.settings import DEV_WEBHOOK_SOURCES, IdentitySettings

PRODUCTION = {"environment": "production", "jwt_secret": "j" * 40, "erasure_salt": "s" * 20}
SECRET = "whsec_" + base64.b64encode(b"a-real-partner-secret-0123456789").decode()


def test_dev_without_configuration_has_the_four_dev_sources() -> None:
    settings = IdentitySettings(environment="dev")
    assert {name: source.mapping for name, source in settings.webhook_sources.items()} == {
        "shop": "order",
        "callcenter": "call_record",
        "social": "social_mention",
        "store": "store_visit",
    }


def test_outside_dev_there_is_no_default_source() -> None:
    assert IdentitySettings(**PRODUCTION).webhook_sources == {}


def test_sources_come_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CRM_IDENTITY_WEBHOOK_SOURCES",
        f'{{"acme-shop": {{"secret": "{SECRET}", "mapping": "order", "channel": "web"}}}}',
    )
    settings = IdentitySettings(**PRODUCTION)
    assert list(settings.webhook_sources) == ["acme-shop"]
    assert settings.webhook_sources["acme-shop"].channel == "web"
    assert SECRET not in repr(settings)


def test_a_dev_secret_is_refused_outside_dev() -> None:
    with pytest.raises(InsecureConfiguration, match="dev-only secret"):
        IdentitySettings(**PRODUCTION, webhook_sources={"shop": DEV_WEBHOOK_SOURCES["shop"]})


@pytest.mark.parametrize(
    "source",
    [
        {"secret": "not-whsec", "mapping": "order"},
        {"secret": "whsec_" + base64.b64encode(b"too-short").decode(), "mapping": "order"},
        {"secret": SECRET, "mapping": "invoice"},
        {"secret": SECRET, "mapping": "order", "channel": "fax"},
    ],
)
def test_an_unusable_source_fails_at_start_up(source: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        IdentitySettings(**PRODUCTION, webhook_sources={"acme": source})


def test_a_source_name_must_work_as_an_identifier_family() -> None:
    with pytest.raises(ValidationError, match="webhook source name"):
        IdentitySettings(**PRODUCTION, webhook_sources={"Acme Shop": {"secret": SECRET, "mapping": "order"}})
