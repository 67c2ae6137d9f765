import base64
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from crm_common.errors import Unauthorized
from crm_common.webhooks import verify_signed_webhook

SECRET = "whsec_" + base64.b64encode(b"partner-shop-secret-0123456789ab").decode()
BODY = b'{"type":"order.placed","order_id":"A-1"}'


def _signed_headers(body: bytes, at: datetime, secret: str = SECRET) -> dict[str, str]:
    signature = Webhook(secret).sign("msg_1", at, body.decode())
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def test_correctly_signed_webhook_is_accepted() -> None:
    verify_signed_webhook(SECRET, BODY, _signed_headers(BODY, datetime.now(UTC)))


def test_tampered_body_is_rejected() -> None:
    headers = _signed_headers(BODY, datetime.now(UTC))
    with pytest.raises(Unauthorized):
        verify_signed_webhook(SECRET, BODY.replace(b"A-1", b"A-2"), headers)


def test_signature_from_another_secret_is_rejected() -> None:
    other = "whsec_" + base64.b64encode(b"someone-else-entirely-0123456789").decode()
    with pytest.raises(Unauthorized):
        verify_signed_webhook(SECRET, BODY, _signed_headers(BODY, datetime.now(UTC), other))


def test_timestamp_outside_the_five_minute_window_is_rejected() -> None:
    stale = datetime.now(UTC) - timedelta(minutes=6)
    with pytest.raises(Unauthorized):
        verify_signed_webhook(SECRET, BODY, _signed_headers(BODY, stale))


def test_missing_headers_are_rejected() -> None:
    with pytest.raises(Unauthorized):
        verify_signed_webhook(SECRET, BODY, {"webhook-timestamp": str(int(time.time()))})


def test_signed_body_that_is_not_json_is_verified_without_parsing() -> None:
    body = b"not json at all"
    verify_signed_webhook(SECRET, body, _signed_headers(body, datetime.now(UTC)))


def test_malformed_signature_header_is_a_401_not_a_crash() -> None:
    headers = {**_signed_headers(BODY, datetime.now(UTC)), "webhook-signature": "v1"}
    with pytest.raises(Unauthorized):
        verify_signed_webhook(SECRET, BODY, headers)
