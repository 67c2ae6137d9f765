"""Channels: email over SMTP, signed outbound webhooks, the in-app inbox; templates and tracking."""
