"""The OpenAPI document tells the truth: schemathesis calls every operation it lists.

Each operation of ``/openapi.json`` is called with requests generated from the document,
valid ones and deliberately invalid ones, with an admin token, on a database seeded with
rows of every shape the API answers with (nulls included: a comment not yet scored, a
report without a note, an article without a title). Every response must be no server
error, have a status, content type, headers and body the document lists for that
operation; valid requests must not be refused with a 4xx other than 401/403/404/409, and
invalid ones must be.

Bounded for CI: :data:`MAX_EXAMPLES` requests per operation and mode, derandomised, no
shrinking. Every violation found is collected and reported, not only the first.
"""

from __future__ import annotations

import itertools
import unicodedata
import uuid
from typing import Any

import hypothesis
import pytest
import schemathesis
from flask import Flask
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service import create_app
from service.comments.models import Status
from service.db import Session, utcnow
from service.moderation.auth import create_token
from service.moderation.models import AuditEntry, Report
from service.policy.models import AuthorStanding, WordRule
from tests.conftest import make_settings
from tests.factories import make_article, make_comment

#: requests per operation and generation mode: enough to reach the seeded rows and the
#: usual refusals, few enough that both databases take seconds
MAX_EXAMPLES = 5

#: not ``negative_data_rejection``: schemathesis counts some requests as invalid that are
#: valid once sent (a site id negated inside its pattern's lookahead), so it fails on
#: correct answers. Invalid requests are still sent, and their answers must be documented
#: errors; test_bad_input.py tests that each kind of bad input is refused.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    positive_data_acceptance,
]


def _seed(session: Session) -> dict[str, list[Any]]:
    """Rows of every shape the API answers with, nulls included; their ids, by parameter."""
    bare = make_article(session, "contract-bare")  # no title, url, section or language
    full = make_article(
        session,
        "contract-full",
        title="Bão số 3",
        url="https://example.com/bao",
        section="Thời sự",
        language="vi",
    )
    pending = make_comment(session, bare, status=Status.PENDING, author_id="contract-author")
    held = make_comment(
        session,
        full,
        status=Status.HELD,
        author_id="contract-author",
        language="vi",
        scores={"toxicity": 0.6, "insult": 0.2},
        spam_score=0.1,
        score_toxicity=0.6,
        signals={"links": 0},
        reasons=[{"rule": "band", "label": "toxicity", "score": 0.6}],
        scored_by={"toxicity": {"model": "test", "version": "1"}},
        client_ip="203.0.113.9",
        user_agent="Mozilla/5.0",
    )
    approved = make_comment(
        session, full, status=Status.APPROVED, decided_at=utcnow(), decided_by="machine"
    )
    reply = make_comment(session, full, status=Status.APPROVED, parent=approved)
    rejected = make_comment(
        session, full, status=Status.REJECTED, decided_at=utcnow(), decided_by="machine"
    )
    rule = WordRule(phrase="contract-word", kind="suspect", note=None, created_by=None)
    session.add_all(
        [
            Report(comment_id=held.id, reporter_id="r1", reason="spam", note=None),
            Report(comment_id=held.id, reporter_id="r2", reason="toxic", note="rude"),
            AuditEntry(comment_id=held.id, actor="api", from_status=None, to_status="pending"),
            AuditEntry(
                comment_id=held.id,
                actor="machine",
                from_status="pending",
                to_status="held",
                reason_code="toxicity",
                details={"score": 0.6},
            ),
            rule,
            AuthorStanding(author_id="contract-author", standing="always_review"),
        ]
    )
    session.flush()
    return {
        "article_id": [bare.external_id, full.external_id],
        "comment_id": [str(c.id) for c in (pending, held, approved, reply, rejected)],
        "author_id": ["contract-author"],
        "rule_id": [rule.id],
    }


def _really_valid(case: Any, known: dict[str, list[Any]], keys: Any) -> Any:
    """A strategy of ``case`` made valid in what no schema can say, and aimed at real rows.

    The document cannot say that a cursor must be one the API returned, that a score
    range's min is at most its max, that a parent_id must name a comment on the same
    article, that an ``allow`` word rule must name an entry of the default lexicon, that
    an Idempotency-Key is used for one request only, or which code points Unicode leaves
    unassigned (normalisation drops them, so a text of only those is empty). Valid cases
    are made so; the refusals are tested in test_comments_api.py, test_moderation_api.py,
    test_vi_lexicon.py and test_text.py.
    """
    case.body = _assigned(case.body)
    case.query = _assigned(case.query)
    if case.query:
        case.query.pop("cursor", None)
        if "score" in case.query:
            ranges = case.query["score"]
            case.query["score"] = [
                _ordered(r) for r in (ranges if isinstance(ranges, list) else [ranges])
            ]
    if isinstance(case.body, dict) and case.body.get("parent_id") is not None:
        case.body["parent_id"] = None
    if isinstance(case.body, dict) and case.body.get("kind") == "allow":
        # allow switches off a default lexicon entry, so it must name one
        case.body["phrase"] = "vcl"
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = f"contract-{next(keys)}"
    names = [name for name in case.path_parameters or {} if name in known]
    if not names:
        return st.just(case)

    def aimed(values: dict[str, Any]) -> Any:
        case.path_parameters = {**case.path_parameters, **values}
        return case

    # half the time a row that exists, so answers with data are checked, not only 404s
    return st.fixed_dictionaries(
        {name: st.sampled_from([case.path_parameters[name], *known[name]]) for name in names}
    ).map(aimed)


