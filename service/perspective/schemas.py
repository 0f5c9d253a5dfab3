"""Perspective's request bodies (``v1alpha1``), as its docs and Google's client send them.

Field names are Perspective's lowerCamelCase; like any Google JSON API the server also
takes the proto's snake_case names (``requested_attributes``), see :func:`camel_keys`.
Unknown fields are refused, as Google refuses them.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields, validate

_SNAKE = re.compile(r"_([a-z])")


def camel_keys(value: Any, *, free_keys: bool = False) -> Any:
    """``requested_attributes`` -> ``requestedAttributes``, recursively.

    The keys of ``requestedAttributes`` and ``attributeScores`` are attribute names
    (``SEVERE_TOXICITY``), not field names: they are left as they are.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = (
                key
                if free_keys or not isinstance(key, str)
                else _SNAKE.sub(lambda m: m.group(1).upper(), key)
            )
            out[name] = camel_keys(
                item, free_keys=name in {"requestedAttributes", "attributeScores"}
            )
        return out
    if isinstance(value, list):
        return [camel_keys(item) for item in value]
    return value


class TextEntrySchema(Schema):
    text = fields.String(required=True)
    type = fields.String()


class ContextSchema(Schema):
    entries = fields.List(fields.Nested(TextEntrySchema))
    articleAndParentComment = fields.Dict()


class AttributeRequestSchema(Schema):
    scoreType = fields.String()
    scoreThreshold = fields.Float(validate=validate.Range(0.0, 1.0))


_OPAQUE = {"validate": validate.Length(max=500)}


class AnalyzeCommentRequestSchema(Schema):
    comment = fields.Nested(TextEntrySchema, required=True)
    context = fields.Nested(ContextSchema)
    requestedAttributes = fields.Dict(
        keys=fields.String(), values=fields.Nested(AttributeRequestSchema)
    )
    languages = fields.List(fields.String(validate=validate.Length(max=35)))
    doNotStore = fields.Boolean()
    spanAnnotations = fields.Boolean()
    clientToken = fields.String(**_OPAQUE)
    sessionId = fields.String(**_OPAQUE)
    communityId = fields.String(**_OPAQUE)


class ScoreSchema(Schema):
    value = fields.Float(required=True, validate=validate.Range(0.0, 1.0))
    type = fields.String()


class SpanScoreSchema(Schema):
    begin = fields.Integer()
    end = fields.Integer()
    score = fields.Nested(ScoreSchema)


class AttributeScoresSchema(Schema):
    summaryScore = fields.Nested(ScoreSchema)
    spanScores = fields.List(fields.Nested(SpanScoreSchema))


class SuggestCommentScoreRequestSchema(Schema):
    comment = fields.Nested(TextEntrySchema, required=True)
    context = fields.Nested(ContextSchema)
    attributeScores = fields.Dict(keys=fields.String(), values=fields.Nested(AttributeScoresSchema))
    languages = fields.List(fields.String(validate=validate.Length(max=35)))
    communityId = fields.String(**_OPAQUE)
    clientToken = fields.String(**_OPAQUE)
