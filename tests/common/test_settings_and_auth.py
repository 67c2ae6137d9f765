import uuid
from datetime import timedelta

import pytest

from crm_common.auth import Role, TokenSigner
from crm_common.errors import Unauthorized
from crm_common.settings import DEV_JWT_SECRET, InsecureConfiguration, PlatformSettings


def test_dev_signing_secret_is_refused_outside_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_ENV", "prod")
    monkeypatch.delenv("CRM_JWT_SECRET", raising=False)
    with pytest.raises(InsecureConfiguration):
        PlatformSettings()


def test_short_secret_is_refused_outside_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_ENV", "staging")
    monkeypatch.setenv("CRM_JWT_SECRET", "short")
    with pytest.raises(InsecureConfiguration):
        PlatformSettings()


def test_real_secret_is_accepted_in_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_ENV", "prod")
    monkeypatch.setenv("CRM_JWT_SECRET", "x" * 48)
    assert PlatformSettings().jwt_secret == "x" * 48


def test_token_signed_with_another_secret_is_rejected() -> None:
    token = TokenSigner("another-secret-of-sufficient-length-000").issue("dev-admin", Role.ADMIN)
    with pytest.raises(Unauthorized):
        TokenSigner(DEV_JWT_SECRET).verify(token)


def test_expired_token_is_rejected() -> None:
    signer = TokenSigner(DEV_JWT_SECRET)
    token = signer.issue("dev-admin", Role.ADMIN, ttl=timedelta(seconds=-1))
    with pytest.raises(Unauthorized, match="expired"):
        signer.verify(token)


def test_customer_token_carries_the_customer_id() -> None:
    signer = TokenSigner(DEV_JWT_SECRET)
    customer_id = uuid.uuid4()
    principal = signer.verify(signer.issue(str(customer_id), Role.CUSTOMER))
    assert principal.customer_id == customer_id
    assert not principal.is_staff


def test_customer_token_must_name_a_customer_id() -> None:
    with pytest.raises(ValueError):
        TokenSigner(DEV_JWT_SECRET).issue("not-a-uuid", Role.CUSTOMER)
