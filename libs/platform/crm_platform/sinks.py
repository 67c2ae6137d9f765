"""``python -m crm_platform.sinks``: where `crm dev` sends the campaign's outbound messages.

On a developer's machine there is no SMTP relay and no SMS or push provider, so `crm dev` starts this
process and points the campaign service at it: an SMTP server (aiosmtpd) that writes each email as an
``.eml`` file, and an HTTP server that answers provider webhooks with 200 and appends each body as one
JSON line per channel. Both write under ``--dir`` (``.data/outbox/`` for `crm dev`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._@-]+")


class MailToFiles:
    """aiosmtpd handler (it calls ``handle_DATA``): a message accepted becomes ``mail/<Message-ID>.eml``."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        match = re.search(rb"^Message-ID:\s*<([^>]+)>", content, re.MULTILINE | re.IGNORECASE)
        name = match.group(1).decode(errors="replace") if match else f"message-{id(envelope)}"
        (self.directory / f"{_SAFE_NAME.sub('_', name)}.eml").write_bytes(content)
        return "250 Message accepted for delivery"


def webhook_app(directory: Path) -> Any:
    """A bare ASGI app: POST /<channel> appends the body to ``<channel>.jsonl`` and answers 200."""
    directory.mkdir(parents=True, exist_ok=True)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        channel = _SAFE_NAME.sub("_", scope["path"].strip("/") or "webhook")
        headers = {k.decode(): v.decode(errors="replace") for k, v in scope["headers"]}
        record = {"webhook_id": headers.get("webhook-id"), "body": body.decode(errors="replace")}
        with (directory / f"{channel}.jsonl").open("a") as sink:
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    return app


async def serve(directory: Path, smtp_port: int, http_port: int) -> None:
    import uvicorn

    smtp = Controller(MailToFiles(directory / "mail"), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    server = uvicorn.Server(
        uvicorn.Config(webhook_app(directory), host="127.0.0.1", port=http_port, log_level="warning")
    )
    try:
        await server.serve()  # uvicorn stops on SIGTERM/SIGINT itself and restores the handlers after
    finally:
        smtp.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--smtp-port", required=True, type=int)
    parser.add_argument("--http-port", required=True, type=int)
    args = parser.parse_args()
    asyncio.run(serve(args.dir, args.smtp_port, args.http_port))


if __name__ == "__main__":
    main()
