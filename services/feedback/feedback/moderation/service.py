"""Moderation: who may post, the spam and abuse heuristics, moderators' decisions and their log.

The heuristics add up a spam score for each new idea or comment; at ``spam_hold_threshold`` or above
the post waits in the moderation queue instead of being published. Each signal and its weight is
below, with the reason for the weight (MODERATION.md has the same for operators). A single weak
sign (one link too many, a short burst, capitals) never holds a post: that is usually just a
customer. Repeated text, two extra links, a sustained burst, or weak signs adding up to 1.0 do.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from feedback.ideas.models import Idea
from feedback.moderation import repository
from feedback.moderation.errors import (
    AuthorAlreadyBlocked,
    AuthorBlocked,
    AuthorBlockNotFound,
    ModerationTransitionNotAllowed,
)
from feedback.moderation.models import AuthorBlock, ModerationAction
from feedback.settings import FeedbackSettings

HEURISTICS_ACTOR = "heuristics"
HOLD = "hold"
PENDING, PUBLISHED, HIDDEN, REJECTED = "pending", "published", "hidden", "rejected"

# --- weights --------------------------------------------------------------------------------------
# Links are what spam is for, but support answers and bug reports link too: each link beyond
# ``spam_max_links`` adds 0.5: two extra links, or one with a burst, hold the post.
LINK_WEIGHT = 0.5
LINK_WEIGHT_CAP = 2.0
# A burst is also what an engaged customer in a lively thread looks like, so reaching
# ``spam_burst_count`` earlier posts in the window adds 0.6 (not a hold alone) and each further post
# 0.2 more: a sustained burst (two posts past the count) holds on its own.
BURST_WEIGHT = 0.6
BURST_STEP_WEIGHT = 0.2
# The same text again within the window is the strongest sign of a bot or a copy-paste campaign:
# it holds on its own. Very short texts ("+1", "me too") repeat innocently and are not compared.
REPEAT_WEIGHT = 1.0
REPEAT_MIN_CHARACTERS = 20
REPEAT_COMMENTS_COMPARED = 50
# Shouting (at least 20 cased letters, 70 % of them capitals) and long runs of one character are
# abuse more than spam, and mild: they only tip a post that already scores.
SHOUTING_WEIGHT = 0.4
SHOUTING_MIN_LETTERS = 20
SHOUTING_UPPER_SHARE = 0.7
REPEATED_CHARACTERS_WEIGHT = 0.3
REPEATED_CHARACTERS_RUN = 8

REASON_LINKS = "links"
REASON_BURST = "burst"
REASON_REPEAT = "repeated_text"
REASON_SHOUTING = "shouting"
REASON_REPEATED_CHARACTERS = "repeated_characters"
REASON_PRE_MODERATION = "pre_moderation"

# Top-level domains counted when a domain is written without scheme or "www." — the common generic
# ones and those spam favours. Short words that double as TLDs ("in", "me", "co", "us") are left out:
# "done.In" after a missing space is not a link.
_BARE_TLDS = (
    "com|net|org|info|biz|io|ly|xyz|top|online|site|shop|store|club|live|link|click|vip|win|"
    "ru|cn|tk|ml|ga|cf|gq|su|cc|pw|uk"
)
_LINK = re.compile(
    rf"""
    https?://[^\s<>"']+
    | \bwww\.[^\s<>"']+
    | \b(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_BARE_TLDS})\b(?:/[^\s<>"']*)?
    """,
    re.IGNORECASE | re.VERBOSE,
)
_REPEATED_CHARACTERS = re.compile(rf"([^\W\d_]|[!?])\1{{{REPEATED_CHARACTERS_RUN - 1},}}")


@dataclass(frozen=True)
class Assessment:
    """What the heuristics concluded about a post: its state, its score and why."""

    moderation_state: str
    spam_score: float
    reasons: list[str] = field(default_factory=list)
    text_hash: str = ""

    @property
    def held(self) -> bool:
        return self.moderation_state == PENDING


# --- text signals (pure) --------------------------------------------------------------------------


def normalise(text: str) -> str:
    """The text as the repeat check compares it: NFKC, case-folded, punctuation dropped (read as a
    space, so "gift-cards" equals "gift cards"), white space folded to single spaces."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    without_punctuation = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in folded)
    return " ".join(without_punctuation.split())


def text_hash(title: str | None, body: str) -> str:
    """sha256 (hex) of the normalised title and body: equal for texts that differ only in case,
    punctuation and spacing. Ideas store it (``idea.text_hash``)."""
    return hashlib.sha256(normalise(f"{title or ''} {body}").encode()).hexdigest()


def count_links(text: str) -> int:
    """URLs with a scheme, ``www.`` addresses and bare domains such as ``cheap-pills.shop/buy``."""
    return sum(1 for _ in _LINK.finditer(text))


def is_shouting(text: str) -> bool:
    cased = [ch for ch in text if ch.isupper() or ch.islower()]
    if len(cased) < SHOUTING_MIN_LETTERS:
        return False
    return sum(ch.isupper() for ch in cased) / len(cased) >= SHOUTING_UPPER_SHARE


def has_repeated_characters(text: str) -> bool:
    """A run of one letter, ``!`` or ``?`` at least ``REPEATED_CHARACTERS_RUN`` long ("soooooooo")."""
    return _REPEATED_CHARACTERS.search(text) is not None


# --- who may post ---------------------------------------------------------------------------------


async def ensure_may_post(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Raise :class:`AuthorBlocked` (403, type ``author-blocked``) when staff blocked the customer."""
    if await repository.is_blocked(session, customer_id):
        raise AuthorBlocked("This customer has been blocked from posting ideas and comments.")


async def board_moderation_mode(session: AsyncSession, board_id: uuid.UUID) -> str:
    """``pre`` when the board holds every post for a moderator, else ``post``."""
    return await repository.board_moderation_mode(session, board_id)


# --- the heuristics -------------------------------------------------------------------------------


async def assess(
    session: AsyncSession,
    settings: FeedbackSettings,
    *,
    kind: Literal["idea", "comment"],
    author_id: uuid.UUID,
    title: str | None,
    body: str,
    board_moderation_mode: str = "post",
    exclude_idea_id: uuid.UUID | None = None,
    exclude_comment_id: uuid.UUID | None = None,
) -> Assessment:
    """Score a customer's idea or comment and decide whether it is published or held.

    Call it before a new post is written (the author's earlier posts and texts are what it compares
    with). ``moderation_state`` is ``pending`` when the board pre-moderates or the score reaches
    ``settings.spam_hold_threshold``, else ``published``.

    For an edit, pass the edited post's id as ``exclude_idea_id`` or ``exclude_comment_id``: the post
    is not compared with itself, and the submission-rate signal is skipped (an edit is not a new
    post). The caller stores state, score and hash, and logs a hold with :func:`record_hold` (or
    :func:`record_action`).
    """
    editing = exclude_idea_id or exclude_comment_id
    now = datetime.now(UTC)
    text = f"{title}\n{body}" if title else body
    score = 0.0
    reasons: list[str] = []

    excess_links = count_links(text) - settings.spam_max_links
    if excess_links > 0:
        score += min(LINK_WEIGHT * excess_links, LINK_WEIGHT_CAP)
        reasons.append(REASON_LINKS)

    if editing is None:
        since = now - timedelta(seconds=settings.spam_burst_window_seconds)
        recent = await repository.posts_since(session, author_id, since)
        if recent >= settings.spam_burst_count:
            score += BURST_WEIGHT + BURST_STEP_WEIGHT * (recent - settings.spam_burst_count)
            reasons.append(REASON_BURST)

    digest = text_hash(title, body)
    if len(normalise(text)) >= REPEAT_MIN_CHARACTERS and await _seen_before(
        session, settings, kind=kind, author_id=author_id, digest=digest, now=now, editing=editing
    ):
        score += REPEAT_WEIGHT
        reasons.append(REASON_REPEAT)

    if is_shouting(text):
        score += SHOUTING_WEIGHT
        reasons.append(REASON_SHOUTING)
    if has_repeated_characters(text):
        score += REPEATED_CHARACTERS_WEIGHT
        reasons.append(REASON_REPEATED_CHARACTERS)

    score = round(score, 4)  # 0.6 + 0.2 + 0.2 must reach a threshold of 1.0
    held = score >= settings.spam_hold_threshold
    if board_moderation_mode == "pre":
        reasons.append(REASON_PRE_MODERATION)
        held = True
    return Assessment(
        moderation_state=PENDING if held else PUBLISHED, spam_score=score, reasons=reasons, text_hash=digest
    )


async def _seen_before(
    session: AsyncSession,
    settings: FeedbackSettings,
    *,
    kind: str,
    author_id: uuid.UUID,
    digest: str,
    now: datetime,
    editing: uuid.UUID | None,
) -> bool:
    since = now - timedelta(days=settings.spam_repeat_window_days)
    if kind == "idea":
        # Any author: idea.text_hash is indexed, so copy-paste campaigns across accounts show.
        return await repository.idea_text_seen(session, digest, since, excluding=editing)
    # Comments store no hash (a schema change would add one): compare with the author's own latest
    # comments, which is what a single account spraying one text over many ideas looks like.
    bodies = await repository.recent_comment_bodies(
        session, author_id, since, limit=REPEAT_COMMENTS_COMPARED, excluding=editing
    )
    return any(text_hash(None, earlier) == digest for earlier in bodies)


# --- the action log -------------------------------------------------------------------------------


async def record_action(
    session: AsyncSession,
    *,
    target_kind: Literal["idea", "comment", "author"],
    target_id: uuid.UUID,
    action: str,
    actor: str,
    reason: str | None,
) -> ModerationAction:
    """Append to the moderation log (``GET /v1/moderation/actions``)."""
    return await repository.add_action(
        session,
        ModerationAction(
            target_kind=target_kind, target_id=target_id, action=action, actor=actor, reason=reason
        ),
    )


async def record_hold(
    session: AsyncSession,
    *,
    target_kind: Literal["idea", "comment"],
    target_id: uuid.UUID,
    assessment: Assessment,
) -> ModerationAction:
    """Log that the heuristics held a post: action ``hold``, actor ``heuristics``, the reasons joined by
    ``", "`` (the queue reads a comment's reasons back from here)."""
    return await record_action(
        session,
        target_kind=target_kind,
        target_id=target_id,
        action=HOLD,
        actor=HEURISTICS_ACTOR,
        reason=", ".join(assessment.reasons) or None,
    )


# --- moderators' decisions ------------------------------------------------------------------------

# action -> (the state it applies to, the state it leads to)
TRANSITIONS: dict[str, tuple[str, str]] = {
    "approve": (PENDING, PUBLISHED),
    "reject": (PENDING, REJECTED),
    "hide": (PUBLISHED, HIDDEN),
    "restore": (HIDDEN, PUBLISHED),
}


def next_state(current: str, action: str) -> str:
    """The state ``action`` leads to from ``current``; 409 when the action does not apply to it."""
    applies_to, leads_to = TRANSITIONS[action]
    if current != applies_to:
        raise ModerationTransitionNotAllowed(
            f"Cannot {action} a post that is {current}; {action} applies to {applies_to} posts.",
            current_state=current,
        )
    return leads_to


async def moderate_idea(
    session: AsyncSession, idea_id: uuid.UUID, *, action: str, actor: str, reason: str | None
) -> tuple[str, Idea, ModerationAction]:
    """Apply a moderator's ``action`` to an idea (through the ideas domain) and log it.

    Returns the previous state, the idea and the logged action. 404 for an unknown idea, 409 when the
    action does not apply to the idea's state.
    """
    # Local import: the ideas domain calls assess() from this module, so a module-level import would be
    # a cycle.
    from feedback.ideas import service as ideas

    idea = await ideas.get_idea_for_update(session, idea_id)
    previous = idea.moderation_state
    target = next_state(previous, action)
    idea = await ideas.set_moderation_state(session, idea_id, target)
    logged = await record_action(
        session, target_kind="idea", target_id=idea_id, action=action, actor=actor, reason=reason
    )
    return previous, idea, logged


# --- author blocks --------------------------------------------------------------------------------


async def block_author(
    session: AsyncSession, *, customer_id: uuid.UUID, reason: str, actor: str
) -> AuthorBlock:
    """Stop a customer from posting ideas and comments (what they posted stays as it is)."""
    block = await repository.add_block(session, customer_id=customer_id, reason=reason, blocked_by=actor)
    if block is None:
        raise AuthorAlreadyBlocked(f"Customer {customer_id} is already blocked.")
    await record_action(
        session, target_kind="author", target_id=customer_id, action="block", actor=actor, reason=reason
    )
    return block


async def unblock_author(session: AsyncSession, *, customer_id: uuid.UUID, actor: str) -> None:
    if not await repository.remove_block(session, customer_id):
        raise AuthorBlockNotFound(f"Customer {customer_id} is not blocked.")
    await record_action(
        session, target_kind="author", target_id=customer_id, action="unblock", actor=actor, reason=None
    )


async def list_blocks(
    session: AsyncSession, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[AuthorBlock]:
    return await repository.list_blocks(session, after=after, limit=limit)


async def list_actions(
    session: AsyncSession,
    *,
    target_kind: str | None,
    target_id: uuid.UUID | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[ModerationAction]:
    return await repository.list_actions(
        session, target_kind=target_kind, target_id=target_id, after=after, limit=limit
    )


async def queue(
    session: AsyncSession, *, kind: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Row[Any]]:
    """Posts waiting for a moderator, oldest first (ideas, comments, or both interleaved)."""
    return await repository.pending_posts(session, kind=kind, after=after, limit=limit)


# --- customer lifecycle (wired to identity's events by the consumers) -----------------------------


async def move_customer(
    session: AsyncSession, *, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID
) -> None:
    """identity merged ``from_id`` into ``to_id``: the block follows the person. Safe to repeat."""
    await repository.move_blocks(session, merge_id=merge_id, from_id=from_id, to_id=to_id)


async def restore_customer(session: AsyncSession, *, merge_id: uuid.UUID, restored_id: uuid.UUID) -> None:
    """identity undid the merge: exactly the block the merge moved (or dropped) returns to
    ``restored_id``. Safe to repeat."""
    await repository.restore_blocks(session, merge_id=merge_id, restored_id=restored_id)


async def erase_customer(session: AsyncSession, *, customer_ids: list[uuid.UUID]) -> None:
    """identity erased the customers: their blocks and block history go. Safe to repeat."""
    await repository.erase_blocks(session, customer_ids)
