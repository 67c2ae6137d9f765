"""The customers feedback knows about, and what identity's merges, undos and erasures change here.

identity owns the customers; feedback follows its events. A merge re-keys everything the merged
customer did here to the survivor, each domain recording what it moved in ``customer_merge_move`` so
the undo can put exactly that back. Each handler is idempotent on its own: a merge already handled
here (applied, undone or erased since) changes nothing when its event comes again.
"""

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from feedback.advocates import service as advocates
from feedback.comments import service as comments
from feedback.complaints import service as complaints
from feedback.customers import repository
from feedback.customers.errors import CustomerRefNotFound
from feedback.customers.models import CustomerRef
from feedback.experience import service as experience
from feedback.idea_merges import service as idea_merges
from feedback.ideas import lifecycle as idea_lifecycle
from feedback.ideas import service as ideas
from feedback.ideas.lifecycle import AUTHOR_KIND, FOLLOWER_KIND, RowMove
from feedback.moderation import service as moderation
from feedback.sentiment import service as sentiment
from feedback.touchpoints import service as touchpoints
from feedback.votes import lifecycle as vote_lifecycle
from feedback.votes.lifecycle import VOTE_KIND

# The move kinds recorded by this module (ideas and votes); other domains record and restore theirs.
_IDEA_KINDS = (AUTHOR_KIND, FOLLOWER_KIND, VOTE_KIND)


async def record_customer(session: AsyncSession, *, customer_id: uuid.UUID, display_name: str | None) -> None:
    """Remember a customer identity created, or refresh its name; safe to repeat."""
    await repository.upsert(session, customer_id=customer_id, display_name=display_name)


async def get_customer_ref(session: AsyncSession, customer_id: uuid.UUID) -> CustomerRef:
    customer = await repository.get(session, customer_id)
    if customer is None:
        raise CustomerRefNotFound(f"The feedback service knows no customer with id {customer_id}.")
    return customer


