"""HTTP API for moderators: the queue, one comment in full, decisions.

Article policy is in ``service/articles/api.py``; word lists and author standings are in
``service/policy/api.py`` (same URL prefix).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from service.app_context import (
    db_session,
    queue_counts,
    status_listeners,
)
from service.comments.models import Comment
from service.errors import Conflict, NotFound
from service.moderation import queue, services
from service.moderation.auth import SECURED, current_principal, require
from service.moderation.schemas import (
    ApproveDecisionSchema,
    BulkApproveSchema,
    BulkDecisionSchema,
    BulkOutSchema,
    BulkRejectSchema,
    CommentDetailSchema,
    DecisionSchema,
    FullCommentSchema,
    QueueArgsSchema,
    QueuePageSchema,
    RejectDecisionSchema,
    decision_body_doc,
)
from service.openapi import error_doc

COMMENT_NOT_FOUND = error_doc("No such comment (`comment_not_found`).")

blp = Blueprint(
    "moderation",
    __name__,
    url_prefix="/v1/moderation",
    description="For moderators (bearer token, role moderator or admin)",
)


def _comment(comment_id: uuid.UUID) -> Comment:
    comment = db_session().get(Comment, comment_id)
    if comment is None:
        raise NotFound(f"No comment {comment_id}.", code="comment_not_found")
    return comment


@blp.route("/queue")
class Queue(MethodView):
    decorators = [require("moderator")]  # noqa: RUF012

    @blp.arguments(QueueArgsSchema(), location="query")
    @blp.response(200, QueuePageSchema)
    @blp.doc(**SECURED)
    def get(self, args: dict[str, Any]) -> Any:
        """The review queue: held comments oldest first unless filtered or sorted otherwise."""
        filters = queue.QueueFilters(
            statuses=tuple(args["status"]),
            article=args.get("article"),
            language=args.get("language"),
            author=args.get("author"),
            reported=args.get("reported"),
            score_ranges=dict(args["score"]),
        )
        return queue.review_queue(
            db_session(),
            filters,
            sort=args["sort"],
            limit=args["limit"],
            cursor=args["cursor"],
            counts=queue_counts(),
        )


@blp.route("/comments/<uuid:comment_id>")
class ModeratedComment(MethodView):
    decorators = [require("moderator")]  # noqa: RUF012

    @blp.response(200, CommentDetailSchema)
    @blp.doc(**SECURED)
    @blp.doc(responses={"404": COMMENT_NOT_FOUND})
    def get(self, comment_id: uuid.UUID) -> Any:
        """One comment in full: scores, signals, reasons, the author's record, reports, audit."""
        return queue.comment_in_full(db_session(), _comment(comment_id))


@blp.route("/comments/<uuid:comment_id>/decision")
class Decision(MethodView):
    decorators = [require("moderator")]  # noqa: RUF012

    @blp.arguments(DecisionSchema())
    @blp.response(200, FullCommentSchema)
    @blp.doc(**SECURED, **decision_body_doc(ApproveDecisionSchema, RejectDecisionSchema))
    @blp.doc(
        responses={
            "404": COMMENT_NOT_FOUND,
            "409": error_doc(
                "The comment changed since that version (`stale_version`); `details` is "
                "its current state."
            ),
        }
    )
    def post(self, data: dict[str, Any], comment_id: uuid.UUID) -> Any:
        """Approve or reject; a decision on a stale version gets 409 with the current state."""
        session = db_session()
        comment = _comment(comment_id)
        try:
            services.moderate(
                session,
                comment,
                action=data["action"],
                version=data["version"],
                actor=current_principal().actor,
                reason=data["reason"],
                note=data["note"],
                listeners=status_listeners(),
            )
        except services.StaleVersion as stale:
            raise Conflict(
                f"The comment changed since you loaded it (now {stale.comment.status}, "
                f"version {stale.comment.version}, by {stale.comment.decided_by}); "
                "reload and decide again.",
                code="stale_version",
                details=services.current_state(stale.comment),
            ) from None
        session.commit()
        session.refresh(comment)
        return comment


@blp.route("/decisions")
class BulkDecision(MethodView):
    decorators = [require("moderator")]  # noqa: RUF012

    @blp.arguments(BulkDecisionSchema())
    @blp.response(200, BulkOutSchema)
    @blp.doc(**SECURED, **decision_body_doc(BulkApproveSchema, BulkRejectSchema))
    def post(self, data: dict[str, Any]) -> Any:
        """Decide up to 500 comments at once, with a result per comment."""
        session = db_session()
        outcome = services.moderate_many(
            session,
            data["items"],
            action=data["action"],
            actor=current_principal().actor,
            reason=data["reason"],
            note=data["note"],
            listeners=status_listeners(),
        )
        session.commit()
        return outcome
