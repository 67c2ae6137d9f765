"""Who may read which field, decided before any service is called.

The services check every call themselves (the caller's token is forwarded); these checks make the
graph say FORBIDDEN early and uniformly, and keep fields out of reach that a role has no business
asking for even where a service would answer (campaign administration for agents, say).

- a customer token: ``me`` (its own record, fed from the services' single-customer endpoints) and
  public idea data; its own ideas, votes, comments, feedback and complaints (and reopening one);
- agents: customers, their timelines, feedback and complaints, match suggestions, merges, the idea
  workflow;
- marketers: segments and campaigns (create, launch, pause) and the customer data they target;
- analysts: read everything staff can read, results included; no writes but their own;
- partners: resolving identifiers (``identify``) and nothing else;
- admins: everything.

Each write's role set is the one the owning service's router demands (named next to each set), so
the gateway never lets through a call the service would refuse, nor refuses one it would take. Reads
may be stricter than the service: agents do not see segments or campaigns, although campaign's
segment endpoints would answer them.
"""

from typing import Any

from strawberry.permission import BasePermission

from crm_common.auth import Role
from gateway.clients import ErrorCode, GraphError
from gateway.context import GatewayInfo

STAFF = frozenset({Role.ADMIN, Role.AGENT, Role.MARKETER, Role.ANALYST})
# identity's merges and match suggestions, feedback's complaint handling, idea workflow and merges
# (``Steward`` / ``Handler``: admin, agent).
CUSTOMER_DESK = frozenset({Role.ADMIN, Role.AGENT})
# identity's match suggestions are listed and decided by the same stewards (analysts get a 403 there).
MATCH_REVIEWERS = CUSTOMER_DESK
# identity's ``POST /v1/identify`` (``Resolver``): partner systems resolve identifiers too.
RESOLVERS = frozenset({Role.ADMIN, Role.AGENT, Role.PARTNER})
# feedback's idea board is read by customers and staff (not by partners).
IDEA_READERS = STAFF | {Role.CUSTOMER}
# feedback's comments: customers, and staff who answer them (analysts only read).
COMMENT_WRITERS = frozenset({Role.CUSTOMER, Role.ADMIN, Role.AGENT, Role.MARKETER})
# campaign's campaigns ``Reader`` (its segments' Reader adds agents; the graph keeps them out).
CAMPAIGN_READERS = frozenset({Role.ADMIN, Role.MARKETER, Role.ANALYST})
# campaign's segments and campaigns ``Writer``.
CAMPAIGN_MANAGERS = frozenset({Role.ADMIN, Role.MARKETER})
ADMINS = frozenset({Role.ADMIN})
CUSTOMERS = frozenset({Role.CUSTOMER})


class Forbidden(GraphError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.FORBIDDEN, message)


class _RolePermission(BasePermission):
    roles: frozenset[Role] = frozenset()
    message = "Your role may not read this field."

    def has_permission(self, source: Any, info: GatewayInfo, **kwargs: Any) -> bool:
        return info.context.principal.role in self.roles

    def on_unauthorized(self) -> None:
        raise Forbidden(self.message or "Not allowed.")


class IsStaff(_RolePermission):
    roles = STAFF
    message = "Staff only."


class IsCustomerDesk(_RolePermission):
    roles = CUSTOMER_DESK
    message = "Agents and admins only."


class ResolvesIdentifiers(_RolePermission):
    roles = RESOLVERS
    message = "Agents, admins and partner systems only."


class ReadsIdeas(_RolePermission):
    roles = IDEA_READERS
    message = "The idea board is read by customers and staff."


class WritesComments(_RolePermission):
    roles = COMMENT_WRITERS
    message = "Comments are written by customers, and by admins, agents and marketers."


class HandlesComplaints(_RolePermission):
    """Agents and admins move complaints; a customer may only reopen their own (checked in the resolver
    with :func:`require`, as it depends on the status asked for)."""

    roles = CUSTOMER_DESK | CUSTOMERS
    message = "Complaints are handled by agents and admins; a customer may only reopen theirs."


class ReadsCampaigns(_RolePermission):
    roles = CAMPAIGN_READERS
    message = "Marketers, analysts and admins only."


class ManagesCampaigns(_RolePermission):
    roles = CAMPAIGN_MANAGERS
    message = "Marketers and admins only."


class IsCustomer(_RolePermission):
    roles = CUSTOMERS
    message = "This needs a customer token: it acts as the customer themself."


def require(info: GatewayInfo, roles: frozenset[Role], message: str) -> None:
    """The same check inside a resolver (for a decision that depends on the arguments)."""
    if info.context.principal.role not in roles:
        raise Forbidden(message)
