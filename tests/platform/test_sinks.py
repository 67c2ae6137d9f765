"""The dev outbox `crm dev` points the campaign service at: email and provider webhooks land as files."""

import asyncio
import contextlib
import json
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx

from crm_platform.engines import free_port
from crm_platform.sinks import serve


async def _wait_for(port: int) -> None:
    for _ in range(100):
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


async def test_email_becomes_an_eml_file_and_a_webhook_a_json_line(tmp_path: Path) -> None:
    smtp_port, http_port = free_port(), free_port()
    server = asyncio.create_task(serve(tmp_path, smtp_port, http_port))
    try:
        await _wait_for(http_port)
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "crm@example.com", "a@example.com", "Hi"
        message["Message-ID"] = "<m-1@crm.example>"
        message.set_content("hello")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=smtp_port)
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"http://127.0.0.1:{http_port}/sms",
                content=b'{"to": "+821012345678"}',
                headers={"webhook-id": "m-2"},
            )
        assert response.status_code == 200
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server

    assert "hello" in (tmp_path / "mail" / "m-1@crm.example.eml").read_text()
    (line,) = (tmp_path / "sms.jsonl").read_text().splitlines()
    assert json.loads(line) == {"webhook_id": "m-2", "body": '{"to": "+821012345678"}'}
