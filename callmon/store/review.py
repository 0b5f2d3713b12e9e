"""What the review UI reads: the flagged queue, one call in full, scorecards, transcript search.

Every query is a fixed handful of SQL statements whatever the month's size (150,000 calls):
filters, sorting, paging, the counts per flag reason and a scorecard's item rates run in the
database, on the indexes of migrations 0005 and 0006 (bench/bench_web.py measures them).  Where
a person reviewed a call, ``effective`` score and items are theirs and the automatic ones stay
beside them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Boolean, Select, Text, and_, case, column, func, literal_column, select, true
from sqlalchemy.orm import Session, defer, selectinload

from callmon.store.models import Call, Score, Transcript
from callmon.store.review_models import AuditRecord, Dispute, ScoreFlag

FLAG_KINDS = ("needs_human", "below_pass", "veto", "rings", "prohibited", "other")
REVIEW_STATES = ("unreviewed", "reviewed", "disputed")
SORTS = {"time": Call.first_event_us, "score": Score.score, "ring": Call.ring_ms, "operator": Call.operator}
_MAX_ITEMS = 24  # items per call a scorecard reads in SQL on SQLite (18 + a site's own; 4 paths each, <= 100 arguments)


def flag_kind(reason: str) -> str:
    """The kind of a flag reason as ``checks`` and ``judge`` word it (the queue filters on kinds)."""
    for prefix, kind in (("needs a human", "needs_human"), ("veto", "veto"), ("score", "below_pass"),
                         ("ring", "rings"), ("prohibited", "prohibited")):
        if reason.startswith(prefix):
            return kind
    return "other"


def set_flags(session: Session, call_id: int, reasons: list[str], flagged: bool) -> None:
    """Replace a call's flag kinds (called whenever its automatic score is stored)."""
    session.query(ScoreFlag).filter(ScoreFlag.call_id == call_id).delete()
    if flagged:
        session.add_all(ScoreFlag(call_id=call_id, kind=k) for k in sorted({flag_kind(r) for r in reasons}))


@dataclass
class QueueFilter:
    """The flagged queue's filters; ``operator`` set means only that operator's calls (their own view)."""

    start_us: int | None = None
    end_us: int | None = None
    operator: str | None = None
    reason: str | None = None
    min_score: int | None = None
    max_score: int | None = None
    state: str | None = None
    flagged_only: bool = True
    sort: str = "time"
    descending: bool = True
    offset: int = 0
    limit: int = 50


Span = tuple[int, int] | None


def _filtered(q: Select[Any], f: QueueFilter, span: Span = None) -> Select[Any]:
    if f.flagged_only:
        q = q.where(Score.flagged.is_(True))
    if f.start_us is not None:
        q = q.where(Call.first_event_us >= f.start_us)
    if f.end_us is not None:
        q = q.where(Call.first_event_us < f.end_us)
    if span is not None:  # the same calls, said so that the scores' index is read for this period only
        q = q.where(Call.id.between(*span))
        if f.flagged_only:
            q = q.where(Score.call_id.between(*span))
    if f.operator is not None:
        q = q.where(Call.operator == f.operator)
    effective = func.coalesce(Score.reviewed_score, Score.score)
    if f.min_score is not None:
        q = q.where(effective >= f.min_score)
    if f.max_score is not None:
        q = q.where(effective <= f.max_score)
    if f.state is not None:
        q = q.where(Score.review_state == f.state)
    if f.reason is not None:
        q = q.where(select(ScoreFlag.id).where(and_(ScoreFlag.call_id == Call.id,
                                                    ScoreFlag.kind == f.reason)).exists())
    return q


def _joined(q: Select[Any], f: QueueFilter) -> Select[Any]:
    return (q.select_from(Call).join(Score, Score.call_id == Call.id) if f.flagged_only
            else q.select_from(Call).outerjoin(Score, Score.call_id == Call.id))


def _id_span(session: Session, f: QueueFilter) -> tuple[bool, Span]:
    """(any call in the period, the lowest and highest call id in it) for a period without an operator.

    Flagged scores are found through their index on (flagged, call_id): bounding call_id by the
    period's ids keeps that to the period's scores (ids grow with time) instead of every month's,
    which the database could not know from the period's times alone.  An operator's calls are
    found through their own index; no span is needed.
    """
    if f.operator is not None or (f.start_us is None and f.end_us is None):
        return True, None
    # id + 0: not PostgreSQL's min/max shortcut, which walks the primary key from one end until it
    # meets the period (every older month); the period's index is read instead
    q = select(func.min(Call.id + 0), func.max(Call.id + 0))
    if f.start_us is not None:
        q = q.where(Call.first_event_us >= f.start_us)
    if f.end_us is not None:
        q = q.where(Call.first_event_us < f.end_us)
    lo, hi = session.execute(q).one()
    return (False, None) if lo is None else (True, (int(lo), int(hi)))


