"""The console's forms. CSRF is checked once for every POST (views.check_csrf), so the
forms themselves only validate fields."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from service.console.reasons import REASON_NAMES, STANDING_NAMES
from service.guards import _BAD_CHARACTERS
from service.moderation.services import REASON_CODES
from service.policy.models import Standing, WordKind


def _printable(_form: Any, field: Any) -> None:
    # what PostgreSQL cannot store (NUL) or nothing can encode: a message, never a 500
    if isinstance(field.data, str) and _BAD_CHARACTERS.search(field.data):
        raise ValidationError(_l("Must not contain NUL or unpaired surrogate characters."))


class Form(FlaskForm):
    class Meta:
        csrf = False  # checked for every POST before any view runs


def choices(*pairs: tuple[str, Any]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def reason_choices(blank: bool) -> list[SelectChoice]:
    first = [("", _l("— reason —"))] if blank else []
    return choices(*first, *((code, _l(REASON_NAMES[code])) for code in REASON_CODES))


class LoginForm(Form):
    token = PasswordField(_l("API token"), validators=[DataRequired(), Length(max=200), _printable])


class DecisionForm(Form):
    action = SelectField(
        _l("Decision"),
        choices=choices(("approve", _l("Approve")), ("reject", _l("Reject"))),
        validators=[DataRequired()],
    )
    version = IntegerField(validators=[DataRequired(), NumberRange(min=1)])
    reason = SelectField(_l("Reason"), choices=reason_choices(True), default="")
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000), _printable])

    def validate_reason(self, field: Any) -> None:
        if self.action.data == "reject" and not field.data:
            raise ValidationError(_l("A rejection needs a reason."))


class BulkForm(Form):
    action = SelectField(
        _l("Decision"),
        choices=choices(("approve", _l("Approve")), ("reject", _l("Reject"))),
        validators=[DataRequired()],
    )
    reason = SelectField(_l("Reason"), choices=reason_choices(True), default="")
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000), _printable])

    def validate_reason(self, field: Any) -> None:
        if self.action.data == "reject" and not field.data:
            raise ValidationError(_l("A rejection needs a reason."))


class StandingForm(Form):
    standing = SelectField(
        _l("Standing"),
        choices=choices(*((s.value, _l(STANDING_NAMES[s.value])) for s in Standing)),
        validators=[DataRequired()],
    )
    reason = StringField(_l("Why"), validators=[Optional(), Length(max=500), _printable])


class WordForm(Form):
    phrase = StringField(
        _l("Word or phrase"), validators=[DataRequired(), Length(max=200), _printable]
    )
    kind = SelectField(
        _l("List"),
        choices=choices(
            (WordKind.BANNED.value, _l("banned (reject)")),
            (WordKind.SUSPECT.value, _l("suspect (hold)")),
        ),
        validators=[DataRequired()],
    )
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500), _printable])

    def validate_phrase(self, field: Any) -> None:
        if "\n" in field.data or "\r" in field.data:
            raise ValidationError(_l("One line only."))


class LanguageForm(Form):
    language = SelectField(_l("Language"), choices=choices(("vi", "Tiếng Việt"), ("en", "English")))
    next = HiddenField()
