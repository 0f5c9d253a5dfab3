"""Import every model module, so the metadata (and Alembic) sees all tables."""


def load_all() -> None:
    import service.articles.models
    import service.comments.models
    import service.moderation.models
    import service.ops.models
    import service.perspective.models
    import service.policy.models
    import service.webhooks.models  # noqa: F401
