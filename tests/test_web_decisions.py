"""What people decide about verdicts, in the store, on SQLite and PostgreSQL alike.

Calls are made here and judged by the real checks with the site grammar
(grammars/changzhou-110.yaml) on hand-made transcripts, so each score has the items the
checker really produces.  Expected scores are worked out from the grammar's deductions, not
read back from the code under test.
"""

from __future__ import annotations

import copy
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from callmon.compliance.agreement import cohens_kappa, percent_agreement
from callmon.compliance.grammar import load_grammar
from callmon.compliance.grammar_schema import Grammar
from callmon.compliance.judge import judge_call, score_table
from callmon.compliance.rescore import rescore
from callmon.store import accounts, decisions
from callmon.store.db import open_store
from callmon.store.decisions import DecisionError
from callmon.store.jobs import now_us
from callmon.store.models import Call, Score, Transcript
from callmon.store.repository import Store
from callmon.store.review_models import AuditRecord, CalibrationSample, CalibrationVerdict, Dispute
from callmon.timeutil import month_range
from callmon.web import service
from callmon.web.app import create_app
from tests.webapp import web_config

ROOT = Path(__file__).resolve().parents[1]
GRAMMAR_FILE = ROOT / "grammars" / "changzhou-110.yaml"
DAY_US = 86_400_000_000

# Transcripts as Whisper heard two of the fixture calls (see tests/test_checks.py): a good one
# (greeting, where, when, contact, dispatch) and a rude one (no greeting, "知道了等着吧").
GOOD = [("operator", 0.864, 5.216, "你好长周110请说清楚发生了什么事情"), ("caller", 7.648, 8.736, "我家被刀了"),
        ("operator", 9.728, 11.04, "请说出具体的位置"), ("caller", 12.512, 13.856, "再喝平露3毫"),
        ("operator", 15.04, 16.672, "请问什么时间发生的"), ("caller", 18.336, 20.0, "刚才10点钟发现的"),
        ("operator", 21.6, 23.264, "请留下你的联系方式"), ("caller", 24.832, 28.48, "我的电话是138001234"),
        ("operator", 30.304, 33.376, "请不要着急我们马上派您紧来"), ("caller", 35.168, 36.86, "好的谢谢")]
RUDE = [("operator", 0.928, 1.888, "喂什么事"), ("caller", 2.752, 7.424, "我驾北到了在赫评路3号刚才10点钟发现的"),
        ("operator", 9.952, 11.72, "知道了等着吧")]


@pytest.fixture(scope="module")
def grammar() -> Grammar:
    return load_grammar(GRAMMAR_FILE)


@dataclass
class Db:
    url: str
    engine: Engine
    grammar: Grammar
    serial: Iterator[int]

    def add_call(self, operator: str, at_us: int, said: list[tuple[str, float, float, str]] | None = None,
                 outcome: str = "answered", caller: str = "13900000000", judge: bool = True) -> int:
        """A stored call (with transcripts when ``said``), judged by the real checks unless ``judge`` is off."""
        n = next(self.serial)
        with Session(self.engine) as session, session.begin():
            answered = outcome == "answered"
            call = Call(pbx="pbx1", linkedid=f"1795000000.{n}", source="test", caller=caller, queue="110",
                        operator=operator if answered else None, offered_us=at_us,
                        answered_us=at_us + 2_000_000 if answered else None, ended_us=at_us + 60_000_000,
                        first_event_us=at_us, ring_ms=2_000 if answered else None, wait_ms=2_000,
                        rings=1 if answered else None, within_limit=True if answered else None, outcome=outcome,
                        abandoned=not answered, timed_by="ami", computed_us=now_us(), event_count=0)
            session.add(call)
            session.flush()
            call_id = call.id
            for channel in ("operator", "caller"):
                rows = [{"channel": c, "start": s, "end": e, "text": t, "raw_text": t, "confidence": 0.9, "words": []}
                        for c, s, e, t in said or [] if c == channel]
                if rows:
                    session.add(Transcript(call_id=call_id, channel=channel, file=f"/nowhere/{n}-{channel}.wav",
                                           engine="test", model="test", audio_seconds=40.0, utterances=rows,
                                           text="".join(str(r["text"]) for r in rows), confidence=0.9,
                                           low_confidence=False, no_speech=False, created_us=now_us()))
        if answered and judge:
            judge_call(Store(self.engine), self.grammar, call_id, None if said else "no recording found")
        return call_id

    def score(self, call_id: int) -> Score:
        with Session(self.engine) as session:
            row = session.scalars(select(Score).where(Score.call_id == call_id)).one()
            session.expunge(row)
            return row

    def audit(self, **where: Any) -> list[AuditRecord]:
        with Session(self.engine) as session:
            q = select(AuditRecord).order_by(AuditRecord.id)
            for key, value in where.items():
                q = q.where(getattr(AuditRecord, key) == value)
            rows = list(session.scalars(q))
            session.expunge_all()
            return rows

    def rescorer(self) -> decisions.Rescore:
        return lambda items: rescore(self.grammar, items)


