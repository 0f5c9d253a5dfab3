"""Settings come from MODERATION_* variables over defaults; the README documents every one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from config import PREFIX, Settings, SettingsError, settings_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults_run_locally() -> None:
    settings = Settings.from_env(environ={})
    assert settings.sqlalchemy_url.startswith("sqlite:///")
    assert settings.celery_broker_url == settings.redis_url
    assert settings.toxicity_model == "minilm-toxic-en"


def test_environment_overrides_with_types() -> None:
    settings = Settings.from_env(
        environ={
            "MODERATION_DATABASE_URL": "postgresql+psycopg://x@h/db",
            "MODERATION_COMMENT_MAX_CHARS": "800",
            "MODERATION_ENQUEUE_TIMEOUT_S": "0.25",
            "MODERATION_TOXICITY_BANDS": "toxicity=0.3:0.8,insult=0.5:0.95",
            "MODERATION_SPAM_BAND": "0.6:0.95",
            "MODERATION_TOXICITY_LANGUAGES": "en, fr",
            "UNRELATED": "ignored",
        }
    )
    assert settings.sqlalchemy_url == "postgresql+psycopg://x@h/db"
    assert settings.comment_max_chars == 800
    assert settings.enqueue_timeout_s == 0.25
    assert settings.toxicity_bands == {"toxicity": (0.3, 0.8), "insult": (0.5, 0.95)}
    assert settings.spam_band == (0.6, 0.95)
    assert settings.toxicity_languages == ("en", "fr")


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("COMMENT_MAX_CHARS", "lots", "COMMENT_MAX_CHARS"),
        ("TOXICITY_BANDS", "toxicity=0.9:0.1", "low <= high"),
        ("TOXICITY_BANDS", "toxicity", "label=low:high"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
        ("TOXICITY_MODEL", "gpt", "TOXICITY_MODEL"),
        ("REPORT_RATE_PER_IP", "lots", "REPORT_RATE_PER_IP"),
        ("REPORT_RATE_PER_REPORTER", "20/fortnight", "REPORT_RATE_PER_REPORTER"),
        ("REPORTER_MIN_AGE_S", "-1", "REPORTER_MIN_AGE_S"),
        ("HOLD_MARK_TTL_S", "2", "HOLD_MARK_TTL_S"),
        ("TOXICITY_LEASE_S", "0", "TOXICITY_LEASE_S"),
    ],
)
def test_bad_values_are_named(name: str, value: str, fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        Settings.from_env(environ={PREFIX + name: value})


def test_readme_table_lists_every_setting_as_generated() -> None:
    text = README.read_text(encoding="utf-8")
    assert settings_table() in text, "README settings table is stale: run `python -m config`"
    for f in dataclasses.fields(Settings):
        assert f"`{PREFIX}{f.name.upper()}`" in text
