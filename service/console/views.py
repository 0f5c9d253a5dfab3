"""The console's pages: sign-in, the queue, one comment, decisions, standings, word lists.

Every page reads and writes through the services the JSON API uses (``moderation.queue``,
``moderation.services``, ``policy.services``) and checks the signed-in token's role on
every request exactly as the API does (``auth.grants``). The session cookie holds the
token's hash, never the token: a stolen cookie is no API credential, and a revoked token
signs the console out on its next request.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
import redis
import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf, validate_csrf
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from wtforms import ValidationError

from service.app_context import (
    db_session,
    queue_counts,
    settings,
    status_listeners,
)
from service.comments.models import LABELS, Comment, Status
from service.console import i18n
from service.console.forms import (
    BulkForm,
    DecisionForm,
    LanguageForm,
    LoginForm,
    StandingForm,
    WordForm,
)
from service.console.reasons import (
    REASON_NAMES,
    STANDING_NAMES,
    STATUS_NAMES,
    describe,
    label_name,
    top_scores,
    tr,
)
from service.errors import ServiceError
from service.moderation import queue, services
from service.moderation.auth import Principal, find_token, grants
from service.moderation.models import ApiToken
from service.moderation.schemas import SCORE_LABELS, QueueArgsSchema
from service.policy import lexicon as lexicons
from service.policy import services as policy
from service.policy.models import WordRule
from service.policy.words import WordMatcher
from service.schemas import encode_cursor

log = logging.getLogger(__name__)

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

#: rows on one queue page
PAGE_SIZE = 50
#: endpoints open without signing in
PUBLIC = frozenset({"console.login", "console.static", "console.language"})
SECRET_KEY_REDIS = "console:secret-key"


class PageError(Exception):
    """Stop a console request with a message on a page (and this status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ----------------------------------------------------------------------
# set-up


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, with a signing key found on first use.

    CONSOLE_SECRET_KEY when set; otherwise one random key kept in Redis (``SET NX``), so
    every API process behind one Redis signs alike; a process that cannot reach Redis
    uses a key of its own (sessions then last as long as the process).
    """

    def get_signing_serializer(self, app: Flask) -> Any:
        if not app.secret_key:
            app.secret_key = _secret_key(app)
        return super().get_signing_serializer(app)


def _secret_key(app: Flask) -> str:
    configured = app.config["SETTINGS"].console_secret_key
    if configured:
        return str(configured)
    client: redis.Redis = app.extensions["redis"]
    try:
        client.set(SECRET_KEY_REDIS, secrets.token_urlsafe(32), nx=True)
        stored = client.get(SECRET_KEY_REDIS)
        if stored:
            return stored.decode()
    except redis.RedisError:
        log.warning("console: Redis unreachable; signing sessions with a per-process key")
    return secrets.token_urlsafe(32)


def init_app(app: Flask) -> None:
    """Serve the console from ``app`` (sessions, CSRF, languages, the blueprint)."""
    app.config.update(
        SESSION_COOKIE_NAME="console_session",
        SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        # a moderator keeps a page open for hours; a form older than a shift is refused
        WTF_CSRF_TIME_LIMIT=12 * 3600,
    )
    app.session_interface = ConsoleSessionInterface()
    i18n.init_app(app)
    app.register_blueprint(bp)


@bp.app_template_global()
def csrf_token() -> str:
    return generate_csrf()


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    principal = g.get("principal")
    return {
        "principal": principal,
        "is_admin": principal is not None and grants(principal, "admin"),
        "describe": describe,
        "label_name": label_name,
        "top_scores": top_scores,
        "status_name": lambda s: tr(STATUS_NAMES[s]) if s in STATUS_NAMES else s,
        "standing_name": lambda s: tr(STANDING_NAMES[s]) if s in STANDING_NAMES else s,
        "reason_name": lambda r: (tr(REASON_NAMES[r]) if r in REASON_NAMES else r) if r else "",
        "when": i18n.when,
        # what every queue row repeats, translated and built once per page
        "T": {
            "author": i18n.t("Author"),
            "article": i18n.t("Article"),
            "language": i18n.t("Language"),
            "approve": i18n.t("Approve"),
            "reject": i18n.t("Reject…"),
            "undo": i18n.t("Undo"),
            "select": i18n.t("Select comment by %(author)s", author="\x00"),
        },
        "comments_url": url_for("console.queue_page") + "comments/",
        "undo_url": url_for("console.undo"),
        "locale": i18n.current_language(),
        "language_form": LanguageForm(
            formdata=None, language=i18n.current_language(), next=_here()
        ),
    }


def _here() -> str:
    return request.full_path.rstrip("?") if request.path.startswith("/console") else "/console/"


def _htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


# ----------------------------------------------------------------------
# before every request: CSRF, then who is signed in


@bp.before_request
def check_csrf() -> None:
    """Every POST carries the session's CSRF token (form field or X-CSRFToken header)."""
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return
    token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken")
    try:
        validate_csrf(token)
    except ValidationError as exc:
        raise PageError(400, str(exc) + " " + i18n.t("Reload the page and try again.")) from None


def _principal() -> Principal | None:
    token_hash = session.get("token_hash")
    if not isinstance(token_hash, str):
        return None
    row = (
        db_session()
        .scalars(
            sa.select(ApiToken).where(
                ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None)
            )
        )
        .first()
    )
    return Principal(row.name, row.role) if row is not None else None