def page(session: Session, f: QueueFilter) -> list[tuple[Score | None, Call]]:
    """Only the page of ``queue`` (its rows, without the total and the counts).

    A list row needs no evidence: the scores' ``items`` and ``reviewed_items`` (kilobytes of JSON
    each) are loaded only if read.
    """
    any_call, span = _id_span(session, f)
    return _page(session, f, span) if any_call else []


def _page(session: Session, f: QueueFilter, span: Span) -> list[tuple[Score | None, Call]]:
    order = SORTS.get(f.sort, Call.first_event_us)
    # the page's ids first, sorted on narrow index columns; then only those calls in full (sorting
    # whole rows, the items' evidence included, costs seconds at 150,000 calls)
    ordered = _filtered(_joined(select(Call.id), f), f, span).order_by(
        order.desc() if f.descending else order.asc(), Call.id.desc() if f.descending else Call.id.asc())
    ids = list(session.scalars(ordered.offset(f.offset).limit(f.limit)))
    if not ids:
        return []
    found = {call.id: (score, call) for score, call in session.execute(
        select(Score, Call).select_from(Call).outerjoin(Score, Score.call_id == Call.id).where(Call.id.in_(ids))
        .options(defer(Score.items), defer(Score.reviewed_items)))}
    return [found[i] for i in ids if i in found]


def queue(session: Session, f: QueueFilter) -> dict[str, Any]:
    """One page of calls (flagged ones unless ``flagged_only`` is off), the total, counts per flag kind.

    Newest first by default; every call of the period is listed when ``flagged_only`` is off,
    those not scored yet included (their score is None).
    """
    any_call, span = _id_span(session, f)
    if not any_call:
        return {"rows": [], "total": 0, "counts": dict.fromkeys(FLAG_KINDS, 0)}
    rows = _page(session, f, span)
    total = session.scalar(_filtered(_joined(select(func.count(Call.id)), f), f, span)) or 0
    reasonless = QueueFilter(**{**f.__dict__, "reason": None})
    counts_q = _filtered(_joined(select(ScoreFlag.kind, func.count()), f)
                         .join(ScoreFlag, ScoreFlag.call_id == Call.id), reasonless, span).group_by(ScoreFlag.kind)
    counts = {kind: int(n) for kind, n in session.execute(counts_q).all()}
    return {"rows": rows, "total": int(total), "counts": {k: counts.get(k, 0) for k in FLAG_KINDS}}


def call_detail(session: Session, call_id: int) -> dict[str, Any] | None:
    """Everything the call page shows: the record and its rings, transcripts, both verdicts, disputes, audit."""
    call = session.get(Call, call_id, options=[selectinload(Call.rings_list)])
    if call is None:
        return None
    score = session.scalars(select(Score).where(Score.call_id == call_id)).first()
    transcripts = session.scalars(select(Transcript).where(Transcript.call_id == call_id)
                                  .order_by(Transcript.channel)).all()
    disputes = session.scalars(select(Dispute).where(Dispute.call_id == call_id).order_by(Dispute.id)).all()
    audit = session.scalars(select(AuditRecord).where(AuditRecord.call_id == call_id)
                            .order_by(AuditRecord.at_us, AuditRecord.id)).all()
    return {
        "call": call, "rings": sorted(call.rings_list, key=lambda r: (r.rung_us, r.id)),
        "score": score, "transcripts": list(transcripts), "disputes": list(disputes), "audit": list(audit),
    }


class Verdicts(Protocol):
    """A call's automatic and reviewed verdicts: a ``Score`` row, or ``period.ScoredCall`` read in bulk."""

    @property
    def score(self) -> int | None: ...
    @property
    def passed(self) -> bool | None: ...
    @property
    def items(self) -> Any: ...
    @property
    def reviewed_score(self) -> int | None: ...
    @property
    def reviewed_passed(self) -> bool | None: ...
    @property
    def reviewed_items(self) -> Any: ...


def effective_items(score: Verdicts) -> list[dict[str, Any]]:
    """The items that count: a person's where they reviewed, else the automatic ones."""
    return list(score.reviewed_items if score.reviewed_items is not None else score.items)