@pytest.fixture
def db(db_url: str, grammar: Grammar) -> Iterator[Db]:
    engine = open_store(db_url)
    yield Db(db_url, engine, grammar, itertools.count(1))
    engine.dispose()


def items_by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(i["id"]): i for i in items}


def rule(grammar: Grammar, item_id: str) -> Any:
    return next(r for r in grammar.scoring.items if r.id == item_id)


NOW = now_us()


# --------------------------------------------------------------------------------------------
# reviews and overrides
# --------------------------------------------------------------------------------------------

def test_a_decision_without_a_reason_is_refused(db: Db) -> None:
    call_id = db.add_call("op1001", NOW - DAY_US, GOOD)
    before = db.score(call_id)
    for reason in ("", "   ", "\n\t "):
        with Session(db.engine) as session, session.begin():
            with pytest.raises(DecisionError):
                decisions.review(session, call_id, "sup", "supervisor", reason, db.rescorer())
            with pytest.raises(DecisionError):
                decisions.review(session, call_id, "sup", "supervisor", reason, db.rescorer(), {"greeting": "missed"})
            with pytest.raises(DecisionError):
                decisions.open_dispute(session, call_id, "greeting", "op1", "op1001", reason, 7)
    after = db.score(call_id)
    assert (after.reviewed_score, after.reviewed_items, after.reviewed_by, after.review_state) == \
        (None, None, None, "unreviewed")
    assert after.items == before.items
    assert db.audit() == []


def test_override_rescores_with_the_grammar_and_keeps_the_automatic_result(db: Db) -> None:
    call_id = db.add_call("op1001", NOW - DAY_US, GOOD)
    auto = db.score(call_id)
    auto_items = items_by_id(copy.deepcopy(auto.items))
    assert auto.score is not None and auto_items["greeting"]["found"] and auto_items["greeting"]["owed"]
    missed = next(k for k, i in auto_items.items() if i["kind"] == "element" and i["owed"] and not i["found"])
    assert auto_items[missed]["deduction"] == rule(db.grammar, missed).deduction
    greeting = rule(db.grammar, "greeting")
    # the greeting was not given after all (-its deduction); the missed element was in fact asked (+ back)
    expected = auto.score - min(greeting.budget, greeting.deduction) + auto_items[missed]["deduction"]
    with Session(db.engine) as session, session.begin():
        decisions.review(session, call_id, "sup", "supervisor", "greeting inaudible; the name was asked at 0:14",
                         db.rescorer(), {"greeting": "missed", missed: "found"})
    row = db.score(call_id)
    assert row.reviewed_score == expected
    assert row.reviewed_passed is (expected >= db.grammar.scoring.pass_mark)
    assert row.reviewed_by == "sup" and row.reviewed_us is not None and row.review_state == "reviewed"
    reviewed = items_by_id(row.reviewed_items or [])
    assert reviewed["greeting"]["found"] is False and reviewed["greeting"]["overridden"] is True
    assert reviewed[missed]["found"] is True and reviewed[missed]["deduction"] == 0
    untouched = [k for k in reviewed if k not in ("greeting", missed)]
    assert all(not reviewed[k].get("overridden") for k in untouched)
    # the automatic result stays exactly as the checker left it
    assert (row.score, row.passed) == (auto.score, auto.passed)
    assert row.items == auto.items
    [record] = db.audit(call_id=call_id)
    assert (record.action, record.username, record.role) == ("override", "sup", "supervisor")
    assert record.before["score"] == auto.score and record.after["score"] == expected  # type: ignore[index]
    assert record.before["items"]["greeting"] == "found" and record.after["items"]["greeting"] == "missed"  # type: ignore[index]
    assert record.reason.startswith("greeting inaudible")