@bp.before_request
def authenticate() -> Response | None:
    if request.endpoint in PUBLIC:
        return None
    principal = _principal()
    if principal is None:
        session.pop("token_hash", None)
        target = url_for("console.login", next=_here())
        if _htmx():
            response = make_response("", 401)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target)
    if not grants(principal, "moderator"):
        raise PageError(
            403, i18n.t("This token's role (%(role)s) cannot moderate.", role=principal.role)
        )
    g.principal = principal
    return None


def require_admin() -> None:
    if not grants(g.principal, "admin"):
        raise PageError(403, i18n.t("Only an admin may change the word lists."))


# ----------------------------------------------------------------------
# errors: a page with the message, never the API's JSON


@bp.errorhandler(PageError)
def _page_error(error: PageError) -> Any:
    return _error_page(error.status, error.message)


@bp.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> Any:
    return _error_page(error.status, error.message)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Any:
    if error.code == 413:
        return _error_page(413, i18n.t("The form is too large."))
    if error.code == 404:
        return _error_page(404, i18n.t("No such page or comment."))
    return _error_page(error.code or 500, error.description or "")


@bp.errorhandler(Exception)
def _unexpected(error: Exception) -> Any:
    log.exception("console: unexpected error")
    return _error_page(500, i18n.t("Something went wrong on our side; nothing was changed."))


def _error_page(status: int, message: str) -> Any:
    template = "_alert.html" if _htmx() else "error.html"
    return render_template(template, status=status, message=message, kind="error"), status


# ----------------------------------------------------------------------
# signing in and out, language


def _local(target: str | None) -> str:
    """``target`` if it is a console path on this site, else the queue (no open redirect)."""
    if target and "\\" not in target and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console"):
            return target
    return url_for("console.queue_page")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            row = find_token(db_session(), form.token.data)
            if row is None:
                form.token.errors = [i18n.t("That token is not valid (unknown or revoked).")]
                status = 401
            elif not grants(Principal(row.name, row.role), "moderator"):
                form.token.errors = [
                    i18n.t("This token's role (%(role)s) cannot moderate.", role=row.role)
                ]
                status = 403
            else:
                language = session.get("language")
                session.clear()  # a new session: nothing carried over from before signing in
                session["token_hash"] = row.token_hash
                if language:
                    session["language"] = language
                return redirect(_local(request.args.get("next")))
        else:
            status = 422
    return render_template("login.html", form=form), status


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    flash(i18n.t("Signed out."), "info")
    return redirect(url_for("console.login"))


@bp.post("/language")
def language() -> Any:
    form = LanguageForm()
    if not form.validate():
        raise PageError(422, i18n.t("Choose Tiếng Việt or English."))
    response = redirect(_local(form.next.data))
    i18n.remember_language(response, form.language.data)
    return response


# ----------------------------------------------------------------------
# the queue


