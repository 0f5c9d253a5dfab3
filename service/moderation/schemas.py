"""Moderator request and response bodies, split by direction."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from service.comments.models import LABELS, Status
from service.moderation.queue import SORTS
from service.moderation.services import ACTIONS, REASON_CODES
from service.schemas import SITE_ID, InputSchema, NormalizedText, PageArgs

SCORE_LABELS = (*LABELS, "spam")


_BOUND = r"(0(\.[0-9]+)?|1(\.0+)?)"


class ScoreRange(fields.String):
    """``label:min:max``, e.g. ``toxicity:0.5:1``."""

    def __init__(self, **kwargs: Any) -> None:
        # the document's pattern: what it calls valid is accepted, but for min <= max,
        # which no pattern can say (the server reads more spellings of a number, too)
        pattern = f"^({'|'.join(SCORE_LABELS)}):{_BOUND}:{_BOUND}$"
        kwargs.setdefault("metadata", {})["pattern"] = pattern
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            label, low, high = text.split(":")
            bounds = (float(low), float(high))
        except ValueError as exc:
            raise ma.ValidationError("Use label:min:max, e.g. toxicity:0.5:1.") from exc
        if label not in SCORE_LABELS:
            raise ma.ValidationError(f"Unknown label {label!r}; one of {', '.join(SCORE_LABELS)}.")
        if not 0 <= bounds[0] <= bounds[1] <= 1:
            raise ma.ValidationError("Need 0 <= min <= max <= 1.")
        return label, bounds


class QueueArgsSchema(PageArgs):
    status = fields.List(
        fields.String(validate=validate.OneOf([s.value for s in Status])),
        load_default=lambda: [Status.HELD.value],
        metadata={"description": "one or more statuses (repeat the parameter); default held"},
    )
    article = fields.String(validate=SITE_ID, metadata={"description": "the site's article id"})
    language = fields.String(validate=validate.Length(max=16))
    author = fields.String(validate=SITE_ID, metadata={"description": "the site's author id"})
    reported = fields.Boolean(metadata={"description": "only comments with open reader reports"})
    score = fields.List(
        ScoreRange(),
        load_default=list,
        metadata={
            "description": "label:min:max, inclusive; repeat for several labels. Labels: "
            + ", ".join(SCORE_LABELS)
        },
    )
    sort = fields.String(
        load_default="oldest",
        validate=validate.OneOf(SORTS),
        metadata={"description": "oldest (default), newest, or score:<label> (highest first)"},
    )


class ModCommentSchema(ma.Schema):
    """A comment as a moderator sees it in the queue: scores and reasons at a glance."""

    id = fields.UUID()
    article_id = fields.String(attribute="article.external_id")
    parent_id = fields.UUID(allow_none=True, metadata={"description": "null unless a reply"})
    author_id = fields.String()
    author_name = fields.String()
    body = fields.String()
    status = fields.String()
    # null until the pipeline has run (or when no model covers the language)
    language = fields.String(allow_none=True)
    scores = fields.Dict(keys=fields.String(), values=fields.Float(), allow_none=True)
    spam_score = fields.Float(allow_none=True)
    reasons = fields.List(fields.Dict(), allow_none=True)
    report_count = fields.Integer(metadata={"description": "reports since the last decision"})
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True, metadata={"description": "null until decided"})
    decided_by = fields.String(allow_none=True)
    version = fields.Integer(metadata={"description": "send it back with a decision"})


class QueuePageSchema(ma.Schema):
    items = fields.List(fields.Nested(ModCommentSchema))
    next_cursor = fields.String(allow_none=True)
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "comments per status matching the other filters"},
    )


class FullCommentSchema(ModCommentSchema):
    signals = fields.Dict(allow_none=True)
    scored_by = fields.Dict(allow_none=True)
    client_ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    updated_at = fields.DateTime()


class ReportSchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    comment_id = fields.UUID(dump_only=True)
    reporter_id = fields.String(dump_only=True)
    reason = fields.String(dump_only=True)
    note = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class ModReportSchema(ReportSchema):
    """A report as moderators see it (the reader who sent it is not told whether it counted)."""

    counted = fields.Boolean(
        dump_only=True,
        metadata={"description": "the reporter had standing: it counts toward the threshold"},
    )


class AuditSchema(ma.Schema):
    actor = fields.String()
    from_status = fields.String(allow_none=True, metadata={"description": "null when stored"})
    to_status = fields.String()
    reason_code = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)
    created_at = fields.DateTime()


class AuthorRecordSchema(ma.Schema):
    author_id = fields.String()
    standing = fields.String()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    recent = fields.List(fields.Nested(ModCommentSchema))


class CommentDetailSchema(ma.Schema):
    comment = fields.Nested(FullCommentSchema)
    author = fields.Nested(AuthorRecordSchema)
    reports = fields.List(fields.Nested(ModReportSchema))
    audit = fields.List(fields.Nested(AuditSchema))


class _DecisionFields(InputSchema):
    """What a decision loads with. The document shows it as one of two shapes (approve,
    reject: see :func:`decision_body_doc`), because a rejection needs a reason."""

    action = fields.String(required=True, validate=validate.OneOf(list(ACTIONS)))
    reason = fields.String(
        validate=validate.OneOf(REASON_CODES),
        load_default=None,
        metadata={"description": "required to reject: " + ", ".join(REASON_CODES)},
    )
    note = NormalizedText(max_length=2000, load_default=None)

    @ma.validates_schema
    def _reason_to_reject(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("action") == "reject" and not data.get("reason"):
            raise ma.ValidationError("A rejection needs a reason code.", "reason")


class _Approve:
    action = fields.String(required=True, validate=validate.OneOf(["approve"]))
    reason = fields.String(
        validate=validate.OneOf(REASON_CODES),
        allow_none=True,
        metadata={"description": "optional when approving"},
    )


class _Reject:
    action = fields.String(required=True, validate=validate.OneOf(["reject"]))
    reason = fields.String(
        required=True,
        validate=validate.OneOf(REASON_CODES),
        metadata={"description": "why the comment is removed"},
    )


class DecisionSchema(_DecisionFields):
    # strict: a JSON 1.5 is refused, not read as version 1
    version = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "the version you saw; a stale one gets 409"},
    )


class ApproveDecisionSchema(_Approve, DecisionSchema):
    """Approve one comment."""


class RejectDecisionSchema(_Reject, DecisionSchema):
    """Reject one comment, with a reason."""


class BulkItemSchema(InputSchema):
    comment_id = fields.UUID(required=True)
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class BulkDecisionSchema(_DecisionFields):
    items = fields.List(
        fields.Nested(BulkItemSchema), required=True, validate=validate.Length(min=1, max=500)
    )


class BulkApproveSchema(_Approve, BulkDecisionSchema):
    """Approve up to 500 comments."""


class BulkRejectSchema(_Reject, BulkDecisionSchema):
    """Reject up to 500 comments, with one reason."""


def decision_body_doc(approve: type[ma.Schema], reject: type[ma.Schema]) -> dict[str, Any]:
    """``@blp.doc(**...)``: the request body is an approval or a rejection with a reason.

    OpenAPI 3.0 cannot say "reason is required when action is reject" of one schema; two
    schemas, one per action, can. The view still loads with the one schema that has
    both (and its rule), so a mistake gets one 422 naming ``reason``.
    """
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": [approve, reject]}}},
        }
    }


class BulkResultSchema(ma.Schema):
    comment_id = fields.UUID()
    result = fields.String(
        metadata={"description": "applied, unchanged (already so), conflict or not_found"}
    )
    status = fields.String(allow_none=True)
    version = fields.Integer(allow_none=True)


class BulkOutSchema(ma.Schema):
    results = fields.List(fields.Nested(BulkResultSchema))
    summary = fields.Dict(keys=fields.String(), values=fields.Integer())


class ReportInSchema(InputSchema):
    reporter_id = fields.String(
        required=True, validate=SITE_ID, metadata={"description": "the reader's id on the site"}
    )
    reason = fields.String(required=True, validate=validate.OneOf(REASON_CODES))
    note = NormalizedText(max_length=1000, load_default=None)
    client_ip = fields.IP(
        load_default=None,
        metadata={
            "description": "the reader's IP address, for the per-IP rate limit (used when a "
            "site token is required; otherwise the caller's own address is)",
            "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}],
        },
    )