async def current_customer_ids(
    session: AsyncSession, customer_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Each customer, or the customer identity merged it into (followed through later merges): who
    holds its votes and follows here now. For readers of other domains' records, such as idea merges."""
    current = {customer_id: customer_id for customer_id in customer_ids}
    pending = set(customer_ids)
    seen: set[uuid.UUID] = set()
    while pending:
        seen |= pending
        hops = {
            merged: survivor
            for merged, survivor in (await repository.next_survivors(session, pending)).items()
            if survivor not in seen
        }
        for origin, holder in current.items():
            current[origin] = hops.get(holder, holder)
        pending = set(hops.values())
    return current


async def merge_customer(
    session: AsyncSession, *, merge_id: uuid.UUID, survivor_id: uuid.UUID, merged_id: uuid.UUID
) -> None:
    """identity merged ``merged_id`` into ``survivor_id``: what the merged customer wrote, voted and
    followed becomes the survivor's.

    Where both voted on (or follow) an idea, the survivor's vote (follow) stands and the merged
    customer's is dropped, recorded to come back on undo. The ideas involved are locked in id order
    before any vote moves, and the ones that lost a vote are recounted.
    """
    await repository.lock_merge(session, merge_id)
    if survivor_id == merged_id or await repository.merge_state(session, merge_id) is not None:
        return
    await repository.add_merge(session, merge_id, from_id=merged_id, to_id=survivor_id, action="moved")
    touched = await idea_lifecycle.ideas_touched_by(session, [merged_id])
    touched |= await vote_lifecycle.ideas_voted_by(session, [merged_id])
    await idea_lifecycle.lock_ideas(session, touched)
    idea_moves = await idea_lifecycle.move_customer(
        session, from_id=merged_id, to_id=survivor_id, idea_ids=touched
    )
    vote_moves, lost_a_vote = await vote_lifecycle.move_customer(
        session, from_id=merged_id, to_id=survivor_id, idea_ids=touched
    )
    await repository.add_moves(
        session,
        merge_id,
        [
            {"kind": m.kind, "action": m.action, "row_key": m.row_key, "restore": m.restore}
            for m in [*idea_moves, *vote_moves]
        ],
    )
    await ideas.recount(session, sorted(lost_a_vote))
    # The other domains, each recording its own moves under the merge. Advocates last: the
    # survivor's score is recomputed from what the others have moved to it by then.
    for domain in (comments, moderation, experience, complaints, sentiment, touchpoints, advocates):
        await domain.move_customer(session, merge_id=merge_id, from_id=merged_id, to_id=survivor_id)


async def unmerge_customer(
    session: AsyncSession, *, merge_id: uuid.UUID, survivor_id: uuid.UUID, restored_id: uuid.UUID
) -> None:
    """identity undid the merge: ``restored_id`` gets back exactly what the merge took from it.

    Rows are looked for where they are now: with the survivor, or with whoever the survivor was merged
    into since; votes and follows on an idea merged since return on the idea it was merged into. A
    vote (follow) the survivor changed after the merge is the survivor's own act and stays with them;
    the restored customer gets its original back all the same. An undo arriving before its merge is
    remembered, so the late merge changes nothing.
    """
    await repository.lock_merge(session, merge_id)
    state = await repository.merge_state(session, merge_id)
    if state is None:
        await repository.add_merge(
            session, merge_id, from_id=restored_id, to_id=survivor_id, action="restored"
        )
        return
    if state != "moved":
        return
    holders = await _holders(session, survivor_id)
    moves = [
        RowMove(row.kind, row.action, row.row_key, row.restore)
        for row in await repository.moves_of(session, merge_id, _IDEA_KINDS)
    ]
    recorded_ideas = {uuid.UUID(m.row_key["idea_id"]) for m in moves}
    live = await idea_lifecycle.live_idea_ids(session, recorded_ideas)
    await idea_lifecycle.lock_ideas(session, recorded_ideas | set(live.values()))
    await idea_lifecycle.restore_customer(
        session, restored_id=restored_id, holders=holders, moves=moves, live=live
    )
    recount = await vote_lifecycle.restore_customer(
        session, restored_id=restored_id, holders=holders, moves=moves, live=live
    )
    await repository.delete_superseded_moves(
        session,
        merge_id=merge_id,
        holders=holders,
        rows=[
            (m.kind, idea_id, live[idea_id], m.restore)
            for m in moves
            if m.kind in (FOLLOWER_KIND, VOTE_KIND) and m.action == "moved" and m.restore is not None
            for idea_id in [uuid.UUID(m.row_key["idea_id"])]
        ],
    )
    await repository.delete_moves(session, [merge_id], _IDEA_KINDS)
    await repository.set_merge_state(session, [merge_id], "restored")
    await ideas.recount(session, sorted(recount))
    for domain in (comments, moderation, experience, complaints, sentiment, touchpoints, advocates):
        await domain.restore_customer(session, merge_id=merge_id, restored_id=restored_id)


async def erase_customer(
    session: AsyncSession, *, customer_id: uuid.UUID, merged_ids: Sequence[uuid.UUID]
) -> None:
    """identity erased the customer (and the customers merged into it): their votes and follows go
    (tallies recounted), their ideas and comments stay without an author, their name is blanked for
    good, and the records of their merges are forgotten (such a merge can no longer be undone here).
    Safe to repeat."""
    customer_ids = sorted({customer_id, *merged_ids})
    touched = await idea_lifecycle.ideas_touched_by(session, customer_ids)
    touched |= await vote_lifecycle.ideas_voted_by(session, customer_ids)
    await idea_lifecycle.lock_ideas(session, touched)
    lost_votes = await vote_lifecycle.erase_customer(session, customer_ids=customer_ids)
    await idea_lifecycle.erase_customer(session, customer_ids=customer_ids)
    await idea_merges.erase_customer(session, customer_ids=customer_ids)
    await ideas.recount(session, sorted(lost_votes))
    for domain in (comments, moderation, experience, complaints, sentiment, touchpoints, advocates):
        await domain.erase_customer(session, customer_ids=customer_ids)
    merges = await repository.merges_involving(session, customer_ids)
    await repository.delete_moves(session, merges)
    await repository.set_merge_state(session, merges, "erased")
    await repository.mark_erased(session, customer_ids)


async def _holders(session: AsyncSession, survivor_id: uuid.UUID) -> list[uuid.UUID]:
    """The survivor, then whoever it was merged into since, in order."""
    chain = [survivor_id]
    while True:
        following = (await repository.next_survivors(session, [chain[-1]])).get(chain[-1])
        if following is None or following in chain:
            return chain
        chain.append(following)