def test_confirm_and_explicit_score(db: Db) -> None:
    good = db.add_call("op1001", NOW - DAY_US, GOOD)
    rude = db.add_call("op1001", NOW - DAY_US + 1, RUDE)
    auto = db.score(good)
    with Session(db.engine) as session, session.begin():
        decisions.review(session, good, "sup", "supervisor", "agreed", db.rescorer())
    row = db.score(good)
    assert (row.reviewed_score, row.reviewed_passed) == (auto.score, auto.passed)
    assert [a.action for a in db.audit(call_id=good)] == ["confirm"]
    # a score typed in: kept as typed; it passes only at the pass mark and without a veto
    with Session(db.engine) as session, session.begin():
        decisions.review(session, good, "sup", "supervisor", "typed", db.rescorer(), score=db.grammar.scoring.pass_mark)
    assert db.score(good).reviewed_score == db.grammar.scoring.pass_mark and db.score(good).reviewed_passed is True
    rude_auto = db.score(rude)
    vetoed = rude_auto.passed is False and any(r.startswith("veto") for r in rude_auto.flag_reasons)
    with Session(db.engine) as session, session.begin():
        decisions.review(session, rude, "sup", "supervisor", "typed high", db.rescorer(), score=100)
    assert db.score(rude).reviewed_score == 100
    if vetoed:
        assert db.score(rude).reviewed_passed is False
    for bad in ({"no.such.item": "found"}, {"greeting": "maybe"}):
        with Session(db.engine) as session, session.begin(), pytest.raises(DecisionError):
            decisions.review(session, good, "sup", "supervisor", "bad", db.rescorer(), bad)
    for score in (-1, 101):
        with Session(db.engine) as session, session.begin(), pytest.raises(DecisionError):
            decisions.review(session, good, "sup", "supervisor", "bad", db.rescorer(), score=score)


def test_a_call_that_could_not_be_judged_gets_no_score_by_confirming(db: Db) -> None:
    """No transcript, no automatic score: "confirming" it must not turn into 100 points (a silent pass)."""
    call_id = db.add_call("op1001", NOW - DAY_US, None)
    auto = db.score(call_id)
    assert auto.score is None and auto.flagged
    with Session(db.engine) as session, session.begin(), pytest.raises(DecisionError):
        decisions.review(session, call_id, "sup", "supervisor", "listened: fine", db.rescorer())
    assert db.score(call_id).reviewed_score is None
    with Session(db.engine) as session, session.begin():
        decisions.review(session, call_id, "sup", "supervisor", "listened on the PBX: fine", db.rescorer(), score=90)
    row = db.score(call_id)
    assert (row.reviewed_score, row.reviewed_passed) == (90, True)


def test_audit_log_refuses_update_and_delete_in_the_database(db: Db) -> None:
    with Session(db.engine) as session, session.begin():
        decisions.audit(session, "sup", "supervisor", "confirm", 1, None, {"score": 70}, {"score": 80}, "why")
    statements = ["UPDATE audit_log SET reason = 'rewritten'", "UPDATE audit_log SET username = 'nobody'",
                  "DELETE FROM audit_log", "DELETE FROM audit_log WHERE username = 'sup'"]
    if db.engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_log")  # a statement-level trigger (migration 0007)
    for statement in statements:
        with db.engine.connect() as conn, pytest.raises(DBAPIError) as refused:
            with conn.begin():
                conn.execute(text(statement))
        assert "audit records cannot be changed or deleted" in str(refused.value)
    with Session(db.engine) as session, pytest.raises(DBAPIError):  # nor through the ORM
        with session.begin():
            record = session.scalars(select(AuditRecord)).one()
            record.reason = "rewritten"
    with Session(db.engine) as session, pytest.raises(DBAPIError):
        with session.begin():
            session.delete(session.scalars(select(AuditRecord)).one())
    [record] = db.audit()
    assert (record.username, record.reason, record.before, record.after) == ("sup", "why", {"score": 70},
                                                                             {"score": 80})
    with Session(db.engine) as session, session.begin():  # adding is still possible
        decisions.audit(session, "sup", "supervisor", "confirm", 1, reason="second")
    assert len(db.audit()) == 2


# --------------------------------------------------------------------------------------------
# disputes
# --------------------------------------------------------------------------------------------

