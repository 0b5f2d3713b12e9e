"""The flagged queue, scorecard and transcript search on the real pipeline month: every filter,
sort and page checked against the database itself, not against expectations written by hand."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callmon.store.review import flag_kind
from tests.webapp import PASSWORDS, web_config


@pytest.fixture
def client(pipeline_db: str) -> TestClient:
    from callmon.web.app import create_app

    c = TestClient(create_app(web_config(pipeline_db)))
    assert c.post("/api/session", json={"username": "sup", "password": PASSWORDS["sup"]}).status_code == 200
    return c


def rows(url: str, sql: str) -> list[Any]:
    with sa.create_engine(url).connect() as conn:
        return list(conn.execute(sa.text(sql)).fetchall())


def month_of(url: str) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    (first,) = rows(url, "select min(first_event_us) from calls")[0]
    return datetime.fromtimestamp(first / 1e6, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


def test_flagged_queue_lists_exactly_the_flagged_calls_with_counts_per_reason(client: TestClient,
                                                                             pipeline_db: str) -> None:
    month = month_of(pipeline_db)
    got = client.get(f"/api/calls?month={month}&flagged=true&limit=500").json()
    flagged = rows(pipeline_db, "select call_id, flag_reasons from scores where flagged")
    assert got["total"] == len(flagged) > 0
    assert sorted(i["id"] for i in got["items"]) == sorted(c for c, _ in flagged)
    import json

    expected: dict[str, int] = {}
    for _, reasons in flagged:
        for kind in {flag_kind(r) for r in json.loads(reasons)}:
            expected[kind] = expected.get(kind, 0) + 1
    assert {k: v for k, v in got["counts"].items() if v} == expected
    for kind, n in expected.items():
        only = client.get(f"/api/calls?month={month}&flagged=true&reason={kind}&limit=500").json()
        assert only["total"] == n
        assert all(any(flag_kind(r) == kind for r in i["flag_reasons"]) for i in only["items"])
    every = client.get(f"/api/calls?month={month}&limit=500").json()
    assert every["total"] == rows(pipeline_db, "select count(*) from calls")[0][0]  # unscored calls listed too


def test_sorting_and_paging_cover_every_call_once_in_order(client: TestClient, pipeline_db: str) -> None:
    month = month_of(pipeline_db)
    for sort, key in (("time", "answered_at"), ("score", "score"), ("ring", "ring_seconds")):
        for order in ("asc", "desc"):
            seen: list[dict[str, Any]] = []
            offset = 0
            while True:
                page = client.get(f"/api/calls?month={month}&sort={sort}&order={order}&limit=3&offset={offset}").json()
                seen += page["items"]
                offset += 3
                if offset >= page["total"]:
                    break
            assert len({i["id"] for i in seen}) == len(seen) == page["total"]
            values = [i[key] for i in seen if i[key] is not None]
            if sort != "time":  # time sorts on the first event, which answered_at follows except for abandons
                assert values == sorted(values, reverse=order == "desc"), (sort, order)


def test_operator_score_state_and_date_filters(client: TestClient, pipeline_db: str) -> None:
    month = month_of(pipeline_db)
    for (operator,) in rows(pipeline_db, "select distinct operator from calls where operator is not null"):
        got = client.get(f"/api/calls?month={month}&operator={operator}&limit=500").json()
        assert got["total"] == rows(pipeline_db, f"select count(*) from calls where operator = '{operator}'")[0][0]
    scored = client.get(f"/api/calls?month={month}&min_score=60&max_score=80&limit=500").json()
    assert scored["total"] == rows(pipeline_db, "select count(*) from scores where score between 60 and 80")[0][0]
    assert all(60 <= i["score"] <= 80 for i in scored["items"])
    target = (scored["items"] or client.get("/api/calls?flagged=true").json()["items"])[0]["id"]
    csrf = client.get("/api/me").json()["csrf"]
    r = client.post(f"/api/calls/{target}/review", json={"reason": "听过录音，结论无误"},
                    headers={"x-csrf-token": csrf})
    assert r.status_code == 200
    reviewed = client.get(f"/api/calls?month={month}&state=reviewed").json()
    assert [i["id"] for i in reviewed["items"]] == [target]
    unreviewed = client.get(f"/api/calls?month={month}&state=unreviewed&limit=500").json()
    assert target not in {i["id"] for i in unreviewed["items"]}
    from datetime import date, timedelta

    days = sorted({i["offered_at"][:10] for i in client.get(f"/api/calls?month={month}&limit=500").json()["items"]})
    on_first = client.get(f"/api/calls?date_from={days[0]}&date_to={days[0]}&limit=500").json()
    assert on_first["total"] > 0 and all(i["offered_at"].startswith(days[0]) for i in on_first["items"])
    eve = (date.fromisoformat(days[0]) - timedelta(days=1)).isoformat()
    assert client.get(f"/api/calls?month={month}&date_to={eve}").json()["total"] == 0
    assert client.get(f"/api/calls?date_from={days[0]}&date_to=2026-02-31").status_code == 422


def test_scorecard_matches_the_stored_scores_and_uses_the_reviewed_one(client: TestClient, pipeline_db: str) -> None:
    month = month_of(pipeline_db)
    (operator, _), *_ = rows(pipeline_db, "select c.operator, count(*) from calls c join scores s on s.call_id = c.id "
                                          "where s.score is not null group by c.operator order by 2 desc")
    card = client.get(f"/api/operators/{operator}/scorecard?month={month}").json()
    scores = [s for (s,) in rows(pipeline_db, "select s.score from scores s join calls c on c.id = s.call_id "
                                               f"where c.operator = '{operator}' and s.score is not null")]
    assert card["mean_score"] == round(sum(scores) / len(scores), 1)
    assert len(card["trend"]) == 12 and card["trend"][-1]["month"] == month
    call_id = rows(pipeline_db, "select s.call_id from scores s join calls c on c.id = s.call_id "
                                f"where c.operator = '{operator}' and s.score is not null")[0][0]
    csrf = client.get("/api/me").json()["csrf"]
    assert client.post(f"/api/calls/{call_id}/review", json={"reason": "人工改分", "score": 100},
                       headers={"x-csrf-token": csrf}).status_code == 200
    after = client.get(f"/api/operators/{operator}/scorecard?month={month}").json()
    old = rows(pipeline_db, f"select score from scores where call_id = {call_id}")[0][0]
    assert after["mean_score"] == round((sum(scores) - old + 100) / len(scores), 1)
    detail = client.get(f"/api/calls/{call_id}").json()
    assert detail["score"] == old and detail["reviewed"]["score"] == 100  # both visible


def test_search_ignores_spaces_punctuation_and_traditional_characters(client: TestClient, pipeline_db: str) -> None:
    (text,) = rows(pipeline_db, "select text from transcripts where length(text) > 8 limit 1")[0]
    phrase = text[2:7]
    from opencc import OpenCC

    traditional = OpenCC("s2t").convert(phrase)
    spaced = " ".join(traditional)
    for query in (phrase, spaced, traditional + "。"):
        hits = client.get("/api/search", params={"q": query}).json()["items"]
        assert hits and all(phrase in h["snippet"] for h in hits), query
    assert client.get("/api/search", params={"q": "这句话没有人说过吧"}).json()["items"] == []
