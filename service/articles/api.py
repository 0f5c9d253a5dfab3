"""HTTP API of articles: register one, set its policy, read it back.

Setting an article's policy has two routes, one per caller, and this module is the one
place that says who may call each: the site's backend on ``PUT /v1/articles/{id}`` (a
site or moderator token, always: unlike reading and submitting comments, it is never
open), moderators on ``PUT /v1/moderation/articles/{id}``. Both take the same body and
run the same service.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from service.app_context import db_session
from service.articles import services
from service.articles.models import Article
from service.articles.schemas import ArticleInSchema, ArticleOutSchema
from service.errors import NotFound
from service.moderation.auth import SECURED, require
from service.openapi import error_doc

blp = Blueprint(
    "articles", __name__, url_prefix="/v1", description="Articles and their comment policy"
)


def _set_policy(changes: dict[str, Any], article_id: str) -> Article:
    session = db_session()
    article = services.upsert_article(session, article_id, changes)
    session.commit()
    return article


@blp.route("/articles/<site_id:article_id>")
class ArticleResource(MethodView):
    @blp.response(200, ArticleOutSchema)
    @blp.doc(responses={"404": error_doc("No such article (`article_not_found`).")})
    def get(self, article_id: str) -> Any:
        """Read an article and its policy."""
        article = services.get_article(db_session(), article_id)
        if article is None:
            raise NotFound(f"No article {article_id!r} is registered.", code="article_not_found")
        return article

    # Always a token, even when REQUIRE_SITE_TOKEN is off: whoever can call this can
    # undo pre-moderation or close an article's comments.
    @require("site", "moderator")
    @blp.arguments(ArticleInSchema())
    @blp.response(200, ArticleOutSchema)
    @blp.doc(**SECURED)
    def put(self, changes: dict[str, Any], article_id: str) -> Any:
        """Register an article or update its policy (fields left out keep their value)."""
        return _set_policy(changes, article_id)


@blp.route("/moderation/articles/<site_id:article_id>")
class ModeratedArticle(MethodView):
    decorators = [require("moderator")]  # noqa: RUF012

    @blp.arguments(ArticleInSchema())
    @blp.response(200, ArticleOutSchema)
    @blp.doc(**SECURED)
    def put(self, changes: dict[str, Any], article_id: str) -> Any:
        """Set an article's policy as a moderator: pre-moderation, comments open or closed."""
        return _set_policy(changes, article_id)