def dispute(db: Db, call_id: int, item: str, operator: str = "op1001", username: str = "op1",
            window: float = 7) -> int:
    with Session(db.engine) as session, session.begin():
        return decisions.open_dispute(session, call_id, item, username, operator, f"dispute {item}", window).id


def resolve(db: Db, dispute_id: int, accept: bool, reason: str = "looked again") -> None:
    with Session(db.engine) as session, session.begin():
        decisions.resolve_dispute(session, dispute_id, "sup", "supervisor", accept, reason, db.rescorer())


def test_disputes_only_on_own_calls_and_items_that_exist(db: Db) -> None:
    mine = db.add_call("op1001", NOW - DAY_US, GOOD)
    with pytest.raises(DecisionError):
        dispute(db, mine, "greeting", operator="op1002", username="op2")
    with pytest.raises(DecisionError):
        dispute(db, mine, "no.such.item")
    with Session(db.engine) as session:
        assert session.scalar(select(func.count()).select_from(Dispute)) == 0
    assert dispute(db, mine, "greeting") > 0


def test_disputes_only_within_the_window(db: Db) -> None:
    call_id = db.add_call("op1001", NOW - 30 * DAY_US, GOOD)
    window_days = 7.0
    for age_days, allowed in ((window_days + 0.01, False), (window_days - 0.01, True)):
        with Session(db.engine) as session, session.begin():
            session.scalars(select(Score).where(Score.call_id == call_id)).one().first_scored_us = \
                now_us() - int(age_days * DAY_US)
        if allowed:
            assert dispute(db, call_id, "greeting", window=window_days) > 0
        else:
            with pytest.raises(DecisionError):
                dispute(db, call_id, "greeting", window=window_days)


def test_rejudging_a_call_does_not_reopen_the_dispute_window(db: Db) -> None:
    """The window counts from the first scoring: a call scored again today (after a grammar edit) was
    still scored first weeks ago."""
    call_id = db.add_call("op1001", NOW - 30 * DAY_US, GOOD)
    with Session(db.engine) as session, session.begin():
        row = session.scalars(select(Score).where(Score.call_id == call_id)).one()
        row.first_scored_us = now_us() - 20 * DAY_US
        row.computed_us = now_us()  # re-judged just now
    with pytest.raises(DecisionError):
        dispute(db, call_id, "greeting", window=7.0)


def test_one_open_dispute_per_item(db: Db) -> None:
    call_id = db.add_call("op1001", NOW - DAY_US, GOOD)
    first = dispute(db, call_id, "greeting")
    with pytest.raises(DecisionError):
        dispute(db, call_id, "greeting")
    assert dispute(db, call_id, "element.where") != first  # another item: fine
    assert db.score(call_id).review_state == "disputed"
    resolve(db, first, accept=False)
    assert dispute(db, call_id, "greeting") != first  # closed: may be disputed again
    with pytest.raises(DecisionError):  # resolved once: not again
        resolve(db, first, accept=True)


def test_accepted_dispute_flips_the_item_and_rescores_with_an_audit_record(db: Db) -> None:
    call_id = db.add_call("op1001", NOW - DAY_US, GOOD)
    auto = db.score(call_id)
    auto_items = items_by_id(copy.deepcopy(auto.items))
    missed = next(k for k, i in auto_items.items() if i["kind"] == "element" and i["owed"] and not i["found"])
    dispute_id = dispute(db, call_id, missed)
    assert db.score(call_id).review_state == "disputed"
    resolve(db, dispute_id, accept=True, reason="asked at 0:14")
    row = db.score(call_id)
    assert row.reviewed_score == auto.score + rule(db.grammar, missed).deduction
    assert items_by_id(row.reviewed_items or [])[missed]["found"] is True
    assert (row.score, row.items) == (auto.score, auto.items)
    assert row.review_state == "reviewed"
    with Session(db.engine) as session:
        d = session.get(Dispute, dispute_id)
        assert d is not None and (d.state, d.resolved_by, d.resolution) == ("accepted", "sup", "asked at 0:14")
    actions = [(a.action, a.username, a.item_id) for a in db.audit(call_id=call_id)]
    assert actions == [("dispute", "op1", missed), ("dispute_accepted", "sup", missed), ("override", "sup", None)]
    override = db.audit(call_id=call_id, action="override")[0]
    assert override.after["items"][missed] == "found" and "asked at 0:14" in override.reason  # type: ignore[index]