def effective_score(score: Verdicts) -> int | None:
    """The score that counts: a person's where they reviewed, else the automatic one."""
    return score.score if score.reviewed_score is None else score.reviewed_score


def effective_passed(score: Verdicts) -> bool | None:
    return score.passed if score.reviewed_passed is None else score.reviewed_passed


def _verdict_columns() -> tuple[Any, ...]:
    """calls, mean score, passed, scored, within the ring limit, timed, flagged: a scorecard's sums."""
    effective = func.coalesce(Score.reviewed_score, Score.score)
    passed = func.coalesce(Score.reviewed_passed, Score.passed)
    return (func.count(Call.id), func.avg(effective),
            func.sum(case((passed.is_(True), 1), else_=0)), func.count(passed),
            func.sum(case((Call.within_limit.is_(True), 1), else_=0)), func.count(Call.within_limit),
            func.sum(case((Score.flagged.is_(True), 1), else_=0)))


def _card(row: Any) -> dict[str, Any]:
    calls, mean, n_pass, n_scored, n_within, n_timed, n_flagged = row if row is not None else (0,) + (None,) * 6
    return {"calls": int(calls or 0), "mean_score": None if mean is None else round(float(mean), 1),
            "pass_rate_pct": _pct(n_pass, n_scored), "within_ring_limit_pct": _pct(n_within, n_timed),
            "flagged": int(n_flagged or 0)}


