"""Sentiment of feedback text for the other domains: a score in -1..1 and a label, never the network.

The sentiment domain keeps no rows of its own (the score is stored with the feedback it describes), so
its customer lifecycle functions have nothing to move, restore or erase; they exist so the identity
consumers can call every domain the same way.
"""

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from feedback.sentiment.analyzer import NEUTRAL_BAND, Sentiment, SentimentLabel, label_for, score_text

__all__ = ["Sentiment", "SentimentLabel", "label_for", "score"]


async def score(text: str, *, neutral_band: float = NEUTRAL_BAND) -> Sentiment:
    """Score feedback text (Korean, English or both) off the event loop: the first Korean text of a
    process loads the Kiwi model (about 1.5 s), later calls take well under a millisecond."""
    return await asyncio.to_thread(score_text, text, neutral_band)


async def move_customer(
    session: AsyncSession, *, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID
) -> None:
    """Nothing to move: sentiment keeps no customer rows."""


async def restore_customer(session: AsyncSession, *, merge_id: uuid.UUID, restored_id: uuid.UUID) -> None:
    """Nothing to restore: sentiment keeps no customer rows."""


async def erase_customer(session: AsyncSession, *, customer_ids: list[uuid.UUID]) -> None:
    """Nothing to erase: sentiment keeps no customer rows (the text and its score live with the feedback)."""
