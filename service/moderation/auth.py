"""Bearer tokens with roles: stored hashed, checked per request, never logged.

Roles: ``moderator`` (the review queue, decisions, bans, article policy), ``admin``
(everything, plus word lists), ``site`` (the site's backend: submitting comments,
registering articles, reader reports, when ``REQUIRE_SITE_TOKEN`` is on), ``ops`` (a
monitor: ``/statusz`` and ``/metrics`` unless ``OPS_ENDPOINTS_OPEN``), ``analyze`` (an
API key of the Perspective- and Akismet-compatible endpoints, sent as they send theirs:
``?key=`` and ``api_key``). A missing or unknown token is ``401``; a valid token
without the role is ``403`` (the drop-in endpoints answer in their own protocols).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import g, request

from service.app_context import db_session, settings
from service.db import Session, utcnow
from service.errors import Conflict, ServiceError
from service.moderation.models import ApiToken
from service.openapi import error_doc

ROLES = ("moderator", "admin", "site", "ops", "analyze")
#: what each role may act as
GRANTS = {
    "admin": {"admin", "moderator", "site", "ops", "analyze"},
    "moderator": {"moderator"},
    "site": {"site"},
    "ops": {"ops"},
    "analyze": {"analyze"},
}
TOKEN_PREFIX = "cmt_"
UNAUTHORIZED_DOC = error_doc("No token, an unknown or revoked one, or not a Bearer token.")
FORBIDDEN_DOC = error_doc("The token's role does not grant this (`forbidden`).")
#: ``@blp.doc(**SECURED)``: the OpenAPI document shows the view needs a bearer token
SECURED: dict[str, Any] = {
    "security": [{"bearerAuth": []}],
    "responses": {"401": UNAUTHORIZED_DOC, "403": FORBIDDEN_DOC},
}

F = TypeVar("F", bound=Callable[..., Any])


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="moderation"'}  # noqa: RUF012


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    @property
    def actor(self) -> str:
        """How audit rows and webhooks name who acted."""
        return f"{'moderator' if self.role in {'moderator', 'admin'} else self.role}:{self.name}"


def hash_token(token: str) -> str:
    # Tokens are 256 random bits: a fast hash is enough (nothing to brute-force).
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str, role: str) -> str:
    """Store a new token for ``name``; return the token itself (shown once, never stored)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    existing = session.scalars(sa.select(ApiToken).where(ApiToken.name == name)).first()
    if existing is not None:
        raise Conflict(f"a token named {name!r} exists; revoke it first or pick another name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, role=role, token_hash=hash_token(token)))
    session.flush()
    return token


def revoke_token(session: Session, name: str) -> bool:
    token = session.scalars(
        sa.select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
    ).first()
    if token is None:
        return False
    token.revoked_at = utcnow()
    # free the name for a replacement token, keep the row for the record
    token.name = f"{name}#revoked-{token.id}"
    session.flush()
    return True


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(sa.select(ApiToken).order_by(ApiToken.id)))


def find_token(session: Session, token: str) -> ApiToken | None:
    """The active token row for ``token`` (the token itself, not its hash), or None."""
    return session.scalars(
        sa.select(ApiToken).where(
            ApiToken.token_hash == hash_token(token.strip()), ApiToken.revoked_at.is_(None)
        )
    ).first()


def authenticate(session: Session, header: str | None) -> Principal:
    """The principal behind an ``Authorization: Bearer ...`` header, or 401."""
    if not header:
        raise Unauthorized("Send an API token: Authorization: Bearer <token>.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use the Bearer scheme: Authorization: Bearer <token>.")
    row = find_token(session, token)
    if row is None:
        raise Unauthorized("That API token is not valid (unknown or revoked).")
    return Principal(row.name, row.role)


def grants(principal: Principal, *roles: str) -> bool:
    """Whether ``principal``'s role grants one of ``roles`` (an admin's grants them all)."""
    return bool(GRANTS[principal.role] & set(roles))


def require(*roles: str) -> Callable[[F], F]:
    """Let a view run only for a token whose role grants one of ``roles``."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate(db_session(), request.headers.get("Authorization"))
            if not grants(principal, *roles):
                raise Forbidden(
                    f"This needs the {' or '.join(roles)} role; your token has {principal.role}."
                )
            g.principal = principal
            return view(*args, **kwargs)

        wrapper._required_roles = roles  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


def open_unless(protected: Callable[[], bool], *roles: str) -> Callable[[F], F]:
    """``require(*roles)`` while ``protected()`` is true (read per request); open otherwise."""

    def decorator(view: F) -> F:
        guarded = require(*roles)(view)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if protected():
                return guarded(*args, **kwargs)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def current_principal() -> Principal:
    return g.principal  # type: ignore[no-any-return]


#: ``require("site")`` when REQUIRE_SITE_TOKEN is on; open otherwise
site_access = open_unless(lambda: settings().require_site_token, "site")

#: ``require("ops")`` (or admin) unless OPS_ENDPOINTS_OPEN is on
ops_access = open_unless(lambda: not settings().ops_endpoints_open, "ops")
