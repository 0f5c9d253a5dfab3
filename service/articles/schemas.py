"""Article request and response bodies."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from service.articles.models import ModerationMode
from service.schemas import InputSchema, NormalizedText

LANGUAGE = validate.Regexp(
    r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", error="Use a language tag like vi or en-GB."
)


class ArticleFieldsMixin:
    title = NormalizedText(max_length=500, one_line=True)
    url = fields.Url(validate=validate.Length(max=2000), schemes={"http", "https"})
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
    title = fields.String(dump_only=True)
    url = fields.String(dump_only=True)
    section = fields.String(dump_only=True)
    language = fields.String(dump_only=True)
    moderation_mode = fields.String(dump_only=True)
    comments_open = fields.Boolean(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)
