"""HTTP API of comments for the site's frontend."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from flask import g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from config.settings import rate_limits
from service.app_context import db_session, dispatcher, rate_limiter, settings, status_listeners
from service.comments import services
from service.comments.models import Status
from service.comments.schemas import (
    CommentInSchema,
    CommentOutSchema,
    ListCommentsArgs,
    ThreadPageSchema,
)
from service.errors import Conflict, Invalid, NotFound
from service.moderation import services as moderation
from service.moderation.auth import UNAUTHORIZED_DOC, authenticate, grants, site_access
from service.moderation.schemas import ReportInSchema, ReportSchema
from service.openapi import error_doc
from service.ratelimit import RateLimited

blp = Blueprint("comments", __name__, url_prefix="/v1", description="Reader comments")

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
IDEMPOTENCY_HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "pattern": _IDEMPOTENCY_KEY.pattern},
    "description": "A retried POST with the same key returns the original comment "
    "instead of storing a duplicate. Keys belong to their caller: the site token's name "
    "when one is required, else the article; the same key from another caller is "
    "another comment.",
}


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise Invalid(
            "Idempotency-Key must be 1 to 200 printable ASCII characters without spaces.",
            details={"Idempotency-Key": ["1 to 200 printable ASCII characters."]},
        )
    return key


def _idempotency_scope(article_id: str) -> str:
    """Whose keys a request's key is among: the site token's, else the article's."""
    principal = g.get("principal")  # set by site_access when a token is required
    if principal is not None:
        return services.token_scope(principal.name)
    return services.article_scope(article_id)


SITE_TOKEN = {
    "security": [{}, {"bearerAuth": []}],
    "description": "A `site` token is required when MODERATION_REQUIRE_SITE_TOKEN is on.",
    "responses": {
        "401": UNAUTHORIZED_DOC,
        "403": error_doc("REQUIRE_SITE_TOKEN is on and the token's role is not `site`."),
    },
}
COMMENT_NOT_FOUND = error_doc("No such comment (`comment_not_found`).")


@blp.route("/articles/<site_id:article_id>/comments")
class ArticleComments(MethodView):
    @site_access
    @blp.arguments(CommentInSchema())
    @blp.response(202, CommentOutSchema, headers={"Location": {"description": "the comment's URL"}})
    @blp.doc(parameters=[IDEMPOTENCY_HEADER], **SITE_TOKEN)
    @blp.doc(responses={"409": error_doc("The article's comments are closed (`article_closed`).")})
    def post(self, data: dict[str, Any], article_id: str) -> Any:
        """Submit a reader's comment.

        The comment is stored `pending` and scored in the background; poll its URL
        (the Location header) or wait for the webhook.
        """
        session = db_session()
        submission = services.submit_comment(
            session,
            dispatcher(),
            article_id,
            data,
            _idempotency_key(),
            _idempotency_scope(article_id),
        )
        session.commit()
        comment = submission.comment
        location = url_for("comments.Comment", comment_id=comment.id, _external=False)
        base = settings().public_url.rstrip("/")
        return comment, 202, {"Location": f"{base}{location}" if base else location}

    @blp.arguments(ListCommentsArgs(), location="query")
    @blp.response(200, ThreadPageSchema)
    def get(self, args: dict[str, Any], article_id: str) -> Any:
        """List an article's approved comments, oldest first, replies under their threads."""
        return services.list_approved_threads(
            db_session(),
            article_id,
            limit=args["limit"],
            cursor=args["cursor"],
            replies_per_thread=settings().replies_per_thread,
        )


