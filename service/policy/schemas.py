"""Request and response bodies of the word lists and author standings, split by direction."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from service.policy.models import Standing, WordKind
from service.schemas import InputSchema, NormalizedText


class StandingInSchema(InputSchema):
    standing = fields.String(
        required=True,
        validate=validate.OneOf([s.value for s in Standing]),
        metadata={"description": "banned rejects their waiting comments and every new one"},
    )
    reason = NormalizedText(max_length=500, load_default=None)


class StandingOutSchema(ma.Schema):
    author_id = fields.String()
    standing = fields.String()
    reason = fields.String(allow_none=True)
    updated_by = fields.String(allow_none=True)
    updated_at = fields.DateTime()
    rejected = fields.Integer(metadata={"description": "waiting comments rejected by a ban"})


class WordInSchema(InputSchema):
    phrase = NormalizedText(required=True, max_length=200, one_line=True)
    kind = fields.String(
        required=True,
        validate=validate.OneOf([k.value for k in WordKind]),
        metadata={
            "description": "banned rejects, suspect holds; for a phrase of the default "
            "lexicon (GET .../words/defaults) either replaces the entry's own kind, and "
            "allow switches the entry off (allow needs such a phrase: 422 otherwise)"
        },
    )
    note = NormalizedText(max_length=500, load_default=None)


class WordOutSchema(ma.Schema):
    id = fields.Integer()
    phrase = fields.String()
    kind = fields.String()
    note = fields.String(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime()


class DefaultWordOutSchema(ma.Schema):
    phrase = fields.String()
    severity = fields.String(
        metadata={"description": "certain (rejects), suspect (holds) or removed (never matches)"}
    )
    kind = fields.String(
        allow_none=True,
        metadata={"description": "what it does now: banned, suspect, or null when off"},
    )
    override = fields.String(
        allow_none=True,
        metadata={"description": "the kind of the site's rule for this phrase, if any"},
    )
    scope = fields.String(
        allow_none=True, metadata={"description": "vi: only in Vietnamese comments"}
    )
    unaccented = fields.Boolean(
        metadata={"description": "whether text written without diacritics matches it"}
    )
    note = fields.String(allow_none=True, metadata={"description": "why removed, or a note"})
    added = fields.Boolean(metadata={"description": "not in the source list"})