def _assigned(value: Any) -> Any:
    """``value`` with every unassigned code point in its strings replaced by ``x``."""
    if isinstance(value, str):
        return "".join("x" if unicodedata.category(ch) in {"Cn", "Co"} else ch for ch in value)
    if isinstance(value, dict):
        return {_assigned(k): _assigned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_assigned(item) for item in value]
    return value


def _ordered(score_range: str) -> str:
    try:
        label, low, high = score_range.split(":")
        reversed_bounds = float(low) > float(high)
    except ValueError:
        return score_range  # not a range at all: the document's pattern says so
    if reversed_bounds:
        low, high = high, low
    return f"{label}:{low}:{high}"


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    token = create_token(session, f"contract-{uuid.uuid4().hex[:6]}", "admin")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api_schema(app: Flask, session: Session, client: Any, admin: dict[str, str]) -> Any:
    """The app's own OpenAPI document, and the seeded rows' ids for valid requests."""
    known = _seed(session)
    session.commit()
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    # NUL is refused in every string (service/guards.py); the document says so once, in
    # its description, rather than in a pattern on every string. The token is sent with
    # every call, not generated: test_moderation_api.py tests the auth matrix.
    schema.config.generation.update(allow_x00=False, with_security_parameters=False)
    keys = itertools.count()

    @schema.hook
    def flatmap_case(context: Any, case: Any) -> Any:
        if case.meta.generation.mode is GenerationMode.POSITIVE:
            return _really_valid(case, known, keys)
        return st.just(case)

    return schema


def _exercise(
    operation: Any, mode: GenerationMode, headers: dict[str, str], violations: dict[str, set]
) -> int:
    """Call ``operation`` with up to MAX_EXAMPLES generated requests; return how many."""
    calls = 0

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        # every violation is reported as found, none is shrunk: the run stays short
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def exercise(case: Any) -> None:
        nonlocal calls
        response = case.call(headers=headers)
        calls += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, BaseExceptionGroup) as exc:
            found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
            for failure in found:
                violations.setdefault(operation.label, set()).add(
                    f"{failure}\n    {case.as_curl_command()}\n"
                    f"    -> {response.status_code} {response.text[:300]}"
                )

    try:
        exercise()
    except hypothesis.errors.Unsatisfiable:
        # nothing to make invalid (no parameters, or none with a constraint to break)
        assert mode is GenerationMode.NEGATIVE, operation.label
    return calls


# PostgreSQL only, to keep the run short: the document is the same on both databases,
# and a server error only one of them raises is likelier on the stricter one.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_every_operation_keeps_its_documented_contract(
    api_schema: Any, admin: dict[str, str]
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 16, [op.label for op in operations]
    violations: dict[str, set[str]] = {}

    calls = {
        operation.label: sum(
            _exercise(operation, mode, admin, violations) for mode in GenerationMode
        )
        for operation in operations
    }

    total = sum(len(found) for found in violations.values())
    report = "\n\n".join(
        f"== {label}\n" + "\n--\n".join(sorted(found)) for label, found in violations.items()
    )
    assert not violations, f"{total} contract violations in {sum(calls.values())} calls:\n{report}"
    assert all(calls.values()), calls


def test_bounds_that_are_settings_are_documented_as_the_serving_apps(
    sqlite_url: str, redis_url: str
) -> None:
    app = create_app(
        make_settings(sqlite_url, redis_url, page_size=7, page_size_max=50, comment_max_chars=300)
    )
    client = app.test_client()
    spec = client.get("/openapi.json").get_json()

    listing = spec["paths"]["/v1/articles/{article_id}/comments"]["get"]
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 50, "default": 7}
    body = spec["components"]["schemas"]["CommentIn"]["properties"]["body"]
    assert (body["minLength"], body["maxLength"]) == (1, 300)
    # and the app enforces what it documents
    assert client.get("/v1/articles/a1/comments?limit=50").status_code == 200
    assert client.get("/v1/articles/a1/comments?limit=51").status_code == 422
    assert client.get("/v1/articles/a1/comments?limit=0").status_code == 422
    app.extensions["db"].dispose()
