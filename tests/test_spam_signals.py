"""Spam signals: each read from the text or from Redis windows, each with its value and weight."""

from __future__ import annotations

import time

import redis

from workers.spam.signals import (
    BehaviourWindows,
    CommentFacts,
    SpamConfig,
    combine,
    near_duplicate_keys,
    text_signals,
)

CONFIG = SpamConfig(
    allow_domains=frozenset({"news.example"}), deny_domains=frozenset({"casino.xyz"})
)


def test_links_domains_shorteners_and_lists() -> None:
    s = text_signals(
        "xem https://bit.ly/abc và www.kiemtien.com/x, nguồn https://news.example/a "
        "ghé spin.casino.xyz nhé",
        CONFIG,
    )
    assert s["domains"] == [
        "bit.ly",
        "kiemtien.com",
        "spin.casino.xyz",
    ]  # the site's own is allowed
    assert s["links"] == 3
    assert s["shorteners"] == ["bit.ly"]
    assert s["denied_domains"] == ["spin.casino.xyz"]


def test_contact_details() -> None:
    s = text_signals("Liên hệ zalo 0912 345 678 hoặc +84 912.345.678, mail me@x.vn", CONFIG)
    assert s["phones"] == 2 and s["emails"] == 1 and s["handles"] >= 1
    plain = text_signals("Năm 2024 có 63 tỉnh, giá 25.000 đồng", CONFIG)
    assert plain["phones"] == plain["emails"] == plain["handles"] == 0


def test_shouting_repeats_and_link_ratio() -> None:
    s = text_signals("BUY NOW THE BEST OFFER EVER!!!!!!!!", CONFIG)
    assert s["uppercase_ratio"] > 0.9
    assert s["longest_repeat"] >= 8
    assert text_signals("Short", CONFIG)["uppercase_ratio"] == 0.0  # too few letters to judge
    assert text_signals("http://spam.xyz/aaaaaaaaaaaaaaaaaa", CONFIG)["link_ratio"] > 0.9


def test_near_duplicates_share_a_band() -> None:
    a = near_duplicate_keys("Kiếm tiền online 5 triệu mỗi ngày, liên hệ ngay để biết thêm chi tiết")
    b = near_duplicate_keys(
        "Kiem tien online 7 trieu moi ngay!! lien he ngay de biet them chi tiet"
    )
    c = near_duplicate_keys("Bài viết phân tích rất kỹ về chính sách tiền tệ của ngân hàng")
    assert set(a) & set(b)
    assert not set(a) & set(c)
    assert near_duplicate_keys("great post") == []


def _facts(n: int, body: str, author: str = "spammer", ip: str | None = "10.0.0.1") -> CommentFacts:
    return CommentFacts(f"c{n}", body, author, ip, time.time())


def test_windows_count_duplicates_authors_and_velocity(redis_db: redis.Redis) -> None:
    windows = BehaviourWindows(redis_db, SpamConfig(author_velocity_limit=2))
    body = "Tuyển cộng tác viên làm việc tại nhà, thu nhập cao, inbox ngay"
    first = windows.observe(_facts(1, body))
    assert first["duplicates"] == 0 and first["author_recent"] == 1
    windows.observe(_facts(2, body.upper()))
    third = windows.observe(_facts(3, body + "!!!", author="other"))
    assert third["duplicates"] == 2
    assert third["duplicate_authors"] == 2
    assert third["ip_recent"] == 3


def test_windows_are_idempotent_per_comment(redis_db: redis.Redis) -> None:
    windows = BehaviourWindows(redis_db, SpamConfig())
    facts = _facts(1, "A perfectly ordinary comment about the article, nothing more")
    windows.observe(facts)
    again = windows.observe(facts)  # a redelivered task sees the same comment again
    assert again["duplicates"] == 0
    assert again["author_recent"] == 1


def test_combine_reports_contributions() -> None:
    text = text_signals(
        "Kiếm tiền dễ dàng mỗi ngày tại nhà, xem http://bit.ly/x hoặc http://kiemtien.xyz, "
        "zalo 0912345678",
        CONFIG,
    )
    verdict = combine(0.5, text, {"duplicates": 0}, new_author=True, config=CONFIG)
    assert set(verdict.contributions) == {"links", "shorteners", "contact_details", "new_author"}
    assert verdict.contributions["links"] == {"value": 2, "weight": 1.6}
    assert verdict.probability > 0.99
    clean = combine(
        0.2, text_signals("Good analysis, thanks.", CONFIG), {}, new_author=False, config=CONFIG
    )
    assert clean.contributions == {} and clean.probability == 0.2


def test_ip_addresses_and_isbns_are_not_phone_numbers() -> None:
    s = text_signals("Reverted vandalism from 192.168.100.201, see ISBN 978-0-306-40615-7", CONFIG)
    assert s["phones"] == 0
    assert text_signals("Gọi 0912.345.678 ngay", CONFIG)["phones"] == 1
