"""Judging stored calls: transcript + timing -> stored score, and the per-operator table.

A call is judged as soon as its transcript is stored (the worker calls
``judge_call``).  A call that cannot be judged (its transcription failed, or
nothing was recognised) is stored flagged "needs a human", never silently
passed or failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callmon.calls.stats import share_pct
from callmon.compliance.checks import OPERATOR_SIDE, CheckResult, check_call
from callmon.compliance.grammar_schema import Grammar
from callmon.store.models import Call, Score
from callmon.store.repository import Store
from callmon.store.review import effective_items, effective_passed, effective_score, set_flags, tally_items


def judge_call(store: Store, grammar: Grammar, call_id: int, failure: str | None = None) -> CheckResult | None:
    """Check one stored call and store its score; ``failure`` = why it has no transcript."""
    record = store.call_by_id(call_id)
    if record is None:
        return None
    transcripts = store.transcripts(call_id)
    if failure is not None or not transcripts:
        short = (failure or "not transcribed").split(" (", 1)[0].split(": ", 1)[-1]  # the full error stays on the job
        reasons = [f"needs a human: no transcript ({short})"]
        if record.within_limit is False:  # the timing is known without any speech
            reasons.append("ring limit exceeded")
        _save(store, call_id, grammar.content_hash, None, None, True, reasons, [])
        return None
    utterances = [u for t in transcripts for u in t["utterances"]]
    minutes = max((s.repeat_within_minutes or 0 for s in grammar.situations), default=0)
    earlier = store.earlier_call(call_id, minutes * 60_000_000) if minutes else None
    result = check_call(grammar, utterances, record.to_json(),
                        None if earlier is None else (earlier[0], earlier[1] / 60_000_000))
    if any(t["low_confidence"] for t in transcripts if t["channel"] in OPERATOR_SIDE):
        if "needs a human: low-confidence transcript" not in result.flag_reasons:
            result.flag_reasons.append("needs a human: low-confidence transcript")
            result.flagged = True
    _save(store, call_id, result.grammar_hash, result.score, result.passed, result.flagged,
          result.flag_reasons, [i.to_json() | {"note": i.note, "groups": i.groups} for i in result.items])
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
        if row.first_scored_us is None:  # kept through re-judging: the dispute window counts from here
            row.first_scored_us = row.computed_us
        set_flags(session, call_id, reasons, flagged)  # the queue filters and counts by flag kind


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


def score_table(store: Store, start_us: int | None = None, end_us: int | None = None) -> dict[str, Any]:
    """Per operator: calls, mean score, pass rate, within-ring-limit rate, per-item compliance, flagged calls.

    One query joins the scores to their calls (a month is 150,000 calls: no query per call).
    """
    query = (select(Score, Call).join(Call, Call.id == Score.call_id).where(Call.outcome == "answered")
             .order_by(Call.first_event_us, Call.linkedid))
    if start_us is not None:
        query = query.where(Call.first_event_us >= start_us)
    if end_us is not None:
        query = query.where(Call.first_event_us < end_us)
    with Session(store.engine) as session:
        rows = session.execute(query).all()
    per: dict[str, _Tally] = {}
    flagged_calls = []
    for row, record in rows:
        tally = per.setdefault(record.operator or "?", _Tally())
        tally.calls += 1
        score = effective_score(row)  # a person's verdict counts
        if score is not None:
            tally.scores.append(score)
            tally.passed += bool(effective_passed(row))
        if record.within_limit is not None:
            tally.timed += 1
            tally.within += record.within_limit
        tally_items(((i["id"], i["kind"], i["owed"], i["found"], 1) for i in effective_items(row)),
                    tally.owed, tally.kept)
        if row.flagged:
            tally.flagged += 1
            flagged_calls.append({"linkedid": record.linkedid, "operator": record.operator, "score": score,
                                  "reasons": list(row.flag_reasons)})

    operators = [{
        "operator": name, "calls": t.calls,
        "mean_score": round(sum(t.scores) / len(t.scores), 1) if t.scores else None,
        "pass_rate_pct": share_pct(t.passed, len(t.scores)), "within_ring_limit_pct": share_pct(t.within, t.timed),
        "flagged": t.flagged, "items_pct": {k: share_pct(t.kept[k], t.owed[k]) for k in sorted(t.owed)},
    } for name, t in sorted(per.items())]
    return {"operators": operators, "flagged_calls": flagged_calls}
