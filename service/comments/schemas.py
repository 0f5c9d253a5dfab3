"""Comment request and response bodies, split by direction."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from service.articles.schemas import ArticleOnFirstSightSchema
from service.schemas import SITE_ID, InputSchema, NormalizedText, PageArgs


class CommentInSchema(InputSchema):
    """A reader's comment, as the site's backend submits it."""

    author_id = fields.String(
        required=True, validate=SITE_ID, metadata={"description": "the author's id on the site"}
    )
    author_name = NormalizedText(
        required=True, max_length=100, one_line=True, metadata={"description": "display name"}
    )
    body = NormalizedText(
        required=True,
        min_length="comment_min_chars",
        max_length="comment_max_chars",
        metadata={
            "description": "the comment; stored NFC-normalised with control, zero-width and "
            "bidi-override characters removed. Length bounds are the settings "
            "COMMENT_MIN_CHARS and COMMENT_MAX_CHARS (1 and 5000 by default)."
        },
    )
    parent_id = fields.UUID(
        load_default=None, metadata={"description": "the comment this one replies to"}
    )
    client_ip = fields.IP(
        load_default=None,
        metadata={
            "description": "the reader's IP address",
            "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}],
        },
    )
    user_agent = fields.String(load_default=None, validate=validate.Length(max=512))
    article = fields.Nested(
        ArticleOnFirstSightSchema,
        load_default=None,
        metadata={"description": "article details, used only when the article is new"},
    )


class CommentOutSchema(ma.Schema):
    """A comment as its author and the site see it: no scores, signals or reader data."""

    id = fields.UUID(dump_only=True)
    article_id = fields.String(attribute="article.external_id", dump_only=True)
    parent_id = fields.UUID(
        dump_only=True, allow_none=True, metadata={"description": "null unless a reply"}
    )
    author_id = fields.String(dump_only=True)
    author_name = fields.String(dump_only=True)
    body = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "null on GET for a comment not approved, unless the caller sends "
            "a site or moderator token"
        },
    )
    status = fields.String(
        dump_only=True,
        metadata={"description": "pending, approved, held (waiting for a moderator) or rejected"},
    )
    created_at = fields.DateTime(dump_only=True)
    decided_at = fields.DateTime(
        dump_only=True, allow_none=True, metadata={"description": "null until decided"}
    )


class PublicReplySchema(ma.Schema):
    id = fields.UUID(dump_only=True)
    parent_id = fields.UUID(
        dump_only=True,
        allow_none=True,
        metadata={"description": "null on a thread's first comment"},
    )
    author_id = fields.String(dump_only=True)
    author_name = fields.String(dump_only=True)
    body = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class PublicThreadSchema(PublicReplySchema):
    replies = fields.List(
        fields.Nested(PublicReplySchema),
        dump_only=True,
        metadata={
            "description": "approved replies anywhere in this thread, oldest first; "
            "use parent_id to nest them deeper"
        },
    )
    reply_count = fields.Integer(
        dump_only=True, metadata={"description": "approved replies in all"}
    )


class ThreadPageSchema(ma.Schema):
    items = fields.List(fields.Nested(PublicThreadSchema), dump_only=True)
    next_cursor = fields.String(
        dump_only=True, allow_none=True, metadata={"description": "null on the last page"}
    )


class ListCommentsArgs(PageArgs):
    """Paging of an article's approved comments (top-level comments are paged)."""
