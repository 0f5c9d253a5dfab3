"""Article request and response bodies."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from service.articles.models import ModerationMode
from service.schemas import InputSchema, NormalizedText

LANGUAGE = validate.Regexp(
    r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", error="Use a language tag like vi or en-GB."
)
#: an article's address: http(s), a host name with a top-level domain, an optional port
#: and path. Narrower than marshmallow's URL check, which still applies; the document
#: states this pattern, so what it calls valid is accepted.
ARTICLE_URL = validate.Regexp(
    r"^https?://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
    r"(:[0-9]{1,5})?(/[^\s\x00-\x1f\x7f]*|\?[^\s\x00-\x1f\x7f]+)?$",
    error="Use an http or https address with a domain name, like https://example.com/a.",
)


class ArticleFieldsMixin:
    title = NormalizedText(max_length=500, one_line=True)
    url = fields.Url(validate=[validate.Length(max=2000), ARTICLE_URL], schemes={"http", "https"})
    section = NormalizedText(max_length=200, one_line=True)
    language = fields.String(validate=LANGUAGE)


class ArticleInSchema(ArticleFieldsMixin, InputSchema):
    """Register or update an article. Fields left out keep their current value."""

    moderation_mode = fields.String(
        validate=validate.OneOf([m.value for m in ModerationMode]),
        metadata={
            "description": "`post`: the machine decides; `pre`: every comment waits for a human"
        },
    )
    comments_open = fields.Boolean(metadata={"description": "false: new comments are refused"})


class ArticleOnFirstSightSchema(ArticleFieldsMixin, InputSchema):
    """Article details a comment may carry; used only when the article is new."""


class ArticleOutSchema(ma.Schema):
    article_id = fields.String(attribute="external_id", dump_only=True)
    # null until the site says
    title = fields.String(dump_only=True, allow_none=True)
    url = fields.String(dump_only=True, allow_none=True)
    section = fields.String(dump_only=True, allow_none=True)
    language = fields.String(dump_only=True, allow_none=True)
    moderation_mode = fields.String(dump_only=True)
    comments_open = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
