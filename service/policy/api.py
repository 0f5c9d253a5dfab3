"""HTTP API of site policy: author standings (moderators) and word lists (admins)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.views import MethodView
from flask_smorest import Blueprint

from service.app_context import db_session, settings, status_listeners
from service.errors import NotFound
from service.moderation.auth import SECURED, current_principal, require
from service.openapi import error_doc
from service.policy import lexicon, services
from service.policy.models import AuthorStanding, WordRule
from service.policy.schemas import (
    DefaultWordOutSchema,
    StandingInSchema,
    StandingOutSchema,
    WordInSchema,
    WordOutSchema,
)

blp = Blueprint(
    "policy",
    __name__,
    url_prefix="/v1/moderation",
    description="Site policy: author standings (moderator role) and word lists (admin role)",
)


@blp.route("/authors/<site_id:author_id>")
class Author(MethodView):
    decorators = [require("moderator")]  # noqa: RUF012

    @blp.arguments(StandingInSchema())
    @blp.response(200, StandingOutSchema)
    @blp.doc(**SECURED)
    def put(self, data: dict[str, Any], author_id: str) -> Any:
        """Ban an author (their waiting comments and every new one are rejected), put them
        on always-review, or restore them to normal."""
        session = db_session()
        rejected = services.set_author_standing(
            session,
            author_id,
            standing=data["standing"],
            reason=data["reason"],
            actor=current_principal().actor,
            listeners=status_listeners(),
        )
        session.commit()
        row = session.get(AuthorStanding, author_id)
        return {
            **{c: getattr(row, c) for c in StandingOutSchema().fields if c != "rejected"},
            "rejected": rejected,
        }


@blp.route("/words")
class Words(MethodView):
    decorators = [require("admin")]  # noqa: RUF012

    @blp.response(200, WordOutSchema(many=True))
    @blp.doc(**SECURED)
    def get(self) -> Any:
        """The site-wide word lists: banned (reject), suspect (hold), and allow (switches
        off an entry of the default lexicon)."""
        return db_session().scalars(sa.select(WordRule).order_by(WordRule.phrase)).all()

    @blp.arguments(WordInSchema())
    @blp.response(201, WordOutSchema)
    @blp.doc(**SECURED)
    @blp.doc(
        responses={
            "409": error_doc("The phrase is on a list already (`word_exists`)."),
            "422": error_doc(
                "Invalid body, or `allow` for a phrase the default lexicon does not have "
                "(`not_a_default_word`)."
            ),
        }
    )
    def post(self, data: dict[str, Any]) -> Any:
        """Add a word or phrase; it matches with and without Vietnamese diacritics. For a
        phrase of the default lexicon the rule overrides the entry (allow: off)."""
        session = db_session()
        rule = services.add_word_rule(
            session, data["phrase"], data["kind"], data["note"], current_principal().actor
        )
        session.commit()
        return rule


@blp.route("/words/defaults")
class DefaultWords(MethodView):
    decorators = [require("admin")]  # noqa: RUF012

    @blp.response(200, DefaultWordOutSchema(many=True))
    @blp.doc(**SECURED)
    def get(self) -> Any:
        """The default Vietnamese lexicon, every entry (removed ones with the reason), and
        what each does now with the site's rules applied (kind null: off)."""
        site = {
            lexicon.normalize(r.phrase): r.kind for r in db_session().scalars(sa.select(WordRule))
        }
        enabled = settings().vi_lexicon
        rows = []
        for entry in lexicon.vietnamese().entries:
            override = site.get(lexicon.normalize(entry.phrase)) if entry.kind else None
            kind = override or entry.kind
            rows.append(
                {
                    "phrase": entry.phrase,
                    "severity": entry.severity,
                    "kind": kind if enabled and kind != "allow" else None,
                    "override": override,
                    "scope": entry.scope,
                    "unaccented": entry.unaccented,
                    "note": entry.note,
                    "added": entry.added,
                }
            )
        return rows


@blp.route("/words/<int:rule_id>")
class Word(MethodView):
    decorators = [require("admin")]  # noqa: RUF012

    @blp.response(204)
    @blp.doc(**SECURED)
    @blp.doc(responses={"404": error_doc("No such word rule (`word_not_found`).")})
    def delete(self, rule_id: int) -> None:
        """Remove a word or phrase from the lists."""
        session = db_session()
        if not services.delete_word_rule(session, rule_id):
            raise NotFound(f"No word rule {rule_id}.", code="word_not_found")
        session.commit()