def _queue_args(args: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The filter form's fields as the API's query arguments, loaded by its own schema."""
    raw: dict[str, Any] = {
        "status": [s for s in args.getlist("status") if s] or [Status.HELD.value],
        "sort": args.get("sort") or "oldest",
        "limit": PAGE_SIZE,
    }
    for name in ("article", "language", "author", "cursor"):
        if args.get(name, "").strip():
            raw[name] = args[name].strip()
    if args.get("reported") in {"true", "false"}:
        raw["reported"] = args["reported"]
    label = args.get("score_label", "")
    if label:
        low = args.get("score_min", "").strip() or "0"
        high = args.get("score_max", "").strip() or "1"
        raw["score"] = [f"{label}:{low}:{high}"]
    try:
        return QueueArgsSchema().load(raw), {}
    except ma.ValidationError as exc:
        return {}, exc.messages  # type: ignore[return-value]


def _filters(loaded: dict[str, Any]) -> queue.QueueFilters:
    return queue.QueueFilters(
        statuses=tuple(loaded["status"]),
        article=loaded.get("article"),
        language=loaded.get("language"),
        author=loaded.get("author"),
        reported=loaded.get("reported"),
        score_ranges=dict(loaded["score"]),
    )


def _since_marker(filters: queue.QueueFilters) -> str | None:
    """A cursor just past the newest comment matching ``filters``: where "new" starts."""
    newest = queue.review_queue(
        db_session(), filters, sort="newest", limit=1, counts=queue_counts()
    )
    if not newest.items:
        return None
    last = newest.items[0]
    return encode_cursor({"sort": "oldest", "k": last.created_at.isoformat(), "id": str(last.id)})


def _filter_query(args: MultiDict[str, str]) -> MultiDict[str, str]:
    keep = (
        "status",
        "article",
        "language",
        "author",
        "reported",
        "score_label",
        "score_min",
        "score_max",
        "sort",
    )
    return MultiDict([(k, v) for k, v in args.items(multi=True) if k in keep and v])


@bp.get("/")
def queue_page() -> Any:
    loaded, errors = _queue_args(request.args)
    status = 200
    page: queue.QueuePage | None = None
    since = None
    if errors:
        status = 422
    else:
        filters = _filters(loaded)
        page = queue.review_queue(
            db_session(),
            filters,
            sort=loaded["sort"],
            limit=PAGE_SIZE,
            cursor=loaded["cursor"],
            counts=queue_counts(),
        )
        since = _since_marker(filters) or encode_cursor(
            {"sort": "oldest", "k": "1970-01-01T00:00:00+00:00", "id": str(uuid.UUID(int=0))}
        )
    return (
        render_template(
            "queue.html",
            page=page,
            errors=errors,
            args=request.args,
            filter_query=_filter_query(request.args),
            since=since,
            statuses=[s.value for s in Status],
            sorts=queue.SORTS,
            score_labels=SCORE_LABELS,
            bulk_form=BulkForm(formdata=None),
            reason_codes=services.REASON_CODES,
        ),
        status,
    )


@bp.get("/queue/fresh")
def queue_fresh() -> Any:
    """Comments that arrived since ``after`` (polled): new rows, the counts, the next poll."""
    loaded, errors = _queue_args(request.args)
    if errors:
        raise PageError(422, i18n.t("The queue's filters are not valid."))
    filters = _filters(loaded)
    after = request.args.get("after", "")
    try:
        cursor = QueueArgsSchema().load({"cursor": after})["cursor"] if after else None
    except ma.ValidationError:
        raise PageError(422, i18n.t("The queue's filters are not valid.")) from None
    page = queue.review_queue(
        db_session(), filters, sort="oldest", limit=PAGE_SIZE, cursor=cursor, counts=queue_counts()
    )
    since = after
    if page.items:
        last = page.items[-1]
        since = encode_cursor(
            {"sort": "oldest", "k": last.created_at.isoformat(), "id": str(last.id)}
        )
    return render_template(
        "_fresh.html",
        page=page,
        since=since,
        filter_query=_filter_query(request.args),
        statuses=[s.value for s in Status],
        args=request.args,
    )


# ----------------------------------------------------------------------
# one comment


def _comment(comment_id: uuid.UUID) -> Comment:
    comment = db_session().get(Comment, comment_id)
    if comment is None:
        raise PageError(404, i18n.t("No such comment."))
    return comment


def _form_errors(form: Any) -> str:
    """A form's validation messages, as one line for the page's alert."""
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _word_matcher() -> WordMatcher:
    """The site's word lists over the default lexicon, as the pipeline matches them."""
    cache = current_app.extensions.get("console_words")
    if cache is None:
        lexicon = lexicons.vietnamese() if settings().vi_lexicon else None
        # checked on every page (one aggregate query), rebuilt only when a rule changed:
        # an admin's new word shows at once
        cache = current_app.extensions["console_words"] = policy.WordListCache(0, lexicon)
    return cache.matcher(db_session())


def highlight(text: str, matcher: WordMatcher, *, vietnamese: bool = True) -> Markup:
    """``text`` escaped, with each word-list match in a ``<mark>``."""
    import unicodedata

    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    at = 0
    for span in matcher.spans(text, vietnamese=vietnamese):
        if span.start < at:
            continue
        out.append(str(escape(text[at : span.start])))
        out.append(
            f'<mark class="{escape(span.kind)}" title="{escape(span.phrase)}">'
            f"{escape(text[span.start : span.end])}</mark>"
        )
        at = span.end
    out.append(str(escape(text[at:])))
    return Markup("".join(out))


def _detail(comment: Comment, status: int = 200, **extra: Any) -> Any:
    session_ = db_session()
    full = queue.comment_in_full(session_, comment)
    thread = queue.thread_context(session_, comment)
    matcher = _word_matcher()
    return (
        render_template(
            "detail.html",
            c=comment,
            full=full,
            thread=thread,
            body=highlight(comment.body, matcher, vietnamese=comment.language == "vi"),
            decision_form=extra.pop("decision_form", None)
            or DecisionForm(formdata=None, version=comment.version),
            standing_form=extra.pop("standing_form", None)
            or StandingForm(formdata=None, standing=full["author"]["standing"]),
            labels=LABELS,
            **extra,
        ),
        status,
    )


@bp.get("/comments/<uuid:comment_id>")
def detail(comment_id: uuid.UUID) -> Any:
    return _detail(_comment(comment_id))


# ----------------------------------------------------------------------
# decisions


def _remember(comment: Comment, action: str) -> None:
    """What "undo" undoes: this moderator's last decision, as it left the comment."""
    session["last_decision"] = {"id": str(comment.id), "version": comment.version, "action": action}


def _stale_message(comment: Comment) -> str:
    return i18n.t(
        "A colleague already decided this: %(status)s by %(who)s, %(when)s.",
        status=tr(STATUS_NAMES[comment.status]),
        who=comment.decided_by or "?",
        when=i18n.when(comment.decided_at) if comment.decided_at else "",
    )


@bp.post("/comments/<uuid:comment_id>/decision")
def decide(comment_id: uuid.UUID) -> Any:
    comment = _comment(comment_id)
    form = DecisionForm()
    row = request.form.get("from") == "row"
    if not form.validate():
        message = _form_errors(form)
        if row:
            raise PageError(422, message)
        return _detail(comment, 422, decision_form=form, alert=message)
    session_ = db_session()
    try:
        services.moderate(
            session_,
            comment,
            action=form.action.data,
            version=form.version.data,
            actor=g.principal.actor,
            reason=form.reason.data or None,
            note=form.note.data or None,
            listeners=status_listeners(),
        )
    except services.StaleVersion as stale:
        session_.rollback()
        current = _comment(comment_id)
        message = _stale_message(stale.comment if stale.comment is not None else current)
        if row:
            return render_template("_row.html", c=current, alert=message, stale=True), 409
        return _detail(current, 409, alert=message, stale=True)
    session_.commit()
    session_.refresh(comment)
    _remember(comment, form.action.data)
    done = i18n.t("Approved.") if form.action.data == "approve" else i18n.t("Rejected.")
    if row:
        return render_template("_row.html", c=comment, decided=done)
    flash(done, "info")
    return redirect(_next_after(comment))


def _next_after(comment: Comment) -> str:
    """The next held comment to look at (the oldest other than this), or the queue."""
    page = queue.review_queue(db_session(), queue.QueueFilters(), limit=2, counts=queue_counts())
    for item in page.items:
        if item.id != comment.id:
            return url_for("console.detail", comment_id=item.id)
    return url_for("console.queue_page")


@bp.post("/undo")
def undo() -> Any:
    last = session.get("last_decision")
    if not isinstance(last, dict):
        raise PageError(409, i18n.t("There is no decision of yours to undo."))
    try:
        comment = _comment(uuid.UUID(str(last.get("id"))))
        version = int(last.get("version"))
    except (TypeError, ValueError):
        session.pop("last_decision", None)
        raise PageError(409, i18n.t("There is no decision of yours to undo.")) from None
    session_ = db_session()
    try:
        services.undo_decision(
            session_,
            comment,
            version=version,
            actor=g.principal.actor,
            listeners=status_listeners(),
        )
    except services.StaleVersion as stale:
        session_.rollback()
        session.pop("last_decision", None)
        raise PageError(409, _stale_message(stale.comment)) from None
    session_.commit()
    session_.refresh(comment)
    session.pop("last_decision", None)
    if request.form.get("from") == "row":
        return render_template("_row.html", c=comment, decided=i18n.t("Back in the queue."))
    flash(i18n.t("Undone: the comment is back in the queue."), "info")
    return redirect(url_for("console.detail", comment_id=comment.id))


@bp.post("/decisions")
def bulk() -> Any:
    form = BulkForm()
    next_url = _local(request.form.get("next"))
    items = []
    for value in request.form.getlist("item"):
        raw_id, _, raw_version = value.partition(":")
        try:
            items.append({"comment_id": uuid.UUID(raw_id), "version": int(raw_version)})
        except ValueError:
            raise PageError(
                422, i18n.t("A selected comment is not valid; reload the queue.")
            ) from None
    if not items:
        raise PageError(422, i18n.t("Select at least one comment (x)."))
    if len(items) > 500:
        raise PageError(422, i18n.t("Select at most 500 comments."))
    if not form.validate():
        raise PageError(422, _form_errors(form))
    session_ = db_session()
    outcome = services.moderate_many(
        session_,
        items,
        action=form.action.data,
        actor=g.principal.actor,
        reason=form.reason.data or None,
        note=form.note.data or None,
        listeners=status_listeners(),
    )
    session_.commit()
    summary = outcome["summary"]
    flash(
        i18n.t(
            "%(applied)s decided; %(conflict)s already decided by a colleague; "
            "%(unchanged)s unchanged.",
            applied=summary.get("applied", 0),
            conflict=summary.get("conflict", 0),
            unchanged=summary.get("unchanged", 0) + summary.get("not_found", 0),
        ),
        "info",
    )
    return redirect(next_url)


# ----------------------------------------------------------------------
# authors


@bp.post("/authors/<site_id:author_id>/standing")
def standing(author_id: str) -> Any:
    form = StandingForm()
    back = _local(request.form.get("next"))
    if not form.validate():
        raise PageError(422, _form_errors(form))
    session_ = db_session()
    rejected = policy.set_author_standing(
        session_,
        author_id,
        standing=form.standing.data,
        reason=form.reason.data or None,
        actor=g.principal.actor,
        listeners=status_listeners(),
    )
    session_.commit()
    flash(
        i18n.t(
            "%(author)s is now %(standing)s; %(rejected)s waiting comments rejected.",
            author=author_id,
            standing=tr(STANDING_NAMES[form.standing.data]),
            rejected=rejected,
        ),
        "info",
    )
    return redirect(back)


# ----------------------------------------------------------------------
# word lists (admins)


def _words_page(form: WordForm | None = None, status: int = 200, alert: str | None = None) -> Any:
    rules = db_session().scalars(sa.select(WordRule).order_by(WordRule.kind, WordRule.phrase)).all()
    return (
        render_template(
            "words.html", rules=rules, form=form or WordForm(formdata=None), alert=alert
        ),
        status,
    )


@bp.get("/words")
def words() -> Any:
    require_admin()
    return _words_page()


@bp.post("/words")
def add_word() -> Any:
    require_admin()
    form = WordForm()
    if not form.validate():
        return _words_page(form, 422)
    session_ = db_session()
    try:
        policy.add_word_rule(
            session_, form.phrase.data, form.kind.data, form.note.data or None, g.principal.actor
        )
    except ServiceError as exc:
        session_.rollback()
        return _words_page(form, exc.status, alert=exc.message)
    session_.commit()
    flash(i18n.t("Added."), "info")
    return redirect(url_for("console.words"))


@bp.post("/words/<int:rule_id>/delete")
def delete_word(rule_id: int) -> Any:
    require_admin()
    session_ = db_session()
    if not policy.delete_word_rule(session_, rule_id):
        raise PageError(404, i18n.t("No such word rule."))
    session_.commit()
    flash(i18n.t("Removed."), "info")
    return redirect(url_for("console.words"))


@bp.get("/words/test")
def test_words() -> Any:
    """The live test box: what the current lists match in a text."""
    require_admin()
    text = request.args.get("text", "")[:5000]
    matcher = _word_matcher()
    return render_template(
        "_word_test.html",
        text=text,
        highlighted=highlight(text, matcher),
        matches=matcher.find(text),
    )
