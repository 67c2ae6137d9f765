"""Operator tooling: the `crm` command, embedded engines for dev and tests, the dev supervisor."""
