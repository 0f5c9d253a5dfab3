"""The discovery document Google's client libraries build a Perspective client from.

``googleapiclient.discovery.build("commentanalyzer", "v1alpha1", developerKey=...,
discoveryServiceUrl=".../$discovery/rest?version=v1alpha1")`` reads it and calls the
two methods at ``rootUrl``: ours. It describes ``comments.analyze`` and
``comments.suggestscore`` with the request and response schemas of Perspective's docs,
as far as this server answers them.
"""

from __future__ import annotations

from typing import Any

from service.perspective.services import ATTRIBUTE_LABELS

NAME = "commentanalyzer"
VERSION = "v1alpha1"


def _object(description: str, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "description": description, "properties": properties}


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _ref(schema: str) -> dict[str, Any]:
    return {"$ref": schema}


def _map_of(schema: str, description: str) -> dict[str, Any]:
    return {"type": "object", "description": description, "additionalProperties": _ref(schema)}


SCHEMAS: dict[str, Any] = {
    "TextEntry": _object(
        "A text and its type (only PLAIN_TEXT).",
        text=_string("The text."),
        type={"type": "string", "enum": ["TEXT_TYPE_UNSPECIFIED", "PLAIN_TEXT", "HTML"]},
    ),
    "Context": _object(
        "Accepted and ignored, as Perspective ignores it.",
        entries={"type": "array", "items": _ref("TextEntry")},
    ),
    "AttributeParameters": _object(
        "Options of one requested attribute.",
        scoreType={"type": "string", "enum": ["PROBABILITY"]},
        scoreThreshold={"type": "number", "format": "float"},
    ),
    "Score": _object(
        "A score in [0, 1].",
        value={"type": "number", "format": "float"},
        type={"type": "string", "enum": ["PROBABILITY"]},
    ),
    "SpanScore": _object(
        "The score of text[begin:end].",
        begin={"type": "integer", "format": "int32"},
        end={"type": "integer", "format": "int32"},
        score=_ref("Score"),
    ),
    "AttributeScores": _object(
        "One attribute's scores.",
        summaryScore=_ref("Score"),
        spanScores={"type": "array", "items": _ref("SpanScore")},
    ),
    "AnalyzeCommentRequest": _object(
        "The text to score and the attributes wanted.",
        comment=_ref("TextEntry"),
        context=_ref("Context"),
        requestedAttributes=_map_of(
            "AttributeParameters", f"Attributes answered: {', '.join(ATTRIBUTE_LABELS)}."
        ),
        languages={"type": "array", "items": {"type": "string"}},
        doNotStore={"type": "boolean"},
        spanAnnotations={"type": "boolean"},
        clientToken=_string("Echoed back."),
        sessionId=_string("Kept with the text unless doNotStore."),
        communityId=_string("Kept with the text unless doNotStore."),
    ),
    "AnalyzeCommentResponse": _object(
        "Scores per requested attribute.",
        attributeScores=_map_of("AttributeScores", "Per requested attribute."),
        languages={"type": "array", "items": {"type": "string"}},
        detectedLanguages={"type": "array", "items": {"type": "string"}},
        clientToken=_string("The request's clientToken."),
    ),
    "SuggestCommentScoreRequest": _object(
        "The scores a client says a text should have had.",
        comment=_ref("TextEntry"),
        context=_ref("Context"),
        attributeScores=_map_of("AttributeScores", "Suggested scores per attribute."),
        languages={"type": "array", "items": {"type": "string"}},
        communityId=_string("Kept with the correction."),
        clientToken=_string("Echoed back."),
    ),
    "SuggestCommentScoreResponse": _object(
        "The request's clientToken.", clientToken=_string("The request's clientToken.")
    ),
}


def _method(name: str, request: str, response: str, description: str) -> dict[str, Any]:
    path = f"{VERSION}/comments:{name}"
    return {
        "id": f"{NAME}.comments.{name}",
        "path": path,
        "flatPath": path,
        "httpMethod": "POST",
        "description": description,
        "parameters": {},
        "parameterOrder": [],
        "request": _ref(request),
        "response": _ref(response),
    }


def document(root_url: str) -> dict[str, Any]:
    """The discovery document, with ``root_url`` (ours, ending in ``/``) as its rootUrl."""
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": f"{NAME}:{VERSION}",
        "name": NAME,
        "version": VERSION,
        "title": "Perspective Comment Analyzer API (compatible)",
        "description": "Perspective's comments:analyze and comments:suggestscore, answered by "
        "this comment moderation service's own models.",
        "protocol": "rest",
        "rootUrl": root_url,
        "servicePath": "",
        "baseUrl": root_url,
        "batchPath": "batch",
        "parameters": {
            "key": {
                "type": "string",
                "location": "query",
                "description": "An API key: a token with the analyze role.",
            },
            "alt": {
                "type": "string",
                "location": "query",
                "default": "json",
                "enum": ["json"],
                "description": "Data format for the response (JSON only).",
            },
            "prettyPrint": {"type": "boolean", "location": "query", "default": "true"},
        },
        "schemas": {name: {"id": name, **schema} for name, schema in SCHEMAS.items()},
        "resources": {
            "comments": {
                "methods": {
                    "analyze": _method(
                        "analyze",
                        "AnalyzeCommentRequest",
                        "AnalyzeCommentResponse",
                        "Analyzes the provided text and returns scores for requested attributes.",
                    ),
                    "suggestscore": _method(
                        "suggestscore",
                        "SuggestCommentScoreRequest",
                        "SuggestCommentScoreResponse",
                        "Records the scores a client suggests for a text.",
                    ),
                }
            }
        },
    }
