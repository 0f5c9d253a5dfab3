"""The ``moderation`` command: migrations and admin chores."""

from __future__ import annotations

import click

from config import Settings
from config.settings import DETOXIFY_MODELS


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


@main.command("download-model")
@click.argument("name", type=click.Choice(DETOXIFY_MODELS))
@click.option(
    "--dir", "models_dir", default=None, help="Models folder (default: MODERATION_MODELS_DIR)."
)
def download_model(name: str, models_dir: str | None) -> None:
    """Fetch a Detoxify model's weights, config and tokenizer for offline use (needs internet)."""
    from workers.toxicity.download import cache_env
    from workers.toxicity.download import download_model as fetch

    models_dir = models_dir or Settings.from_env().models_dir
    path = fetch(name, models_dir)
    click.echo(f"{name}: {path}")
    click.echo(f"workers find it with MODERATION_MODELS_DIR={models_dir} ({cache_env(models_dir)})")


@main.command("build-checkpoint")
@click.option(
    "--shape", type=click.Choice(["tiny", "small", "bert-base"]), default="tiny", show_default=True
)
@click.option("--out", default="models/random-tiny", show_default=True)
def build_checkpoint(shape: str, out: str) -> None:
    """Build a Detoxify-format checkpoint with RANDOM weights (for trying the stack offline).

    Its scores mean nothing: never point a production site at it.
    """
    from workers.toxicity.checkpoint import build_checkpoint as build

    files = build(out, shape)
    click.echo("# random weights: scores are meaningless. To use it:")
    for key, value in files.env().items():
        click.echo(f"export {key}={value}")


def _safe(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
