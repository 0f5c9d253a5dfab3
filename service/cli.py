"""The ``moderation`` command: migrations and admin chores."""

from __future__ import annotations

import click

from config import Settings


@click.group()
def main() -> None:
    """Comment moderation service administration."""


@main.command()
@click.option("--revision", default="head", show_default=True)
def migrate(revision: str) -> None:
    """Create or upgrade the database schema (MODERATION_DATABASE_URL, else SQLite)."""
    from service.migrate import upgrade

    url = Settings.from_env().sqlalchemy_url
    upgrade(url, revision)
    click.echo(f"database at {_safe(url)} is at {revision}")


def _safe(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
