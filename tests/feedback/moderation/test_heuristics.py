import uuid
from typing import Literal

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import session_factory
from feedback.moderation import service
from feedback.moderation.service import Assessment
from feedback.settings import FeedbackSettings
from tests.feedback.comments.support import (
    AGENT,
    SPAMMY,
    actions_for,
    comment_as,
    make_board,
    make_idea,
)

ORDINARY = "It would be great to filter orders by date. I check last month's orders every week."


async def _assess(
    engine: AsyncEngine,
    settings: FeedbackSettings,
    *,
    kind: Literal["idea", "comment"] = "comment",
    author_id: uuid.UUID | None = None,
    title: str | None = None,
    body: str = ORDINARY,
    board_moderation_mode: str = "post",
    exclude_idea_id: uuid.UUID | None = None,
) -> Assessment:
    async with session_factory(engine)() as session:
        return await service.assess(
            session,
            settings,
            kind=kind,
            author_id=author_id or uuid.uuid4(),
            title=title,
            body=body,
            board_moderation_mode=board_moderation_mode,
            exclude_idea_id=exclude_idea_id,
        )


# --- pure text signals ------------------------------------------------------------------------------


def test_text_hash_ignores_case_punctuation_and_spacing() -> None:
    assert service.text_hash("Dark  mode!", "Please,\nadd it.") == service.text_hash(
        "dark mode", "PLEASE add it"
    )


def test_text_hash_differs_for_different_words() -> None:
    assert service.text_hash("Dark mode", "Please add it") != service.text_hash("Dark mode", "Please drop it")


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("see https://example.com/a?b=c and http://x.example", 2),
        ("visit www.example.org today", 1),
        ("cheap at pills-online.shop/buy or deals.xyz", 2),
        ("https://www.example.com counts once", 1),
        ("settings.json, node.js, version 1.2.3, e.g. this", 0),
        ("No links here at all.", 0),
    ],
)
def test_count_links_finds_urls_www_and_bare_domains(text: str, links: int) -> None:
    assert service.count_links(text) == links


def test_mostly_capitals_is_shouting_but_an_acronym_is_not() -> None:
    assert service.is_shouting("THIS APP IS TERRIBLE AND NOBODY FIXES IT")
    assert not service.is_shouting("Please support NFC and USB-C payments in the app, thanks")
    assert not service.is_shouting("OK FINE")  # too short to judge


def test_long_runs_of_one_character_are_flagged() -> None:
    assert service.has_repeated_characters("sooooooooo slow!!!")
    assert service.has_repeated_characters("why?????????")
    assert not service.has_repeated_characters("order 100000000 took a while... ok")


# --- the heuristics against the database ------------------------------------------------------------


