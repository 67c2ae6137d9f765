"""Bearer tokens for staff, customers and partner systems.

Every service verifies the caller's token itself; the gateway forwards it and is never trusted blindly.
Staff tokens carry a role; customer tokens carry the customer id as subject; partner tokens carry the
partner source (partners' webhooks are additionally signed, see :mod:`crm_common.webhooks`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crm_common.errors import Forbidden, Unauthorized

AUDIENCE = "crm"
ALGORITHM = "HS256"


class Role(StrEnum):
    ADMIN = "admin"
    MARKETER = "marketer"
    AGENT = "agent"
    ANALYST = "analyst"
    CUSTOMER = "customer"
    PARTNER = "partner"


STAFF_ROLES = frozenset({Role.ADMIN, Role.MARKETER, Role.AGENT, Role.ANALYST})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a staff member, a customer acting as themself, or a partner system."""

    subject: str
    role: Role
    token: str

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def customer_id(self) -> uuid.UUID | None:
        if self.role is not Role.CUSTOMER:
            return None
        return uuid.UUID(self.subject)


class TokenSigner:
    """Issues and verifies the platform's JWTs with one shared secret (HS256)."""

    def __init__(self, secret: str, issuer: str = "crm"):
        self._secret = secret
        self._issuer = issuer

    def issue(self, subject: str, role: Role, ttl: timedelta = timedelta(hours=12)) -> str:
        now = datetime.now(UTC)
        if role is Role.CUSTOMER:
            uuid.UUID(subject)  # a customer token's subject must be a customer id
        claims = {
            "sub": subject,
            "role": role.value,
            "iss": self._issuer,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=self._issuer,
                options={"require": ["sub", "role", "exp", "iss", "aud"]},
            )
            role = Role(claims["role"])
            if role is Role.CUSTOMER:
                uuid.UUID(claims["sub"])
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired.") from exc
        except (jwt.InvalidTokenError, ValueError) as exc:
            raise Unauthorized("The token is not valid.") from exc
        return Principal(subject=str(claims["sub"]), role=role, token=token)


_bearer = HTTPBearer(auto_error=False, description="A platform JWT: `crm token --role admin` in dev.")


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Send a bearer token in the Authorization header.")
    signer: TokenSigner = request.app.state.token_signer
    return signer.verify(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> object:
    """Dependency allowing only the given roles."""
    allowed = frozenset(roles)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"This needs one of the roles: {', '.join(sorted(r.value for r in allowed))}.")
        return principal

    return Depends(dependency)


async def _current_staff(principal: CurrentPrincipal) -> Principal:
    if not principal.is_staff:
        raise Forbidden("This needs a staff token.")
    return principal


async def _current_customer(principal: CurrentPrincipal) -> Principal:
    if principal.role is not Role.CUSTOMER:
        raise Forbidden("This needs a customer token.")
    return principal


CurrentStaff = Annotated[Principal, Depends(_current_staff)]
CurrentCustomer = Annotated[Principal, Depends(_current_customer)]


def ensure_staff_or_self(principal: Principal, customer_id: uuid.UUID) -> None:
    """A customer may act only on their own record; staff may act on any."""
    if principal.is_staff:
        return
    if principal.customer_id != customer_id:
        raise Forbidden("A customer token can only access its own customer.")
