"""Verification of partner webhooks signed per the Standard Webhooks specification."""

from __future__ import annotations

from collections.abc import Mapping

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crm_common.errors import Unauthorized


def verify_signed_webhook(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Check ``webhook-id``/``webhook-timestamp``/``webhook-signature`` against the source's secret.

    The library enforces the 5-minute timestamp tolerance. Raises 401 before anything is stored.
    """
    try:
        # json_parse=False: the signature is about bytes; parsing is the caller's business, after this.
        Webhook(secret).verify(body, {k.lower(): v for k, v in headers.items()}, json_parse=False)
    except WebhookVerificationError as exc:
        raise Unauthorized(f"Webhook signature rejected: {exc}") from exc
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        # A malformed signature header or body is as unverified as a wrong signature.
        raise Unauthorized("Webhook signature rejected: malformed signature headers.") from exc