def test_accepted_dispute_of_a_prohibited_phrase_takes_the_deduction_back(db: Db) -> None:
    call_id = db.add_call("op1001", NOW - DAY_US, RUDE)
    auto = db.score(call_id)
    said = items_by_id(auto.items)["prohibited"]
    assert said["found"] and said["deduction"] > 0, "the rude call should have a prohibited phrase"
    resolve(db, dispute(db, call_id, "prohibited"), accept=True)
    row = db.score(call_id)
    assert items_by_id(row.reviewed_items or [])["prohibited"]["found"] is False
    assert row.reviewed_score == auto.score + said["deduction"]


def test_rejected_dispute_keeps_the_verdict(db: Db) -> None:
    call_id = db.add_call("op1001", NOW - DAY_US, GOOD)
    auto = db.score(call_id)
    resolve(db, dispute(db, call_id, "greeting"), accept=False, reason="greeting is on the recording")
    row = db.score(call_id)
    assert (row.reviewed_score, row.reviewed_items, row.score, row.items) == (None, None, auto.score, auto.items)
    assert row.review_state == "unreviewed"
    assert [a.action for a in db.audit(call_id=call_id)] == ["dispute", "dispute_rejected"]
    # after a review, a rejected dispute leaves the reviewed verdict as it was
    with Session(db.engine) as session, session.begin():
        decisions.review(session, call_id, "sup", "supervisor", "set", db.rescorer(), {"element.who": "found"})
    reviewed = db.score(call_id)
    resolve(db, dispute(db, call_id, "element.who"), accept=False)
    after = db.score(call_id)
    assert (after.reviewed_score, after.reviewed_items, after.review_state) == \
        (reviewed.reviewed_score, reviewed.reviewed_items, "reviewed")


# --------------------------------------------------------------------------------------------
# calibration
# --------------------------------------------------------------------------------------------

def test_draw_sample_takes_the_share_of_answered_scored_calls_of_the_month(db: Db) -> None:
    start, end = month_range("2026-10", web_config(db.url).tz)
    eligible = [db.add_call("op1001", start + k * 3_600_000_000, GOOD if k % 2 else RUDE) for k in range(40)]
    eligible.append(db.add_call("op1002", start, GOOD))  # the first microsecond of the month counts
    db.add_call("op1001", end, GOOD)  # the next month's first microsecond does not
    db.add_call("op1001", start - 1, GOOD)  # nor the last of the previous month
    db.add_call("op1001", start + 5, GOOD, judge=False)  # answered, not scored
    db.add_call("op1001", start + 6, None, outcome="abandoned")
    n = len(eligible)
    assert n == 41
    seen = set()
    for per_10000, expected in ((1000, round(n * 0.10)), (200, round(n * 0.02)), (1, 1), (10000, n), (2500, 10)):
        with Session(db.engine) as session, session.begin():
            sample = decisions.draw_sample(session, "2026-10", start, end, per_10000, "sup")
            ids = list(sample.call_ids)
        assert len(ids) == expected, (per_10000, len(ids))
        assert len(set(ids)) == len(ids) and set(ids) <= set(eligible) and ids == sorted(ids)
        seen.add(tuple(ids))
    with Session(db.engine) as session, session.begin():  # random, reproducible from the stored seed
        draws = [tuple(decisions.draw_sample(session, "2026-10", start, end, 1000, "sup", seed=s).call_ids)
                 for s in range(8)]
        again = decisions.draw_sample(session, "2026-10", start, end, 1000, "sup", seed=3).call_ids
    assert len(set(draws)) > 1 and tuple(again) == draws[3]
    empty_start, empty_end = month_range("2026-08", web_config(db.url).tz)
    with Session(db.engine) as session, session.begin():
        assert decisions.draw_sample(session, "2026-08", empty_start, empty_end, 200, "sup").call_ids == []
    draws_audited = db.audit(action="calibration_draw")
    assert len(draws_audited) == 5 + 8 + 1 + 1


def _set_items(db: Db, call_id: int, verdicts: dict[str, bool | None]) -> None:
    """The automatic verdicts of a call, made to order (None: not owed)."""
    with Session(db.engine) as session, session.begin():
        score = session.scalars(select(Score).where(Score.call_id == call_id)).one()
        score.items = [{"id": k, "kind": "element", "owed": v is not None, "found": bool(v), "deduction": 0}
                       for k, v in verdicts.items()]


