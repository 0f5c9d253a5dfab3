"""The baseline for ingest: a bare Flask JSON endpoint under the same gunicorn settings.

It parses the same body and answers 202 with it, with none of the service's work
(validation, normalisation, the database, the broker): the ceiling of Flask plus
gunicorn on this machine.
"""

from __future__ import annotations

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask("bare")

    @app.post("/v1/articles/<article_id>/comments")
    def accept(article_id: str):  # type: ignore[no-untyped-def]
        body = request.get_json()
        return jsonify({"article_id": article_id, **body}), 202

    return app