@blp.route("/comments/<uuid:comment_id>", endpoint="Comment")
class CommentResource(MethodView):
    @blp.response(200, CommentOutSchema)
    @blp.doc(
        security=[{}, {"bearerAuth": []}],
        responses={"401": UNAUTHORIZED_DOC, "404": COMMENT_NOT_FOUND},
    )
    def get(self, comment_id: uuid.UUID) -> Any:
        """Read one comment and its status.

        Anyone may read a comment's status; the text of one that is not approved (held,
        rejected, or not yet decided) only with a `site` token (the site's backend,
        showing an author their own comment) or a moderator's.
        """
        session = db_session()
        comment = services.get_comment(session, comment_id)
        if comment is None:
            raise NotFound(f"No comment {comment_id}.", code="comment_not_found")
        trusted = _trusted(session)  # a token sent is checked, whatever the comment
        if comment.status == Status.APPROVED or trusted:
            return comment
        return _Withheld(comment)


def _trusted(session: Any) -> bool:
    """The caller sent a valid token of the site or of a moderator (a bad one is 401)."""
    header = request.headers.get("Authorization")
    if not header:
        return False
    return grants(authenticate(session, header), "site", "moderator")


class _Withheld:
    """A comment as the public sees it before approval: everything but its text."""

    body = None

    def __init__(self, comment: Any) -> None:
        self._comment = comment

    def __getattr__(self, name: str) -> Any:
        return getattr(self._comment, name)


@blp.route("/comments/<uuid:comment_id>/reports")
class CommentReports(MethodView):
    @site_access
    @blp.arguments(ReportInSchema())
    @blp.response(201, ReportSchema)
    @blp.doc(**SITE_TOKEN)
    @blp.doc(
        responses={
            "404": COMMENT_NOT_FOUND,
            "409": error_doc(
                "The comment was removed (`comment_removed`), or this reader reported it "
                "already (`already_reported`)."
            ),
            "429": error_doc(
                "Too many reports from this IP or this reader (`rate_limited`); see Retry-After."
            ),
        }
    )
    def post(self, data: dict[str, Any], comment_id: uuid.UUID) -> Any:
        """A reader reports a comment; enough reports send an approved comment back to review.

        One report per reader per comment: a second one gets 409. Reports are rate
        limited per IP and per reader (429 with Retry-After). Only readers with standing
        count toward the threshold (MODERATION_REPORTER_MIN_AGE_S); every report is kept
        for moderators.
        """
        _limit_reports(data)
        session = db_session()
        comment = services.get_comment(session, comment_id)
        if comment is None:
            raise NotFound(f"No comment {comment_id}.", code="comment_not_found")
        if comment.status == Status.REJECTED:
            raise Conflict("That comment was already removed.", code="comment_removed")
        report, created = moderation.report_comment(
            session,
            comment,
            reporter_id=data["reporter_id"],
            reason=data["reason"],
            note=data["note"],
            threshold=settings().report_threshold,
            reporter_min_age=timedelta(seconds=settings().reporter_min_age_s),
            listeners=status_listeners(),
        )
        if not created:
            raise Conflict(
                "This reader has already reported this comment.",
                code="already_reported",
                details={"report_id": report.id},
            )
        session.commit()
        return report


def _limit_reports(data: dict[str, Any]) -> None:
    """429 when the reader's IP or the reader is over REPORT_RATE_PER_IP / _PER_REPORTER.

    With a required site token the IP is the reader's as the site saw it (the body's
    ``client_ip``); a site that sends none gets no per-IP limit, since its own address
    would put every reader in one bucket. Without one it is the caller's own address:
    callers of an open endpoint could name any IP they liked.
    """
    config = settings()
    checks = []
    if g.get("principal") is None:
        checks.append(("ip", config.report_rate_per_ip, request.remote_addr or "", "this address"))
    elif data.get("client_ip"):
        checks.append(("ip", config.report_rate_per_ip, str(data["client_ip"]), "this address"))
    checks.append(("reporter", config.report_rate_per_reporter, data["reporter_id"], "this reader"))
    for name, limits, identity, who in checks:
        retry_after = rate_limiter().hit(rate_limits(limits), "report", name, identity)
        if retry_after is not None:
            raise RateLimited(
                f"Too many reports from {who}; retry in {retry_after} s.",
                retry_after_s=retry_after,
                details={"limit": name, "retry_after_s": retry_after},
            )