def test_blind_verdicts_and_agreement_against_hand_computed_values(db: Db) -> None:
    start, end = month_range("2026-10", web_config(db.url).tz)
    calls = [db.add_call("op1001", start + k, GOOD) for k in range(4)]
    # automatic:      greeting T T F F ; element.who F F T (not owed on the 4th)
    for call_id, greeting, who in zip(calls, (True, True, False, False), (False, False, True, None), strict=True):
        _set_items(db, call_id, {"greeting": greeting, "element.who": who})
    with Session(db.engine) as session, session.begin():
        sample_id = decisions.draw_sample(session, "2026-10", start, end, 10000, "sup").id
    a = {"greeting": (True, False, False, False), "element.who": (False, False, True, True)}
    b = {"greeting": (True, True, True, False)}
    with Session(db.engine) as session, session.begin():
        for k, call_id in enumerate(calls):
            decisions.blind_verdict(session, sample_id, call_id, "sup", {i: v[k] for i, v in a.items()})
            decisions.blind_verdict(session, sample_id, call_id, "sup2", {"greeting": not b["greeting"][k]})
        for k, call_id in enumerate(calls):  # sup2 changes their mind: the later verdict replaces the first
            decisions.blind_verdict(session, sample_id, call_id, "sup2", {i: v[k] for i, v in b.items()})
    with Session(db.engine) as session:
        assert session.scalar(select(func.count()).select_from(CalibrationVerdict)) == 8
        with pytest.raises(DecisionError):  # a call outside the sample
            decisions.blind_verdict(session, sample_id, 10**6, "sup", {"greeting": True})
        with pytest.raises(DecisionError):
            decisions.blind_verdict(session, 10**6, calls[0], "sup", {"greeting": True})
        got = service.agreement(session, sample_id)
    assert got["calls"] == 4 and got["scored"] == 4
    per_item = {row["item"]: row for row in got["human_vs_automatic"]}
    # greeting, both supervisors against automatic (8 pairs): human T F F F T T T F / auto T T F F T T F F:
    # 6 of 8 agree = 75 %; each side says yes half the time, chance 0.5: kappa (0.75-0.5)/(1-0.5) = 0.5
    assert per_item["greeting"] == {"item": "greeting", "n": 8, "percent": 75.0, "kappa": 0.5}
    # element.who: only where the checker owed it (3 calls), only sup rated: all agree; chance 5/9: kappa 1
    assert per_item["element.who"] == {"item": "element.who", "n": 3, "percent": 100.0, "kappa": 1.0}
    # sup against sup2 on greeting: T F F F / T T T F: 2 of 4 = 50 %; chance .25*.75+.75*.25 = .375:
    # kappa (.5-.375)/(1-.375) = 0.2
    assert got["between_supervisors"] == [{"a": "sup", "b": "sup2", "n": 4, "percent": 50.0, "kappa": 0.2}]


def test_calibration_sample_is_blind_in_the_api(db: Db) -> None:
    start, end = month_range("2026-10", web_config(db.url).tz)
    call_id = db.add_call("op1001", start + 10, RUDE)
    with Session(db.engine) as session, session.begin():
        accounts.add_user(session, "sup", "supervisor", "supervisor-password-1")
        sample_id = decisions.draw_sample(session, "2026-10", start, end, 10000, "sup").id
    cfg = web_config(db.url)
    with TestClient(create_app(cfg, engine=db.engine)) as client:
        csrf = client.post("/api/session", json={"username": "sup", "password": "supervisor-password-1"}).json()["csrf"]
        got = client.get(f"/api/calibration/{sample_id}").json()
        assert got["calls"] == [{"id": call_id, "scored_by_me": False}]
        blind = client.get(f"/calibration/{sample_id}/calls/{call_id}")
        assert blind.status_code == 200
        auto = db.score(call_id)
        for hidden in ('id="auto-score"', "自动评分：", *auto.flag_reasons):
            assert hidden not in blind.text
        saved = client.post(f"/api/calibration/{sample_id}/calls/{call_id}", json={"items": {"greeting": False}},
                            headers={"X-CSRF-Token": csrf})
        assert saved.status_code == 200
        assert client.get(f"/api/calibration/{sample_id}").json()["calls"] == [{"id": call_id, "scored_by_me": True}]


# --------------------------------------------------------------------------------------------
# agreement.py on its own
# --------------------------------------------------------------------------------------------