async def test_ordinary_text_is_published_with_no_score(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    assessment = await _assess(feedback_engine, feedback_settings)

    assert (assessment.moderation_state, assessment.spam_score, assessment.reasons) == ("published", 0.0, [])
    assert assessment.text_hash == service.text_hash(None, ORDINARY)


async def test_links_over_the_limit_add_half_a_point_each(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    three = await _assess(feedback_engine, feedback_settings, body="a.com b.com c.com are my shops")
    five = await _assess(feedback_engine, feedback_settings, body=SPAMMY)

    assert (three.moderation_state, three.spam_score, three.reasons) == ("published", 0.5, ["links"])
    assert (five.moderation_state, five.spam_score, five.reasons) == ("pending", 1.5, ["links"])


async def test_links_up_to_the_limit_do_not_count(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    assessment = await _assess(
        feedback_engine, feedback_settings, body="Like https://a.example/x and https://b.example/y do."
    )

    assert (assessment.spam_score, assessment.reasons) == (0.0, [])


async def test_the_same_idea_text_from_another_author_is_held_as_repeated(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    await make_idea(
        feedback_engine, title="Free gift cards", body="Claim your free gift cards now, limited time!"
    )

    assessment = await _assess(
        feedback_engine,
        feedback_settings,
        kind="idea",
        title="FREE gift cards!!",
        body="claim your free gift-cards now limited time",
    )

    assert (assessment.moderation_state, assessment.spam_score, assessment.reasons) == (
        "pending",
        1.0,
        ["repeated_text"],
    )


async def test_an_idea_is_not_a_repeat_of_itself_when_edited(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    author = uuid.uuid4()
    title, body = "Free gift cards", "Claim your free gift cards now, limited time!"
    idea_id = await make_idea(feedback_engine, author_id=author, title=title, body=body)

    assessment = await _assess(
        feedback_engine,
        feedback_settings,
        kind="idea",
        author_id=author,
        title=title,
        body=body,
        exclude_idea_id=idea_id,
    )

    assert assessment.reasons == []


async def test_very_short_texts_are_not_compared_for_repeats(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    await comment_as(feedback_client, await make_idea(feedback_engine), author, "+1")

    again = await comment_as(feedback_client, await make_idea(feedback_engine), author, "+1")

    assert again["moderation_state"] == "published"


async def test_a_customer_pasting_the_same_comment_on_another_idea_is_held(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    await comment_as(
        feedback_client, await make_idea(feedback_engine), author, "Check out my channel for more tips"
    )

    again = await comment_as(
        feedback_client, await make_idea(feedback_engine), author, "check out my channel, for MORE tips!"
    )

    assert again["moderation_state"] == "pending"
    (hold,) = await actions_for(feedback_engine, again["id"])
    assert (hold.action, hold.actor, hold.reason) == ("hold", "heuristics", "repeated_text")


async def test_a_burst_of_posts_adds_to_the_score_and_a_sustained_one_holds(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    author = uuid.uuid4()
    idea_id = await make_idea(feedback_engine)
    posted = [
        await comment_as(feedback_client, idea_id, author, f"Thought number {n} on this.") for n in range(6)
    ]

    assert [c["moderation_state"] for c in posted] == ["published"] * 5 + ["pending"]
    history = await feedback_client.get("/v1/comments", params={"author_id": str(author)}, headers=AGENT)
    assert [c["spam_score"] for c in reversed(history.json()["items"])] == [0.0, 0.0, 0.0, 0.6, 0.8, 1.0]


async def test_an_idea_counts_towards_the_authors_burst(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    author = uuid.uuid4()
    for _ in range(feedback_settings.spam_burst_count):
        await make_idea(feedback_engine, author_id=author)

    assessment = await _assess(feedback_engine, feedback_settings, author_id=author)

    assert (assessment.spam_score, assessment.reasons) == (0.6, ["burst"])


async def test_shouting_and_repeated_characters_tip_a_post_with_one_link_too_many(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    assessment = await _assess(
        feedback_engine,
        feedback_settings,
        body="BUY NOW AT A.COM B.COM AND C.COM!!!!!!!!!! BEFORE IT IS GONE",
    )

    assert (assessment.moderation_state, assessment.spam_score, assessment.reasons) == (
        "pending",
        1.2,
        ["links", "shouting", "repeated_characters"],
    )


async def test_shouting_alone_does_not_hold(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    assessment = await _assess(
        feedback_engine, feedback_settings, body="THE NEW CHECKOUT IS REALLY CONFUSING"
    )

    assert (assessment.moderation_state, assessment.spam_score, assessment.reasons) == (
        "published",
        0.4,
        ["shouting"],
    )


async def test_a_pre_moderated_board_holds_even_clean_posts(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    assessment = await _assess(feedback_engine, feedback_settings, board_moderation_mode="pre")

    assert (assessment.moderation_state, assessment.spam_score, assessment.reasons) == (
        "pending",
        0.0,
        ["pre_moderation"],
    )


async def test_the_hold_threshold_comes_from_settings(
    feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings
) -> None:
    strict = feedback_settings.model_copy(update={"spam_hold_threshold": 0.5})

    assessment = await _assess(feedback_engine, strict, body="a.com b.com c.com are my shops")

    assert assessment.moderation_state == "pending"


async def test_a_held_comment_is_logged_with_the_heuristics_reasons(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    held = await comment_as(feedback_client, await make_idea(feedback_engine), uuid.uuid4(), SPAMMY)

    (action,) = await actions_for(feedback_engine, held["id"])

    assert (action.target_kind, action.action, action.actor, action.reason) == (
        "comment",
        "hold",
        "heuristics",
        "links",
    )


async def test_a_comment_held_by_pre_moderation_is_logged_with_that_reason(
    feedback_client: httpx.AsyncClient, feedback_engine: AsyncEngine
) -> None:
    idea_id = await make_idea(feedback_engine, board_id=await make_board(feedback_engine, mode="pre"))

    held = await comment_as(feedback_client, idea_id, uuid.uuid4(), ORDINARY)

    (action,) = await actions_for(feedback_engine, held["id"])
    assert action.reason == "pre_moderation"
