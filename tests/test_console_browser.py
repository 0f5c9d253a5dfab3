"""The moderators' console in a real browser: headless chromium driven by Selenium, against
the API as `make run` serves it (gunicorn) on a PostgreSQL database of its own.

Needs Debian's ``chromium`` and ``chromium-driver`` (`.ci/run` installs them); skips, saying
so, where neither is found. ``CONSOLE_SCREENSHOTS=<dir>`` (``make console-screenshots``)
also saves the queue and the detail view as PNGs.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from service.articles.models import Article
from service.comments.models import Comment, Status
from service.db import Database, utcnow
from service.moderation.auth import create_token
from service.moderation.models import AuditEntry
from service.policy.models import AuthorStanding, WordRule
from tests.factories import make_article, make_comment
from tests.helpers import PrivateRedis, migrated_pg_database
from tests.stack import Stack

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "no chromium/chromedriver found: apt-get install -y chromium chromium-driver "
        "(.ci/run does) to run the console's browser tests",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

SCREENSHOTS = os.environ.get("CONSOLE_SCREENSHOTS")


class Site:
    """The running API, its database, and a token per role."""

    def __init__(self, url: str, db: Database) -> None:
        self.url = url
        self.db = db
        with db.session() as s:
            self.moderator = create_token(s, "desk-moderator", "moderator")
            self.admin = create_token(s, "desk-admin", "admin")

    def held(self, **fields: Any) -> Comment:
        with self.db.session() as s:
            external_id = fields.pop("article", None) or f"a-{uuid.uuid4().hex[:8]}"
            article = s.scalars(
                sa.select(Article).where(Article.external_id == external_id)
            ).first() or make_article(s, external_id)
            fields.setdefault("language", "vi")
            fields.setdefault(
                "reasons",
                [
                    {
                        "rule": "toxicity",
                        "effect": "held",
                        "label": "insult",
                        "score": 0.87,
                        "threshold": 0.8,
                    }
                ],
            )
            scores = fields.pop("scores", {"insult": 0.87, "toxicity": 0.74, "obscene": 0.31})
            comment = make_comment(
                s,
                article,
                status=Status.HELD,
                scores=scores,
                **{f"score_{k}": v for k, v in scores.items()},
                **fields,
            )
        return comment

    def get(self, comment_id: uuid.UUID) -> Comment:
        with self.db.session() as s:
            comment = s.get(Comment, comment_id)
            assert comment is not None
            return comment


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("console-browser")
    with migrated_pg_database("moderation_console") as database_url:
        redis_server = PrivateRedis().start()
        (tmp / "logs").mkdir()
        stack = Stack(database_url, redis_server, tmp / "logs")
        db = Database(database_url)
        try:
            _process, url = stack.api()
            # "localhost", not 127.0.0.1: a browser sends Secure cookies to it over http
            yield Site(url.replace("127.0.0.1", "localhost"), db)
        finally:
            stack.stop()
            redis_server.stop()
            db.dispose()


def _driver(width: int = 1280, height: int = 800) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--lang=vi",
    ):
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.implicitly_wait(0)
    return driver


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = _driver()
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: WebDriver, condition: Any, timeout: float = 10) -> Any:
    # a page navigating, or htmx swapping a row, leaves elements found a moment ago stale
    return WebDriverWait(
        driver, timeout, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition)


def sign_in(driver: WebDriver, site: Site, token: str) -> None:
    driver.get(site.url + "/console/")
    field = wait(driver, lambda d: d.find_element(By.ID, "token"))
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, ".login button[type=submit]").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "table.queue"))


def press(driver: WebDriver, keys: str | list[str]) -> None:
    """Press ``keys`` on the page (whatever has focus), as a moderator does."""
    for key in keys:
        target = "document.activeElement || document.body"
        driver.execute_script(
            f"({target}).dispatchEvent(new KeyboardEvent('keydown', "
            "{key: arguments[0], bubbles: true}))",
            key,
        )


def test_sign_in_filter_open_and_approve_with_a(browser: WebDriver, site: Site) -> None:
    target = site.held(article="story-approve", body="Bài viết hay nhưng đồ ngốc vẫn là đồ ngốc")
    site.held(article="story-other", body="Một bình luận khác")
    with site.db.session() as s:
        s.add(WordRule(phrase="đồ ngốc", kind="suspect", created_by="test"))
    sign_in(browser, site, site.moderator)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Hàng đợi kiểm duyệt"
    cookie = browser.get_cookie("console_session")
    assert cookie and cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert site.moderator not in cookie["value"]

    browser.find_element(By.NAME, "article").send_keys("story-approve")
    browser.find_element(By.CSS_SELECTOR, ".filters button[type=submit]").click()
    wait(browser, lambda d: "article=story-approve" in d.current_url)
    rows = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#queue-rows tr.row.current"))
    assert [r.get_attribute("data-id") for r in rows] == [str(target.id)]
    assert "xúc phạm 0.87" in rows[0].text

    press(browser, "j")
    assert browser.switch_to.active_element.get_attribute("data-id") == str(target.id)
    press(browser, ["Enter"])
    wait(browser, lambda d: d.find_elements(By.ID, "comment-body"))
    marks = browser.find_elements(By.CSS_SELECTOR, "#comment-body mark.suspect")
    assert [m.text for m in marks] == ["đồ ngốc", "đồ ngốc"]
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(SCREENSHOTS) / "detail.png"))

    press(browser, "a")
    wait(browser, lambda d: "Đã duyệt." in d.page_source)
    approved = site.get(target.id)
    assert approved.status == Status.APPROVED
    assert approved.decided_by == "moderator:desk-moderator"


def test_reject_with_a_reason_from_the_queue(browser: WebDriver, site: Site) -> None:
    target = site.held(article="story-reject", body="Quảng cáo: mua ngay tại example.com")
    sign_in(browser, site, site.moderator)
    browser.get(site.url + "/console/?article=story-reject")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#queue-rows tr.row.current"))
    press(browser, "r")
    dialog = wait(browser, lambda d: d.find_element(By.ID, "reject-dialog"))
    assert dialog.get_attribute("open") is not None
    Select(browser.find_element(By.ID, "reject-reason")).select_by_value("spam")
    browser.find_element(By.ID, "reject-note").send_keys("quảng cáo")
    browser.find_element(By.CSS_SELECTOR, "#reject-form button[type=submit]").click()
    wait(browser, lambda d: "Đã từ chối." in d.find_element(By.ID, f"row-{target.id}").text)
    with site.db.session() as s:
        entry = s.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.comment_id == target.id)
            .order_by(AuditEntry.id.desc())
        ).first()
        assert (entry.to_status, entry.reason_code, entry.note) == ("rejected", "spam", "quảng cáo")


def test_a_colleagues_decision_first_shows_409(browser: WebDriver, site: Site) -> None:
    target = site.held(article="story-race", body="Ai nhanh tay hơn?")
    sign_in(browser, site, site.moderator)
    browser.get(site.url + "/console/?article=story-race")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#queue-rows tr.row.current"))
    # a colleague, through the JSON API, decides the version this page shows
    api = requests.post(
        f"{site.url}/v1/moderation/comments/{target.id}/decision",
        json={"action": "reject", "reason": "toxic", "version": 1},
        headers={"Authorization": f"Bearer {site.admin}"},
        timeout=10,
    )
    assert api.status_code == 200
    press(browser, "a")
    alert = wait(
        browser, lambda d: d.find_element(By.CSS_SELECTOR, f"#row-{target.id} .alert.conflict")
    )
    assert "Một đồng nghiệp đã quyết định bình luận này" in alert.text
    assert "moderator:desk-admin" in alert.text and "đã từ chối" in alert.text
    assert site.get(target.id).status == Status.REJECTED


def test_ban_an_author_from_the_detail_view(browser: WebDriver, site: Site) -> None:
    target = site.held(author_id="troll-42", author_name="Troll", body="Spam spam spam")
    other = site.held(author_id="troll-42", author_name="Troll", body="Thêm spam")
    sign_in(browser, site, site.moderator)
    browser.get(f"{site.url}/console/comments/{target.id}")
    Select(browser.find_element(By.ID, "standing")).select_by_value("banned")
    browser.find_element(By.ID, "standing-reason").send_keys("spam bot")
    browser.find_element(By.CSS_SELECTOR, "#standing-form button[type=submit]").click()
    flash = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".flash"))
    assert "troll-42" in flash.text and "2" in flash.text
    with site.db.session() as s:
        assert s.get(AuthorStanding, "troll-42").standing == "banned"
    assert site.get(other.id).status == Status.REJECTED


def test_switch_the_language_and_it_is_remembered(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site, site.moderator)
    Select(browser.find_element(By.ID, "language")).select_by_value("en")
    browser.find_element(By.CSS_SELECTOR, "form.lang button").click()
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Review queue")
    browser.get(site.url + "/console/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Review queue"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"


def test_new_held_comments_appear_without_a_reload(browser: WebDriver, site: Site) -> None:
    sign_in(browser, site, site.moderator)
    browser.get(site.url + "/console/?article=story-live")
    wait(browser, lambda d: d.find_elements(By.ID, "poller"))
    fresh = site.held(
        article="story-live", body="Vừa mới đến", created_at=utcnow() + timedelta(seconds=1)
    )
    wait(browser, lambda d: d.find_elements(By.ID, f"row-{fresh.id}"), timeout=15)


def test_the_queue_fits_a_phone(site: Site) -> None:
    phone = _driver(390, 844)
    try:
        sign_in(phone, site, site.moderator)
        site.held(article="story-phone", body="Màn hình nhỏ " * 20)
        phone.get(site.url + "/console/?article=story-phone")
        wait(phone, lambda d: d.find_elements(By.CSS_SELECTOR, "#queue-rows tr.row"))
        overflow = phone.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0
    finally:
        phone.quit()


@pytest.mark.skipif(not SCREENSHOTS, reason="CONSOLE_SCREENSHOTS unset (make console-screenshots)")
def test_screenshot_of_the_queue(browser: WebDriver, site: Site) -> None:
    samples = [
        ("Đm thằng này nói láo, đồ ngốc!", {"insult": 0.91, "toxicity": 0.88, "obscene": 0.62}),
        ("Mua thuốc giảm cân tại shop-re.example, giao tận nơi", {"toxicity": 0.05}),
        ("Bài viết thiên vị, tác giả nên xem lại số liệu.", {"toxicity": 0.41, "insult": 0.22}),
        ("You people are all idiots", {"insult": 0.83, "toxicity": 0.86, "identity_attack": 0.35}),
    ]
    reasons = [
        [
            {
                "rule": "toxicity",
                "effect": "held",
                "label": "insult",
                "score": 0.91,
                "threshold": 0.8,
            },
            {"rule": "suspect_word", "effect": "held", "words": ["đồ ngốc"]},
        ],
        [
            {
                "rule": "spam",
                "effect": "held",
                "label": "spam",
                "score": 0.71,
                "threshold": 0.5,
                "signals": {
                    "links": {"value": 1, "weight": 0.9},
                    "new_author": {"value": True, "weight": 0.5},
                },
            }
        ],
        [{"rule": "pre_moderation", "effect": "held"}],
        [
            {
                "rule": "toxicity",
                "effect": "held",
                "label": "toxicity",
                "score": 0.86,
                "threshold": 0.8,
            },
            {"rule": "reported", "effect": "held", "reports": 3, "threshold": 3},
        ],
    ]
    for i, ((body, scores), why) in enumerate(zip(samples, reasons, strict=True)):
        site.held(
            article="thoi-su-2026",
            body=body,
            scores=scores,
            reasons=why,
            spam_score=0.71 if i == 1 else 0.04,
            report_count=3 if i == 3 else 0,
            language="en" if i == 3 else "vi",
            author_name=["Minh", "Shop Rẻ", "Lan", "Guest"][i],
        )
    sign_in(browser, site, site.moderator)
    browser.get(site.url + "/console/?article=thoi-su-2026")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#queue-rows tr.row")) == 4)
    press(browser, "jx")
    Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
    browser.save_screenshot(str(Path(SCREENSHOTS) / "queue.png"))  # type: ignore[arg-type]
