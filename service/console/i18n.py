"""Languages and time zones: Vietnamese by default, English on request, both remembered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import dates
from babel.support import NullTranslations
from flask import Flask, Response, g, has_request_context, request
from flask_babel import Babel, get_locale, get_timezone, get_translations

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
LANGUAGE_COOKIE = "console_lang"
#: set by console.js from the browser's own zone (Intl); read only if it names a real zone
TIMEZONE_COOKIE = "console_tz"
ONE_YEAR_S = 365 * 24 * 3600


def select_language() -> str:
    if not has_request_context():
        return DEFAULT_LANGUAGE
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def select_timezone() -> str:
    if not has_request_context():
        return DEFAULT_TIMEZONE
    zone = request.cookies.get(TIMEZONE_COOKIE, "")
    if zone and len(zone) < 64:
        try:
            ZoneInfo(zone)
            return zone
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return DEFAULT_TIMEZONE


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", DEFAULT_TIMEZONE)
    # relative to the app's root (the ``service`` package)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "console/translations")
    Babel(app, locale_selector=select_language, timezone_selector=select_timezone)
    # Flask-Babel looks the catalogue up again for every string; a queue page has hundreds
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda s: translations().ugettext(s),
        lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
    )


def translations() -> NullTranslations:
    """The request's catalogue, looked up once per request."""
    found = g.get("console_translations")
    if found is None:
        found = g.console_translations = get_translations()
    return found


def remember_language(response: Response, language: str) -> None:
    """Keep the choice a year, for the console's paths only."""
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=ONE_YEAR_S,
        path="/console",
        secure=True,
        httponly=True,
        samesite="Strict",
    )


def current_language() -> str:
    return str(get_locale() or DEFAULT_LANGUAGE)


def t(message: str, **values: Any) -> str:
    """``gettext`` with named values."""
    text = translations().ugettext(message)
    return text % values if values else text


def when(moment: datetime | None) -> str:
    """A date and time in the moderator's zone and language."""
    if moment is None:
        return ""
    where = g.get("console_when")
    if where is None:  # Flask-Babel finds both again for every date; a page has fifty
        where = g.console_when = (get_timezone(), get_locale())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return dates.format_datetime(moment, "short", tzinfo=where[0], locale=where[1])
