"""The `moderation` command: tokens are shown once, stored hashed, revocable."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from service.cli import main
from service.moderation.auth import hash_token
from service.moderation.models import ApiToken


@pytest.fixture
def run(db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MODERATION_DATABASE_URL", db_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def test_token_lifecycle(run, db_url: str) -> None:  # type: ignore[no-untyped-def]
    name = f"cli-{uuid.uuid4().hex[:6]}"
    created = run("create-token", "--name", name, "--role", "moderator")
    assert created.exit_code == 0
    token = created.stdout.strip().splitlines()[0]
    assert token.startswith("cmt_") and len(token) > 40

    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(ApiToken).where(ApiToken.name == name)).one()
        assert row.token_hash == hash_token(token)
        # only the hash is stored, nowhere the token itself
        assert token not in str(tuple(row))
    engine.dispose()

    listed = run("list-tokens").stdout
    assert name in listed and "moderator" in listed and token not in listed
    duplicate = CliRunner().invoke(main, ["create-token", "--name", name, "--role", "admin"])
    assert duplicate.exit_code != 0 and "exists" in duplicate.output
    assert run("revoke-token", "--name", name).exit_code == 0
    again = CliRunner().invoke(main, ["revoke-token", "--name", name])
    assert again.exit_code != 0


def test_prepare_model_assembles_the_shipped_models(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    for name in ("TOXICITY_MODEL", "TOXICITY_CHECKPOINT", "TOXICITY_MODEL_VI"):
        monkeypatch.delenv(f"MODERATION_{name}", raising=False)
    result = CliRunner().invoke(main, ["prepare-model", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "minilm-toxic-en" in result.output and "e5-toxic-multi" in result.output
    assembled = sorted((tmp_path / "shipped").glob("*/model.ckpt"))
    assert len(assembled) == 2 and all(str(path) in result.output for path in assembled)

    # another English model, no Vietnamese one: nothing of ours to assemble
    monkeypatch.setenv("MODERATION_TOXICITY_MODEL", "original")
    monkeypatch.setenv("MODERATION_TOXICITY_MODEL_VI", "")
    other = CliRunner().invoke(main, ["prepare-model", "--dir", str(tmp_path / "other")])
    assert other.exit_code == 0 and "nothing to assemble" in other.output
    assert not (tmp_path / "other").exists()


def test_analyze_keys_are_created_like_any_token(run, db_url: str) -> None:  # type: ignore[no-untyped-def]
    name = f"coral-{uuid.uuid4().hex[:6]}"
    created = run("create-token", "--name", name, "--role", "analyze")
    assert created.exit_code == 0, created.output
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        role = conn.execute(sa.select(ApiToken.role).where(ApiToken.name == name)).scalar_one()
    engine.dispose()
    assert role == "analyze"
    assert run("revoke-token", "--name", name).exit_code == 0
