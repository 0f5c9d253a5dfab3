"""The ``moderation`` command: migrations and admin chores."""

from __future__ import annotations

import click
from sqlalchemy.engine import make_url

from config import Settings
from config.settings import DETOXIFY_MODELS
from service.db import Database
from service.errors import Conflict
from service.migrate import upgrade
from service.moderation import auth
from workers.spam.learning import retrain
from workers.toxicity import checkpoint, download, e5base, shipped


@click.group()
def main() -> None:
    """Comment moderation service administration."""


@main.command()
@click.option("--revision", default="head", show_default=True)
def migrate(revision: str) -> None:
    """Create or upgrade the database schema (MODERATION_DATABASE_URL, else SQLite)."""
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
    models_dir = models_dir or Settings.from_env().models_dir
    path = download.download_model(name, models_dir)
    click.echo(f"{name}: {path}")
    env = download.cache_env(models_dir)
    click.echo(f"workers find it with MODERATION_MODELS_DIR={models_dir} ({env})")


@main.command("prepare-model")
@click.option(
    "--dir", "models_dir", default=None, help="Models folder (default: MODERATION_MODELS_DIR)."
)
def prepare_model(models_dir: str | None) -> None:
    """Assemble the shipped toxicity models (English, and Vietnamese) into the models folder.

    Workers do this on first use; doing it before they start (`make run`, the Docker
    image) takes it off the first comment's path. Offline.
    """
    settings = Settings.from_env()
    names = []
    if settings.toxicity_checkpoint or settings.toxicity_model != shipped.SHIPPED_MODEL:
        click.echo(f"TOXICITY_MODEL is {settings.toxicity_model}: nothing to assemble for it")
    else:
        names.append(shipped.SHIPPED_MODEL)
    if settings.toxicity_model_vi:
        names.append(settings.toxicity_model_vi)
    for name in names:
        man = shipped.manifest(name)
        try:
            files = shipped.assemble(shipped.cache_dir(models_dir or settings.models_dir), name)
        except (shipped.ShippedModelError, e5base.ImageError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{man.name} {man.version}: {files.checkpoint}")


@main.command("build-checkpoint")
@click.option(
    "--shape", type=click.Choice(["tiny", "small", "bert-base"]), default="tiny", show_default=True
)
@click.option("--out", default="models/random-tiny", show_default=True)
def build_checkpoint(shape: str, out: str) -> None:
    """Build a Detoxify-format checkpoint with RANDOM weights, for tests and benchmarks.

    Its scores mean nothing: never point a production site at it (the default model,
    minilm-toxic-en, is a real one and needs no download).
    """
    files = checkpoint.build_checkpoint(out, shape)
    click.echo("# random weights: scores are meaningless. To use it:")
    for key, value in files.env().items():
        click.echo(f"export {key}={value}")


def _database() -> Database:
    return Database(Settings.from_env().sqlalchemy_url)


@main.command("create-token")
@click.option("--name", required=True, help="Who or what holds it: a moderator, the site.")
@click.option("--role", type=click.Choice(auth.ROLES), required=True)
def create_token(name: str, role: str) -> None:
    """Create an API token; it is printed once and only its hash is stored."""
    db = _database()
    try:
        with db.session() as session:
            token = auth.create_token(session, name, role)
    except Conflict as exc:
        raise click.ClickException(exc.message) from None
    click.echo(token)
    click.echo(f"# {role} token for {name}; store it now, it cannot be shown again", err=True)


@main.command("revoke-token")
@click.option("--name", required=True)
def revoke_token(name: str) -> None:
    """Revoke a token by its holder's name; requests with it get 401 from now on."""
    with _database().session() as session:
        if not auth.revoke_token(session, name):
            raise click.ClickException(f"no active token named {name!r}")
    click.echo(f"revoked {name}")


@main.command("list-tokens")
def list_tokens() -> None:
    """Token holders, roles and state (never the tokens)."""
    with _database().session() as session:
        for token in auth.list_tokens(session):
            state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
            click.echo(f"{token.name}\t{token.role}\t{state}\tcreated {token.created_at:%Y-%m-%d}")


@main.command("retrain-spam")
@click.option("--out", default=None, help="Output folder (default: MODELS_DIR/spam).")
def retrain_spam(out: str | None) -> None:
    """Fold every moderator spam/ham label into the spam model and save it.

    Point MODERATION_SPAM_MODEL_DIR at the output; workers then apply only labels newer
    than the ones folded in.
    """
    settings = Settings.from_env()
    out = out or f"{settings.models_dir}/spam"
    with _database().session() as session:
        path, applied = retrain(session, settings.spam_model_dir or None, out)
    click.echo(f"{applied} label(s) folded into {path}")
    click.echo(f"export MODERATION_SPAM_MODEL_DIR={out}")


def _safe(url: str) -> str:
    """The URL without its password, for printing."""
    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
