"""Judging stored calls: transcript + timing -> stored score, and the per-operator table.

A call is judged as soon as its transcript is stored (the worker calls
``judge_call``).  A call that cannot be judged (its transcription failed, or
nothing was recognised) is stored flagged "needs a human", never silently
passed or failed.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callmon.compliance.checks import OPERATOR_SIDE, CheckResult, check_call
from callmon.compliance.grammar_schema import Grammar
from callmon.compliance.score_figures import fold
from callmon.store.models import Score
from callmon.store.period import iter_scored
from callmon.store.repository import Store
from callmon.store.review import set_flags


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


def score_table(store: Store, start_us: int | None = None, end_us: int | None = None) -> dict[str, Any]:
    """Per operator and for the center: calls, mean score, pass rate, within-ring-limit rate,
    per-item compliance, flagged / reviewed / overridden / disputed calls, and the flagged calls.

    The month is read in bulk and folded one call at a time (``store.period``, ``score_figures``).
    """
    with Session(store.engine) as session:
        return fold(iter_scored(session, start_us, end_us))
