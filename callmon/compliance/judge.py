"""Judging stored calls: transcript + timing -> stored score, and the per-operator table.

A call is judged as soon as its transcript is stored (the worker calls
``judge_call``).  A call that cannot be judged (its transcription failed, or
nothing was recognised) is stored flagged "needs a human", never silently
passed or failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callmon.calls.record import CallRecord
from callmon.compliance.checks import CheckResult, check_call
from callmon.compliance.grammar_schema import Grammar
from callmon.store.models import Score
from callmon.store.repository import Store


def judge_call(store: Store, grammar: Grammar, call_id: int, failure: str | None = None) -> CheckResult | None:
    """Check one stored call and store its score; ``failure`` = why it has no transcript."""
    record = store.call_by_id(call_id)
    if record is None:
        return None
    transcripts = store.transcripts(call_id)
    if failure is not None or not transcripts:
        short = (failure or "not transcribed").split(" (", 1)[0].split(": ", 1)[-1]  # the full error stays on the job
        reason = f"needs a human: no transcript ({short})"
        _save(store, call_id, grammar.content_hash, None, None, True, [reason], [])
        return None
    utterances = [u for t in transcripts for u in t["utterances"]]
    result = check_call(grammar, utterances, record.to_json())
    if any(t["low_confidence"] for t in transcripts if t["channel"] in ("operator", "mixed")):
        if "needs a human: low-confidence transcript" not in result.flag_reasons:
            result.flag_reasons.append("needs a human: low-confidence transcript")
            result.flagged = True
    _save(store, call_id, result.grammar_hash, result.score, result.passed, result.flagged,
          result.flag_reasons, [i.to_json() | {"note": i.note} for i in result.items])
    return result


def _save(store: Store, call_id: int, grammar_hash: str, score: int | None, passed: bool | None, flagged: bool,
          reasons: list[str], items: list[dict[str, Any]]) -> None:
    with Session(store.engine) as session, session.begin():
        row = session.scalars(select(Score).where(Score.call_id == call_id)).first()
        if row is None:
            row = Score(call_id=call_id)
            session.add(row)
        row.grammar_hash, row.score, row.passed, row.flagged = grammar_hash, score, passed, flagged
        row.flag_reasons, row.items, row.computed_us = reasons, items, time.time_ns() // 1000


@dataclass
class _Tally:
    calls: int = 0
    scores: list[int] = field(default_factory=list)
    passed: int = 0
    within: int = 0
    timed: int = 0
    flagged: int = 0
    owed: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)


def score_table(store: Store, records: Iterable[CallRecord]) -> dict[str, Any]:
    """Per operator: calls, mean score, pass rate, within-ring-limit rate, per-item compliance, flagged calls."""
    by_call = {r.linkedid: r for r in records if r.outcome == "answered"}
    ids = {store.call_id(linkedid): linkedid for linkedid in by_call}
    with Session(store.engine) as session:
        rows = session.scalars(select(Score).where(Score.call_id.in_([i for i in ids if i is not None]))).all()
    per: dict[str, _Tally] = {}
    flagged_calls = []
    for row in rows:
        record = by_call[ids[row.call_id]]
        tally = per.setdefault(record.operator or "?", _Tally())
        tally.calls += 1
        if row.score is not None:
            tally.scores.append(row.score)
            tally.passed += bool(row.passed)
        if record.within_limit is not None:
            tally.timed += 1
            tally.within += record.within_limit
        for item in row.items:
            item_id = str(item["id"])
            if item["owed"] and item["kind"] != "prohibited":
                tally.owed[item_id] = tally.owed.get(item_id, 0) + 1
                tally.kept[item_id] = tally.kept.get(item_id, 0) + bool(item["found"])
            elif item["kind"] == "prohibited":
                tally.owed["prohibited"] = tally.owed.get("prohibited", 0) + 1
                tally.kept["prohibited"] = tally.kept.get("prohibited", 0) + (not item["found"])
        if row.flagged:
            tally.flagged += 1
            flagged_calls.append({"linkedid": record.linkedid, "operator": record.operator, "score": row.score,
                                  "reasons": list(row.flag_reasons)})

    def pct(a: int, b: int) -> float | None:
        return None if b == 0 else round(100 * a / b, 1)

    operators = [{
        "operator": name, "calls": t.calls,
        "mean_score": round(sum(t.scores) / len(t.scores), 1) if t.scores else None,
        "pass_rate_pct": pct(t.passed, len(t.scores)), "within_ring_limit_pct": pct(t.within, t.timed),
        "flagged": t.flagged, "items_pct": {k: pct(t.kept[k], t.owed[k]) for k in sorted(t.owed)},
    } for name, t in sorted(per.items())]
    return {"operators": operators, "flagged_calls": flagged_calls}