def _table(yy: int, yn: int, ny: int, nn: int) -> tuple[list[bool], list[bool]]:
    """Two raters from a 2x2 table: yy both yes, yn first yes second no, ..."""
    a = [True] * (yy + yn) + [False] * (ny + nn)
    b = [True] * yy + [False] * yn + [True] * ny + [False] * nn
    return a, b


@pytest.mark.parametrize(("cells", "percent", "kappa"), [
    ((20, 5, 10, 15), 70.0, 0.4),  # po .70, pe .5*.6+.5*.4 = .50
    ((45, 15, 25, 15), 60.0, 0.1304),  # po .60, pe .6*.7+.4*.3 = .54
    ((25, 35, 5, 35), 60.0, 0.2593),  # po .60, pe .6*.3+.4*.7 = .46
    ((10, 0, 0, 10), 100.0, 1.0),
    ((0, 10, 10, 0), 0.0, -1.0),
    ((3, 0, 1, 0), 75.0, 0.0),  # the first always says yes: pe .75 = po
])
def test_kappa_known_examples(cells: tuple[int, int, int, int], percent: float, kappa: float) -> None:
    a, b = _table(*cells)
    assert percent_agreement(a, b) == pytest.approx(percent)
    assert cohens_kappa(a, b) == pytest.approx(kappa, abs=5e-5)
    assert cohens_kappa(b, a) == pytest.approx(kappa, abs=5e-5)  # symmetric


def test_kappa_undefined_cases() -> None:
    assert percent_agreement([], []) is None and cohens_kappa([], []) is None
    assert cohens_kappa([True] * 5, [True] * 5) is None  # one answer throughout: chance agreement is total
    assert cohens_kappa([False] * 3, [False] * 3) is None
    assert percent_agreement([True] * 5, [True] * 5) == 100.0  # but the agreement itself is still known
    with pytest.raises(ValueError):
        percent_agreement([True], [True, False])
    with pytest.raises(ValueError):
        cohens_kappa([True], [])


# --------------------------------------------------------------------------------------------
# ``callmon score`` counts a person's verdict
# --------------------------------------------------------------------------------------------

def test_score_table_and_callmon_score_use_the_reviewed_score(db: Db) -> None:
    tz = web_config(db.url).tz
    start, end = month_range("2026-10", tz)
    good = db.add_call("op1001", start + 1_000_000, GOOD)
    rude = db.add_call("op1001", start + 2_000_000, RUDE)
    auto_good, auto_rude = db.score(good).score, db.score(rude).score
    assert auto_good is not None and auto_rude is not None
    before = {o["operator"]: o for o in score_table(Store(db.engine), start, end)["operators"]}["op1001"]
    assert before["mean_score"] == round((auto_good + auto_rude) / 2, 1)
    with Session(db.engine) as session, session.begin():
        decisions.review(session, rude, "sup", "supervisor", "it was a test call", db.rescorer(), score=96)
        decisions.review(session, good, "sup", "supervisor", "greeting cut off", db.rescorer(),
                         {"greeting": "missed"})
    reviewed_good = db.score(good).reviewed_score
    assert reviewed_good == auto_good - rule(db.grammar, "greeting").deduction
    after = {o["operator"]: o for o in score_table(Store(db.engine), start, end)["operators"]}["op1001"]
    assert after["mean_score"] == round((reviewed_good + 96) / 2, 1)  # type: ignore[operator]
    assert after["items_pct"]["greeting"] == 0.0  # neither call has the greeting now (reviewed items count)
    expected_pass = sum(1 for s in (db.score(good), db.score(rude)) if s.reviewed_passed)
    assert after["pass_rate_pct"] == round(100 * expected_pass / 2, 1)
    # the command line says the same
    done = subprocess.run([sys.executable, "-m", "callmon", "score", "--month", "2026-10", "--json", "--db", db.url],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    table = json.loads(done.stdout)
    op = {o["operator"]: o for o in table["operators"]}["op1001"]
    assert op["mean_score"] == after["mean_score"] and op["items_pct"]["greeting"] == 0.0
    flagged = {c["linkedid"]: c["score"] for c in table["flagged_calls"]}
    with Session(db.engine) as session:
        rude_linkedid = session.get(Call, rude).linkedid  # type: ignore[union-attr]
    if rude_linkedid in flagged:
        assert flagged[rude_linkedid] == 96
    with Session(db.engine) as session:
        assert session.scalar(select(func.count()).select_from(CalibrationSample)) == 0
