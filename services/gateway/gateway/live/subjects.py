"""The subjects the gateway follows for its subscriptions (see each producer's event contract)."""

from crm_common.events.envelope import subject_for

# feedback: a vote set, changed or cleared (direction null); the payload carries the idea's new tallies.
VOTE_CAST = subject_for("feedback", "vote.cast")
# feedback: a spike of negative feedback at a touchpoint.
ALERT_RAISED = subject_for("feedback", "alert.raised")
# identity: a new entry on a customer's timeline, under the id it resolves to when recorded.
TOUCHPOINT_RECORDED = subject_for("identity", "touchpoint.recorded")
# identity: merges re-key a customer; a touchpoint subscription follows them.
CUSTOMER_MERGED = subject_for("identity", "customer.merged")
CUSTOMER_UNMERGED = subject_for("identity", "customer.unmerged")

LIVE_SUBJECTS = (VOTE_CAST, ALERT_RAISED, TOUCHPOINT_RECORDED, CUSTOMER_MERGED, CUSTOMER_UNMERGED)
