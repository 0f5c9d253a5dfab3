"""HTTP API of comments for the site's frontend."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from service.app_context import db_session, dispatcher, settings, status_listeners
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

blp = Blueprint("comments", __name__, url_prefix="/v1", description="Reader comments")

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
IDEMPOTENCY_HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "pattern": _IDEMPOTENCY_KEY.pattern},
    "description": "A retried POST with the same key returns the original comment "
    "instead of storing a duplicate.",
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
            session, dispatcher(), article_id, data, _idempotency_key()
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
        }
    )
    def post(self, data: dict[str, Any], comment_id: uuid.UUID) -> Any:
        """A reader reports a comment; enough reports send an approved comment back to review.

        One report per reader per comment: a second one gets 409.
        """
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
