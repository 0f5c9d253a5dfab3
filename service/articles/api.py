"""HTTP API of articles: register one with its policy, read it back."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from service.app_context import db_session
from service.articles import services
from service.articles.schemas import ArticleInSchema, ArticleOutSchema
from service.errors import NotFound
from service.moderation.auth import site_access

blp = Blueprint(
    "articles", __name__, url_prefix="/v1", description="Articles and their comment policy"
)


@blp.route("/articles/<article_id>")
class ArticleResource(MethodView):
    @blp.response(200, ArticleOutSchema)
    def get(self, article_id: str) -> Any:
        """Read an article and its policy."""
        article = services.get_article(db_session(), article_id)
        if article is None:
            raise NotFound(f"No article {article_id!r} is registered.", code="article_not_found")
        return article

    @site_access
    @blp.arguments(ArticleInSchema)
    @blp.response(200, ArticleOutSchema)
    @blp.doc(security=[{}, {"bearerAuth": []}])
    def put(self, changes: dict[str, Any], article_id: str) -> Any:
        """Register an article or update its policy (fields left out keep their value)."""
        session = db_session()
        article, _created = services.upsert_article(session, article_id, changes)
        session.commit()
        return article
