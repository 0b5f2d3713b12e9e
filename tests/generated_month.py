"""A realistic, deterministic month of stored 110 calls, bulk-inserted for load tests and benchmarks.

``generate_month(engine)`` writes what the pipeline and the judge would have stored for a busy
centre: ``calls`` calls of ``month`` spread over the days with a day/night rate curve (~3 %
abandoned or unanswered), the operator rings (the answering one, sometimes a colleague's
unanswered ring before it), one ``scores`` row per answered call with the 18 items of the
Changzhou grammar in the shape ``judge`` stores (evidence, notes, deductions scored as
``checks._score`` does), flag reasons worded as ``checks``/``judge`` word them, the matching
``score_flags`` rows (``review.flag_kind``), and a few per cent reviewed or disputed calls
(with their ``disputes`` and ``audit_log`` rows).  The ``history_months`` months before are
generated the same way, thinner (``history_calls`` each), so 12-month scorecard trends have data.

Everything follows from ``seed`` (and the month): the same arguments on an empty database give
the same rows, ids included.  Rows go in with SQLAlchemy Core ``executemany`` in chunks, one
transaction per chunk: 150,000 calls (and 22,000 before them) take about a minute on SQLite and
PostgreSQL (50-65 s on a 2-core machine), 2,000 calls under two seconds.

Usable small from tests::

    info = generate_month(engine, calls=2000, operators=8)  # and 200 in each of the 11 months before
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, insert, select, text

from callmon.calls.rings import RingPolicy
from callmon.compliance.grammar import load_grammar
from callmon.compliance.grammar_schema import Grammar
from callmon.compliance.rescore import apply_verdict, rescore, verdict_of
from callmon.store.models import Call, OperatorRingRow, Score
from callmon.store.review import flag_kind
from callmon.store.review_models import AuditRecord, Dispute, ScoreFlag
from callmon.timeutil import month_range

GRAMMAR = Path(__file__).resolve().parents[1] / "grammars" / "changzhou-110.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
OPERATOR_BASE = 2001  # operator names op2001, op2002, ...
# calls per hour of the local day, relative: quiet before dawn, busiest in the evening
HOUR_WEIGHTS = (0.55, 0.42, 0.32, 0.26, 0.24, 0.28, 0.42, 0.68, 0.95, 1.1, 1.18, 1.2,
                1.15, 1.08, 1.1, 1.15, 1.22, 1.32, 1.48, 1.55, 1.5, 1.35, 1.05, 0.78)
WEEKDAY_WEIGHTS = (1.0, 0.97, 0.97, 0.98, 1.06, 1.12, 1.08)  # Monday first
ABANDONED = 0.022  # caller hung up while it rang
UNANSWERED = 0.008  # rang out with nobody answering
REJECTED_FIRST = 0.05  # an answered call that first rang a colleague who did not answer
NO_TRANSCRIPT = 0.006  # judged "needs a human: no transcript (...)"
NO_OPERATOR_SPEECH = 0.003
LOW_CONFIDENCE = 0.015
RING_TAIL = 0.05  # answered past the ring limit
PROHIBITED_SAID = 0.014
REVIEWED_FLAGGED = 0.12  # of the flagged calls a supervisor has reviewed already
DISPUTED_FLAGGED = 0.03  # of the flagged calls with an open dispute
REVIEWED_OTHERS = 0.01  # spot checks of calls that were not flagged
SUPERVISORS = ("sup01", "sup02", "sup03")
TABLES = ("calls", "operator_rings", "scores", "score_flags", "disputes", "audit_log")
NO_TRANSCRIPT_WHY = ("no recording found", "transcription timed out", "audio could not be decoded")
CALLER_SAYS = {  # what a caller said that counts as an element volunteered
    "element.when": "刚刚十分钟前", "element.where": "我在延陵西路和南大街路口", "element.what": "有人打架",
    "element.who": "我叫王伟", "element.why": "因为停车位吵起来的", "element.objects": "他手里拿着棍子",
    "element.outcome": "有一个人头上流血了", "element.contact": "我手机号就是这个",
}
# how often an item is missed by an average operator (skill scales it); elements first
MISS = {"greeting": 0.09, "element.when": 0.22, "element.where": 0.07, "element.what": 0.05,
        "element.who": 0.26, "element.why": 0.28, "element.objects": 0.36, "element.outcome": 0.27,
        "element.contact": 0.13}
# how often a situation is triggered on a call, and how often its response is then missed
TRIGGERED = {"situation.calming": 0.14, "situation.repeat_call": 0.05, "situation.urgent_help": 0.04,
             "situation.consultation": 0.07, "situation.rude_caller": 0.03, "situation.harassment": 0.02,
             "situation.complaint": 0.012}
SITUATION_MISS = 0.25
URGENT_MISS = 0.08  # a refused emergency is a veto: rarer


@dataclass(frozen=True)
class _Rules:
    """What the items are judged against, taken from the grammar once."""

    grammar: Grammar
    grammar_hash: str
    pass_mark: int
    budget: dict[str, tuple[int, int]]  # item id -> (budget, deduction)
    expected: dict[str, str]
    triggers: dict[str, str]
    responses: dict[str, list[str]]
    waivers: tuple[str, ...]
    elements: tuple[str, ...]
    situations: tuple[str, ...]
    prohibited: dict[str, list[str]]  # kind -> phrases
    vetoes: tuple[tuple[str, str, str, str | None], ...]  # (id, item, when, group)
    ring_policy: dict[str, object]
    policy: RingPolicy


def _rules(grammar: Grammar) -> _Rules:
    greeting = grammar.greeting_texts()[0].split("{", 1)[0].rstrip("，,")
    expected = {"greeting": greeting, "rings": "answered within the ring limit"}
    expected.update({e.id: e.asks[0] for e in grammar.elements})
    expected.update({s.id: s.responses[0].phrases[0] for s in grammar.situations})
    prohibited = {g.kind: list(g.phrases) for g in grammar.prohibited.groups}
    expected["prohibited"] = next(iter(prohibited.values()))[0]
    policy = RingPolicy(limit=grammar.rings.limit)  # the site's cadence is the default one (1 s on, 4 s off)
    return _Rules(
        grammar=grammar, grammar_hash=grammar.content_hash, pass_mark=grammar.scoring.pass_mark,
        budget={s.id: (s.budget, s.deduction) for s in grammar.scoring.items}, expected=expected,
        triggers={s.id: (s.triggers[0] if s.triggers else "") for s in grammar.situations},
        responses={s.id: [r.name for r in s.responses] for s in grammar.situations},
        waivers=tuple(grammar.elements_waived_by), elements=tuple(e.id for e in grammar.elements),
        situations=tuple(s.id for s in grammar.situations), prohibited=prohibited,
        vetoes=tuple((v.id, v.item, v.when, v.group) for v in grammar.scoring.vetoes),
        ring_policy=policy.describe(), policy=policy)


def operator_names(n: int) -> list[str]:
    return [f"op{OPERATOR_BASE + k}" for k in range(n)]


def month_bounds(month: str, tz: tzinfo) -> tuple[int, int]:
    return month_range(month, tz)


def months_before(month: str, n: int) -> list[str]:
    """The ``n`` months before ``month``, oldest first."""
    year, mon = int(month[:4]), int(month[5:7])
    out = []
    for _ in range(n):
        year, mon = (year - 1, 12) if mon == 1 else (year, mon - 1)
        out.append(f"{year:04d}-{mon:02d}")
    return out[::-1]


def generate_month(engine: Engine, month: str = "2026-10", calls: int = 150_000, operators: int = 40,
                   seed: int = 1, tz: tzinfo = SHANGHAI, history_months: int = 11, history_calls: int | None = None,
                   chunk: int = 5_000, analyze: bool = True, grammar: Grammar | None = None) -> dict[str, Any]:
    """Insert ``month`` (``calls`` calls) and the ``history_months`` months before it (``history_calls``
    each; by default a tenth of ``calls``, at most 2,000) into a migrated store; returns what was made
    (counts per month and table, operators, seconds).

    ``analyze``: VACUUM ANALYZE the tables on PostgreSQL afterwards (what autovacuum does some time
    after a bulk load: planner statistics, the visibility map that index-only scans need); SQLite
    is left as the application leaves it (no ANALYZE).
    """
    started = time.perf_counter()
    rules = _rules(grammar if grammar is not None else load_grammar(GRAMMAR))
    names = operator_names(operators)
    if history_calls is None:
        history_calls = min(2_000, max(1, calls // 10))
    with engine.connect() as conn:
        next_id = int(conn.scalar(select(func.coalesce(func.max(Call.id), 0))) or 0) + 1
    out: dict[str, Any] = {"month": month, "operators": names, "seed": seed, "months": {}}
    totals = {"calls": 0, "operator_rings": 0, "scores": 0, "score_flags": 0, "disputes": 0, "audit_log": 0}
    for m, n in [*((h, history_calls) for h in months_before(month, history_months)), (month, calls)]:
        if n <= 0:
            continue
        made = _generate_one(engine, rules, m, n, names, seed, tz, next_id, chunk)
        next_id += n
        out["months"][m] = made
        for table in totals:
            totals[table] += made["rows"][table]
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # explicit call ids: move the sequence past them
            conn.execute(text("SELECT setval(pg_get_serial_sequence('calls', 'id'), "
                              "(SELECT COALESCE(MAX(id), 1) FROM calls))"))
        if analyze:  # what autovacuum does a while after a bulk load: statistics, the visibility map
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE " + ", ".join(TABLES)))
    out["rows"] = totals
    out.update({k: out["months"][month][k] for k in ("start_us", "end_us", "answered", "scored", "flagged")}
               if month in out["months"] else {})
    out["calls"] = calls
    out["seconds"] = round(time.perf_counter() - started, 2)
    return out


def _generate_one(engine: Engine, rules: _Rules, month: str, calls: int, names: list[str], seed: int,
                  tz: tzinfo, first_id: int, chunk: int) -> dict[str, Any]:
    rng = random.Random(f"callmon-month:{seed}:{month}")
    skill_rng = random.Random(f"callmon-operators:{seed}")  # an operator is the same person every month
    skills = {name: min(0.98, max(0.55, skill_rng.gauss(0.82, 0.1))) for name in names}
    shares = [skill_rng.uniform(0.6, 1.4) for _ in names]  # some work more shifts than others
    start_us, end_us = month_bounds(month, tz)
    times = _call_times(rng, month, calls, tz, start_us, end_us)
    counts = {"calls": 0, "operator_rings": 0, "scores": 0, "score_flags": 0, "disputes": 0, "audit_log": 0}
    answered = scored = flagged = 0
    ops = rng.choices(names, weights=shares, k=calls)
    for lo in range(0, calls, chunk):
        rows: dict[str, list[dict[str, Any]]] = {k: [] for k in counts}
        for k in range(lo, min(calls, lo + chunk)):
            made = _one_call(rng, rules, first_id + k, times[k], ops[k], names, skills, tz)
            for table, new in made.items():
                rows[table].extend(new)
        # a call nobody reviewed has SQL NULL in reviewed_* (as the judge leaves it), not JSON null
        unreviewed = [{k: v for k, v in r.items() if not k.startswith("reviewed_")}
                      for r in rows["scores"] if r["reviewed_items"] is None]
        reviewed = [r for r in rows["scores"] if r["reviewed_items"] is not None]
        with engine.begin() as conn:
            for table, model, batch in (("calls", Call, rows["calls"]),
                                        ("operator_rings", OperatorRingRow, rows["operator_rings"]),
                                        ("scores", Score, unreviewed), ("scores", Score, reviewed),
                                        ("score_flags", ScoreFlag, rows["score_flags"]),
                                        ("disputes", Dispute, rows["disputes"]),
                                        ("audit_log", AuditRecord, rows["audit_log"])):
                if batch:
                    conn.execute(insert(model.__table__), batch)  # type: ignore[attr-defined]
                counts[table] += len(batch)
        answered += sum(1 for c in rows["calls"] if c["outcome"] == "answered")
        scored += sum(1 for s in rows["scores"] if s["score"] is not None)
        flagged += sum(1 for s in rows["scores"] if s["flagged"])
    return {"start_us": start_us, "end_us": end_us, "calls": calls, "answered": answered, "scored": scored,
            "flagged": flagged, "rows": counts}


def _call_times(rng: random.Random, month: str, calls: int, tz: tzinfo, start_us: int, end_us: int) -> list[int]:
    """First-event times over the month: a weighted (day, hour) cell, then uniform inside it; sorted."""
    year, mon = int(month[:4]), int(month[5:7])
    cells: list[tuple[int, int]] = []
    weights: list[float] = []
    day = datetime(year, mon, 1)
    while day.month == mon:
        for hour in range(24):
            local = (day + timedelta(hours=hour)).replace(tzinfo=tz)
            begin = int(local.timestamp() * 1_000_000)
            cells.append((begin, min(begin + 3_600_000_000, end_us)))
            weights.append(WEEKDAY_WEIGHTS[day.weekday()] * HOUR_WEIGHTS[hour])
        day += timedelta(days=1)
    cum = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    picked = rng.choices(cells, cum_weights=cum, k=calls)
    return sorted(max(start_us, min(end_us - 1, rng.randrange(a, max(a + 1, b)))) for a, b in picked)


def _ring_ms(rng: random.Random) -> int:
    """Mostly 2-10 s; ~5 % past the 15 s limit (a long tail)."""
    if rng.random() < RING_TAIL:
        return 15_000 + int(rng.expovariate(1 / 9_000))
    return int(min(14_900, max(900, rng.lognormvariate(math.log(5_200), 0.42))))


def _caller(rng: random.Random) -> str:
    if rng.random() < 0.78:
        return f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
    return f"0519{rng.randrange(8 * 10**7, 9 * 10**7):08d}"


def _one_call(rng: random.Random, rules: _Rules, call_id: int, first_us: int, op: str, names: list[str],
              skills: dict[str, float], tz: tzinfo) -> dict[str, list[dict[str, Any]]]:
    linkedid = f"{first_us // 1_000_000}.{call_id}"
    offered = first_us + rng.randrange(40_000, 900_000)
    roll = rng.random()
    call: dict[str, Any] = {
        "id": call_id, "pbx": "pbx1", "linkedid": linkedid, "source": "ami:pbx1", "caller": _caller(rng),
        "queue": "110", "operator": None, "operator_interface": None, "offered_us": offered, "answered_us": None,
        "ended_us": None, "first_event_us": first_us, "ring_ms": None, "wait_ms": None, "rings": None,
        "within_limit": None, "outcome": "answered", "abandoned": False, "abandoned_after_ms": None,
        "transferred": False, "transfer_target": None, "talk_ms": None, "hangup_cause": "Normal Clearing",
        "incomplete": False, "incomplete_reasons": [], "timed_by": "event", "recordings": [],
        "recording_roles": {}, "ring_policy": rules.ring_policy, "event_count": 0, "computed_us": 0,
    }
    rings: list[dict[str, Any]] = []
    policy = rules.policy
    serial = 1

    def ring(who: str, at: int, ms: int, outcome: str) -> dict[str, Any]:
        nonlocal serial
        serial += 1
        return {"call_id": call_id, "operator": who, "interface": f"PJSIP/{who[2:]}",
                "dest_uniqueid": f"{first_us // 1_000_000}.{call_id}{serial:02d}", "rung_us": at,
                "ended_us": at + ms * 1000, "ring_ms": ms, "outcome": outcome, "rings": policy.rings(ms),
                "within_limit": policy.within_limit(ms)}

    if roll < ABANDONED + UNANSWERED:
        ms = int(rng.uniform(3_000, 40_000))
        outcome = "abandoned" if roll < ABANDONED else "unanswered"
        rings.append(ring(op, offered + 300_000, ms, "cancelled" if outcome == "abandoned" else "no_answer"))
        ended = offered + 300_000 + ms * 1000 + rng.randrange(0, 500_000)
        call.update(outcome=outcome, abandoned=outcome == "abandoned", ended_us=ended, event_count=rng.randint(8, 14),
                    abandoned_after_ms=(ended - offered) // 1000 if outcome == "abandoned" else None,
                    hangup_cause="Normal Clearing" if outcome == "abandoned" else "No answer",
                    computed_us=ended + 2_000_000)
        return {"calls": [call], "operator_rings": rings}
    at = offered + rng.randrange(100_000, 400_000)
    if rng.random() < REJECTED_FIRST:
        other = rng.choice([n for n in names if n != op] or [op])
        ms = 15_000 + rng.randrange(0, 6_000)
        rings.append(ring(other, at, ms, "no_answer"))
        at += ms * 1000 + rng.randrange(50_000, 300_000)
    ring_ms = _ring_ms(rng)
    rings.append(ring(op, at, ring_ms, "answered"))
    answered_us = at + ring_ms * 1000
    talk_ms = int(min(1_800_000, max(8_000, rng.lognormvariate(math.log(95_000), 0.6))))
    ended = answered_us + talk_ms * 1000
    day = datetime.fromtimestamp(first_us / 1e6, tz).strftime("%Y%m%d")
    recordings = [f"/var/spool/asterisk/monitor/{day}/{linkedid}-in.wav",
                  f"/var/spool/asterisk/monitor/{day}/{linkedid}-out.wav"]
    transferred = rng.random() < 0.03
    call.update(operator=op, operator_interface=f"PJSIP/{op[2:]}", answered_us=answered_us, ended_us=ended,
                ring_ms=ring_ms, wait_ms=(answered_us - offered) // 1000, rings=policy.rings(ring_ms),
                within_limit=policy.within_limit(ring_ms), talk_ms=talk_ms, event_count=rng.randint(18, 42),
                transferred=transferred, transfer_target="Local/119@transfer" if transferred else None,
                recordings=recordings, recording_roles={recordings[0]: "caller", recordings[1]: "operator"},
                computed_us=ended + 2_000_000)
    score, extra = _score_row(rng, rules, call, skills[op])
    out: dict[str, list[dict[str, Any]]] = {"calls": [call], "operator_rings": rings, "scores": [score]}
    for table, new in extra.items():
        out[table] = new
    return out


def _evidence(rng: random.Random, text_said: str, clock: list[float], index: list[int],
              similarity: tuple[float, float] = (0.86, 1.0)) -> dict[str, Any]:
    start = clock[0] + rng.uniform(0.5, 6.0)
    end = start + 0.25 * len(text_said) + rng.uniform(0.2, 1.0)
    clock[0] = end
    index[0] += rng.randint(1, 3)
    return {"matched": text_said, "similarity": round(rng.uniform(*similarity), 3), "utterance": index[0],
            "start": round(start, 3), "end": round(end, 3)}


def _item(item_id: str, kind: str, owed: bool, found: bool, source: str | None, expected: str | None,
          evidence: dict[str, Any] | None = None, note: str | None = None,
          groups: list[str] | None = None) -> dict[str, Any]:
    ev = evidence or {}
    return {"id": item_id, "kind": kind, "owed": owed, "found": found, "source": source, "expected": expected,
            "matched": ev.get("matched"), "similarity": ev.get("similarity"), "utterance": ev.get("utterance"),
            "start": ev.get("start"), "end": ev.get("end"), "deduction": 0, "note": note, "groups": groups or []}


def _items(rng: random.Random, rules: _Rules, call: dict[str, Any], skill: float,
           silent: bool) -> list[dict[str, Any]]:
    """The 18 items of one call as ``check_call`` leaves them (deductions filled in by ``_deduct``)."""
    worse = (1.0 - skill) / 0.18 * rng.lognormvariate(0.0, 0.5)  # ~1 for an average operator's usual call
    clock, index = [0.0], [0]
    items: list[dict[str, Any]] = []
    if silent:
        items.append(_item("greeting", "greeting", True, False, None, rules.expected["greeting"],
                           note="no operator speech"))
    elif rng.random() < MISS["greeting"] * worse:
        if rng.random() < 0.4:  # said, but too late
            ev: dict[str, Any] | None = _evidence(rng, "你好常州110", [5.0], [-1])
            note = f"said at {ev['start']:.1f} s, after the 5 s allowed" if ev else None
        else:  # something else first; sometimes a near miss as evidence
            ev, note = (_evidence(rng, "喂你好", [0.0], [-1], (0.5, 0.7)) if rng.random() < 0.5 else None), None
        items.append(_item("greeting", "greeting", True, False, None, rules.expected["greeting"], ev, note))
    else:
        said = rng.choice(("你好常州110", "您好常州110", "你好长周110", "您好，常州110，2035号接警员"))
        items.append(_item("greeting", "greeting", True, True, "operator", rules.expected["greeting"],
                           _evidence(rng, said, [rng.uniform(-0.4, 0.6)], [-1])))
    triggered = {s: (rng.random() < p * (1.6 if s == "situation.calming" and skill < 0.75 else 1.0))
                 for s, p in TRIGGERED.items()}
    waived = [s for s in rules.waivers if triggered.get(s)]
    for element in rules.elements:
        expected = rules.expected[element]
        if silent:
            items.append(_item(element, "element", True, False, None, expected))
        elif waived:
            items.append(_item(element, "element", False, False, None, expected,
                               note=f"not owed: {', '.join(waived)} (no incident to ask about)"))
        elif rng.random() < MISS[element] * worse:
            near = _evidence(rng, expected[: max(2, len(expected) - 2)] + "吗", clock, index, (0.5, 0.79)) \
                if rng.random() < 0.3 else None
            items.append(_item(element, "element", True, False, None, expected, near))
        elif rng.random() < 0.15:
            items.append(_item(element, "element", True, True, "caller", expected,
                               _evidence(rng, CALLER_SAYS.get(element, expected), clock, index)))
        else:
            items.append(_item(element, "element", True, True, "operator", expected,
                               _evidence(rng, expected, clock, index)))
    for situation in rules.situations:
        expected = rules.expected[situation]
        if not triggered[situation] or silent:
            items.append(_item(situation, "situation", False, False, None, expected))
            continue
        trigger = rules.triggers[situation] or "报警人情绪激动"
        at = clock[0] + rng.uniform(1.0, 8.0)
        note = f"triggered by caller: {trigger!r} at {at:.1f} s"
        if situation == "situation.repeat_call" and rng.random() < 0.6:
            note = f"triggered: the same number called {rng.randint(3, 55)} min earlier (call {call['id'] - 7})"
        miss = (URGENT_MISS if situation == "situation.urgent_help" else SITUATION_MISS) * worse
        responses = rules.responses[situation]
        missing = [r for r in responses if rng.random() < miss]
        found = not missing
        ev = _evidence(rng, expected, clock, index) if found else (
            _evidence(rng, expected[:4], clock, index, (0.5, 0.75)) if rng.random() < 0.3 else None)
        item = _item(situation, "situation", True, found, "operator" if found else None, expected, ev,
                     note + (f"; missing: {', '.join(missing)}" if missing else ""))
        item["deduction"] = len(missing)  # a count until _deduct scales it, as checks does
        items.append(item)
    said: list[tuple[str, str]] = []
    if not silent and rng.random() < PROHIBITED_SAID * (0.5 + worse):
        kinds = list(rules.prohibited)
        for _ in range(1 if rng.random() < 0.8 else 2):
            kind = rng.choices(kinds, weights=[5, 3, 2, 1][: len(kinds)] + [1] * max(0, len(kinds) - 4))[0]
            said.append((kind, rng.choice(rules.prohibited[kind])))
    if said:
        ev = _evidence(rng, said[0][1], clock, index, (0.9, 1.0))
        note = "; ".join(f"{kind}: {phrase!r} at {ev['start'] + 4.0 * k:.1f} s"
                         for k, (kind, phrase) in enumerate(said))
        item = _item("prohibited", "prohibited", True, True, "operator", said[0][1], ev, note,
                     sorted({kind for kind, _ in said}))
        item["deduction"] = len(said)
        items.append(item)
    else:
        items.append(_item("prohibited", "prohibited", True, False, None, rules.expected["prohibited"]))
    items.append(_item("rings", "rings", True, bool(call["within_limit"]), "timing", rules.expected["rings"],
                       note=f"{call['rings']} ring(s), {call['ring_ms'] / 1000:.3f} s"))
    return items


def _deduct(rules: _Rules, items: list[dict[str, Any]]) -> tuple[int, bool, list[str]]:
    """``checks._score``: budgets, per-violation deductions, vetoes -> (total, passed, vetoes)."""
    total = 100
    for item in items:
        rule = rules.budget.get(item["id"])
        if rule is None or not item["owed"]:
            item["deduction"] = 0
            continue
        budget, per = rule
        if item["kind"] == "prohibited":
            count = item["deduction"] if item["found"] else 0
        elif item["kind"] == "situation":
            count = item["deduction"] if not item["found"] else 0
        else:
            count = 0 if item["found"] else 1
        item["deduction"] = min(budget, count * per)
        total -= item["deduction"]
    by_id = {i["id"]: i for i in items}
    vetoes = []
    for veto_id, target_id, when, group in rules.vetoes:
        target = by_id.get(target_id)
        if target is None or not target["owed"]:
            continue
        if when == "found" and target["found"] and (group is None or group in target["groups"]):
            vetoes.append(veto_id)
        elif when == "missed" and not target["found"]:
            vetoes.append(veto_id)
    return max(0, total), total >= rules.pass_mark and not vetoes, vetoes


def _score_row(rng: random.Random, rules: _Rules, call: dict[str, Any],
               skill: float) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    computed = call["ended_us"] + rng.randrange(30_000_000, 900_000_000)
    row: dict[str, Any] = {"call_id": call["id"], "grammar_hash": rules.grammar_hash, "computed_us": computed,
                           "review_state": "unreviewed", "reviewed_score": None, "reviewed_passed": None,
                           "reviewed_items": None, "reviewed_by": None, "reviewed_us": None}
    roll = rng.random()
    if roll < NO_TRANSCRIPT:
        reason = f"needs a human: no transcript ({rng.choice(NO_TRANSCRIPT_WHY)})"
        row.update(score=None, passed=None, flagged=True, flag_reasons=[reason], items=[])
        return row, {"score_flags": [{"call_id": call["id"], "kind": flag_kind(reason)}]}
    silent = roll < NO_TRANSCRIPT + NO_OPERATOR_SPEECH
    items = _items(rng, rules, call, skill, silent)
    total, passed, vetoes = _deduct(rules, items)
    reasons = []
    if silent:
        reasons.append("needs a human: no operator speech in the transcript")
    if total < rules.pass_mark:
        reasons.append(f"score {total} below the pass mark {rules.pass_mark}")
    reasons += [f"veto: {v}" for v in vetoes]
    if not call["within_limit"]:
        reasons.append("ring limit exceeded")
    if items[-2]["found"]:
        reasons.append("prohibited phrase")
    if not silent and rng.random() < LOW_CONFIDENCE:
        reasons.append("needs a human: low-confidence transcript")  # judge appends it last
    flagged = bool(reasons)
    row.update(score=total, passed=passed, flagged=flagged, flag_reasons=reasons, items=items)
    extra: dict[str, list[dict[str, Any]]] = {
        "score_flags": [{"call_id": call["id"], "kind": k} for k in sorted({flag_kind(r) for r in reasons})]}
    # a person looked at some: most flagged calls wait, a few were reviewed, a few are disputed
    review_roll = rng.random()
    if (flagged and review_roll < REVIEWED_FLAGGED) or (not flagged and review_roll < REVIEWED_OTHERS):
        _review(rng, rules, row, extra, call, computed)
    elif flagged and review_roll < REVIEWED_FLAGGED + DISPUTED_FLAGGED:
        _dispute(rng, row, extra, call, computed)
    return row, extra


def _review(rng: random.Random, rules: _Rules, row: dict[str, Any], extra: dict[str, list[dict[str, Any]]],
            call: dict[str, Any], computed: int) -> None:
    items = [dict(i) for i in row["items"]]
    before = {"score": row["score"], "items": {str(i["id"]): verdict_of(i) for i in items}, "state": "unreviewed"}
    changes = {}
    if rng.random() < 0.45:  # the supervisor disagreed with one item
        item = rng.choice([i for i in items if i["kind"] in ("greeting", "element", "situation")] or items)
        changes[str(item["id"])] = "missed" if verdict_of(item) == "found" else "found"
        apply_verdict(item, changes[str(item["id"])])
    score, passed, _ = rescore(rules.grammar, items)
    who = rng.choice(SUPERVISORS)
    at = computed + rng.randrange(3_600_000_000, 5 * 86_400_000_000)
    row.update(review_state="reviewed", reviewed_score=score, reviewed_passed=passed, reviewed_items=items,
               reviewed_by=who, reviewed_us=at)
    after = {"score": score, "items": {str(i["id"]): verdict_of(i) for i in items}, "state": "reviewed"}
    extra.setdefault("audit_log", []).append({
        "at_us": at, "username": who, "role": "supervisor", "action": "override" if changes else "confirm",
        "call_id": call["id"], "item_id": None, "before": before, "after": after,
        "reason": "录音复听，评分项调整" if changes else "复听确认"})


def _dispute(rng: random.Random, row: dict[str, Any], extra: dict[str, list[dict[str, Any]]],
             call: dict[str, Any], computed: int) -> None:
    candidates = [i for i in row["items"] if i["owed"] and not i["found"] and i["kind"] != "rings"]
    if not candidates:
        return
    item = rng.choice(candidates)
    at = computed + rng.randrange(3_600_000_000, 6 * 86_400_000_000)
    row["review_state"] = "disputed"
    username = f"u{call['operator']}"
    reason = "我问过了，录音里有，是识别错了"
    extra["disputes"] = [{"call_id": call["id"], "item_id": str(item["id"]), "username": username, "reason": reason,
                          "created_us": at, "state": "open", "resolved_by": None, "resolution": None,
                          "resolved_us": None}]
    extra.setdefault("audit_log", []).append({
        "at_us": at, "username": username, "role": "operator", "action": "dispute", "call_id": call["id"],
        "item_id": str(item["id"]), "before": None, "after": {"state": "open"}, "reason": reason})


def flagged_share(engine: Engine, month: str = "2026-10", tz: tzinfo = SHANGHAI) -> Iterator[tuple[str, int]]:
    """(flag kind, calls) of a generated month, for a quick look at the mix."""
    start, end = month_bounds(month, tz)
    with engine.connect() as conn:
        yield from conn.execute(
            select(ScoreFlag.kind, func.count()).join(Call, Call.id == ScoreFlag.call_id)
            .where(Call.first_event_us >= start, Call.first_event_us < end).group_by(ScoreFlag.kind)
            .order_by(ScoreFlag.kind)).tuples()
