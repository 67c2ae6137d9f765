import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from feedback.main import create_app
from feedback.settings import FeedbackSettings
from tests.feedback.ideas.support import as_customer, submit
from tests.support import running_app


@pytest.fixture
async def no_edit_window_client(
    feedback_settings: FeedbackSettings, feedback_client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    settings = feedback_settings.model_copy(update={"idea_edit_window_seconds": 0})
    async with running_app(create_app(settings)) as client:
        yield client


async def test_author_cannot_edit_after_the_window(no_edit_window_client: httpx.AsyncClient) -> None:
    author = uuid.uuid4()
    idea = await submit(no_edit_window_client, author)

    response = await no_edit_window_client.patch(
        f"/v1/ideas/{idea['id']}", json={"title": "Too late now"}, headers=as_customer(author)
    )

    assert response.status_code == 403
    assert response.json()["type"].endswith("/edit-window-closed")