def trend(session: Session, operator: str, bounds: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """One operator's card for each [start, end) of ``bounds`` (months, say), in that order, from one
    grouped query: calls, mean score, pass rate, within-ring-limit rate, flagged (no item rates)."""
    if not bounds:
        return []
    period = case(*((and_(Call.first_event_us >= start, Call.first_event_us < end), k)
                    for k, (start, end) in enumerate(bounds)), else_=-1).label("period")
    q = (select(period, *_verdict_columns()).select_from(Call).outerjoin(Score, Score.call_id == Call.id)
         .where(Call.operator == operator, Call.outcome == "answered",
                Call.first_event_us >= min(b[0] for b in bounds), Call.first_event_us < max(b[1] for b in bounds))
         .group_by(period))
    found = {int(row[0]): row[1:] for row in session.execute(q)}
    return [_card(found.get(k)) for k in range(len(bounds))]


def scorecard(session: Session, operator: str, start_us: int, end_us: int,
              totals: dict[str, Any] | None = None) -> dict[str, Any]:
    """One operator's month from the reviewed result where there is one: calls, mean, rates, items.

    ``totals``: this period's entry of ``trend`` when the caller has it already (not asked again).
    """
    where = and_(Call.operator == operator, Call.first_event_us >= start_us, Call.first_event_us < end_us,
                 Call.outcome == "answered")
    card = dict(totals) if totals is not None else _card(session.execute(
        select(*_verdict_columns()).select_from(Call).outerjoin(Score, Score.call_id == Call.id).where(where)).one())
    owed, kept = _item_tally(session, where)
    return {"operator": operator, **card,
            "items_pct": {k: _pct(kept.get(k, 0), owed[k]) for k in sorted(owed)}, "items_owed": owed}


def _item_tally(session: Session, where: Any) -> tuple[dict[str, int], dict[str, int]]:
    """Per item id: on how many calls it was owed (a prohibited phrase always is) and kept.

    The database reads the items (a month's are tens of megabytes of JSON: decoding them in
    Python costs more than the rest of the scorecard); each distinct (id, kind, owed, found)
    comes back once with its number of calls.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        items = case((func.json_typeof(Score.reviewed_items) == "array", Score.reviewed_items),
                     (func.json_typeof(Score.items) == "array", Score.items), else_=literal_column("'[]'::json"))
        item = func.json_to_recordset(items).table_valued(
            column("id", Text), column("kind", Text), column("owed", Boolean), column("found", Boolean)
        ).render_derived(name="item", with_types=True)
        q = (select(item.c.id, item.c.kind, item.c.owed, item.c.found, func.count())
             .select_from(Score).join(Call, Call.id == Score.call_id).join(item, true()).where(where)
             .group_by(item.c.id, item.c.kind, item.c.owed, item.c.found))
        return tally_items([(i, k, o, f, int(n)) for i, k, o, f, n in session.execute(q)])
    if dialect == "sqlite":
        found = _sqlite_verdicts(session, where)
        if found is not None:
            return tally_items(found)
    return tally_items([(item["id"], item["kind"], item["owed"], item["found"], 1)
                   for items, reviewed in session.execute(select(Score.items, Score.reviewed_items)
                                                          .join(Call, Call.id == Score.call_id).where(where))
                   for item in (reviewed if reviewed is not None else items)])


def _sqlite_verdicts(session: Session, where: Any) -> list[tuple[Any, Any, Any, Any, int]] | None:
    """(id, kind, owed, found, calls) from one json_extract per call with a path per field of each
    item (the array is parsed once); None when a call has more items than paths were asked for."""
    items = case((func.json_type(Score.reviewed_items) == "array", Score.reviewed_items), else_=Score.items)
    paths: list[Any] = [literal_column(f"'$[{i}].{key}'") for i in range(_MAX_ITEMS)
                        for key in ("id", "kind", "owed", "found")]
    fields = func.json_extract(items, *paths, literal_column(f"'$[{_MAX_ITEMS}]'")).label("fields")
    q = (select(fields, func.count()).select_from(Score).join(Call, Call.id == Score.call_id).where(where)
         .group_by(literal_column("fields")))
    out: list[tuple[Any, Any, Any, Any, int]] = []
    for text_, n in session.execute(q):
        values = json.loads(text_)
        if values[-1] is not None:
            return None
        out += [(values[k], values[k + 1], values[k + 2], values[k + 3], int(n))
                for k in range(0, len(values) - 1, 4) if values[k] is not None]
    return out


def tally_items(verdicts: Iterable[tuple[Any, Any, Any, Any, int]], owed: dict[str, int] | None = None,
                kept: dict[str, int] | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """Per item id, from (id, kind, owed, found, calls): on how many calls it was owed and kept.

    The one rule behind every per-item compliance figure (``callmon score`` and the scorecard): a
    prohibited phrase is always owed and kept when not said; any other item counts where owed.
    Adds into ``owed``/``kept`` when given.
    """
    owed = {} if owed is None else owed
    kept = {} if kept is None else kept
    for item_id, kind, is_owed, found, n in verdicts:
        if kind == "prohibited":
            kept_it = not found
        elif is_owed:
            kept_it = bool(found)
        else:
            continue
        key = item_id if type(item_id) is str else str(item_id)
        owed[key] = owed.get(key, 0) + n
        if kept_it:
            kept[key] = kept.get(key, 0) + n
    return owed, kept


def tally_item_dicts(items: Iterable[dict[str, Any]], owed: dict[str, int], kept: dict[str, int]) -> None:
    """``tally_items`` for one call's stored item dicts (the same rule, without building tuples:
    a month is 2.6 million items)."""
    for item in items:
        kind = item["kind"]
        if kind == "prohibited":
            kept_it = not item["found"]
        elif item["owed"]:
            kept_it = bool(item["found"])
        else:
            continue
        key = item["id"]
        owed[key] = owed.get(key, 0) + 1
        if kept_it:
            kept[key] = kept.get(key, 0) + 1


def _pct(part: Any, whole: Any) -> float | None:
    return None if not whole else round(100.0 * float(part or 0) / float(whole), 1)


def operators(session: Session, start_us: int | None = None, end_us: int | None = None) -> list[str]:
    """The operator names that answered a stored call (in the period, when given): the queue's choices."""
    q = select(Call.operator).where(Call.operator.is_not(None))
    if start_us is not None:
        q = q.where(Call.first_event_us >= start_us)
    if end_us is not None:
        q = q.where(Call.first_event_us < end_us)
    return [o for o in session.scalars(q.distinct().order_by(Call.operator)) if o]


def search(session: Session, needle: str, operator: str | None = None, start_us: int | None = None,
           end_us: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Calls whose stored (normalised) transcript text contains ``needle`` (normalised by the caller)."""
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    q = (select(Transcript.call_id, Transcript.channel, Transcript.text, Call)
         .join(Call, Call.id == Transcript.call_id)
         .where(Transcript.text.like(f"%{escaped}%", escape="\\")))
    if operator is not None:
        q = q.where(Call.operator == operator)
    if start_us is not None:
        q = q.where(Call.first_event_us >= start_us)
    if end_us is not None:
        q = q.where(Call.first_event_us < end_us)
    out = []
    for call_id, channel, text, call in session.execute(q.order_by(Call.first_event_us.desc()).limit(limit)):
        at = text.find(needle)
        out.append({"id": call_id, "channel": channel, "operator": call.operator, "caller": call.caller,
                    "first_event_us": call.first_event_us,
                    "snippet": text[max(0, at - 20): at + len(needle) + 20], "at": at - max(0, at - 20)})
    return out
