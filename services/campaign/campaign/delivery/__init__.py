"""The delivery ledger: each (campaign, step, customer, occurrence) sent at most once, never skipped."""
