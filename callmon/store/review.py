"""What the review UI reads: the flagged queue, one call in full, scorecards, transcript search.

Every query is one or two SQL statements whatever the month's size (150,000 calls): filters,
sorting, paging and the counts per flag reason run in the database, on the indexes of
migration 0005.  Where a person reviewed a call, ``effective`` score and items are theirs and
the automatic ones stay beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session, selectinload

from callmon.store.models import Call, Score, Transcript
from callmon.store.review_models import AuditRecord, Dispute, ScoreFlag

FLAG_KINDS = ("needs_human", "below_pass", "veto", "rings", "prohibited", "other")
REVIEW_STATES = ("unreviewed", "reviewed", "disputed")
SORTS = {"time": Call.first_event_us, "score": Score.score, "ring": Call.ring_ms, "operator": Call.operator}


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
    call_ids: list[int] | None = field(default=None)


def _filtered(q: Select[Any], f: QueueFilter) -> Select[Any]:
    if f.flagged_only:
        q = q.where(Score.flagged.is_(True))
    if f.start_us is not None:
        q = q.where(Call.first_event_us >= f.start_us)
    if f.end_us is not None:
        q = q.where(Call.first_event_us < f.end_us)
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


def queue(session: Session, f: QueueFilter) -> dict[str, Any]:
    """One page of calls (flagged ones unless ``flagged_only`` is off), the total, counts per flag kind.

    Newest first by default; every call of the period is listed when ``flagged_only`` is off,
    those not scored yet included (their score is None).
    """
    def joined(q: Select[Any]) -> Select[Any]:
        return (q.select_from(Call).join(Score, Score.call_id == Call.id) if f.flagged_only
                else q.select_from(Call).outerjoin(Score, Score.call_id == Call.id))

    order = SORTS.get(f.sort, Call.first_event_us)
    ordered = _filtered(joined(select(Score, Call)), f).order_by(
        order.desc() if f.descending else order.asc(), Call.id.desc() if f.descending else Call.id.asc())
    rows = session.execute(ordered.offset(f.offset).limit(f.limit)).all()
    total = session.scalar(_filtered(joined(select(func.count(Call.id))), f)) or 0
    reasonless = QueueFilter(**{**f.__dict__, "reason": None})
    counts_q = _filtered(joined(select(ScoreFlag.kind, func.count())).join(ScoreFlag, ScoreFlag.call_id == Call.id),
                         reasonless).group_by(ScoreFlag.kind)
    counts = {kind: int(n) for kind, n in session.execute(counts_q).all()}
    return {"rows": [(score, call) for score, call in rows], "total": int(total),
            "counts": {k: counts.get(k, 0) for k in FLAG_KINDS}}


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


def effective_items(score: Score) -> list[dict[str, Any]]:
    """The items that count: a person's where they reviewed, else the automatic ones."""
    return list(score.reviewed_items if score.reviewed_items is not None else score.items)


def scorecard(session: Session, operator: str, start_us: int, end_us: int) -> dict[str, Any]:
    """One operator's month from the reviewed result where there is one: calls, mean, rates, items."""
    effective = func.coalesce(Score.reviewed_score, Score.score)
    passed = func.coalesce(Score.reviewed_passed, Score.passed)
    where = and_(Call.operator == operator, Call.first_event_us >= start_us, Call.first_event_us < end_us,
                 Call.outcome == "answered")
    row = session.execute(
        select(func.count(Call.id), func.avg(effective),
               func.sum(case((passed.is_(True), 1), else_=0)), func.count(passed),
               func.sum(case((Call.within_limit.is_(True), 1), else_=0)), func.count(Call.within_limit),
               func.sum(case((Score.flagged.is_(True), 1), else_=0)))
        .select_from(Call).outerjoin(Score, Score.call_id == Call.id).where(where)).one()
    calls, mean, n_pass, n_scored, n_within, n_timed, n_flagged = row
    owed: dict[str, int] = {}
    kept: dict[str, int] = {}
    items_q = (select(Score.items, Score.reviewed_items).join(Call, Call.id == Score.call_id).where(where))
    for items, reviewed in session.execute(items_q):
        for item in reviewed if reviewed is not None else items:
            item_id = str(item["id"])
            if item["kind"] == "prohibited":
                owed[item_id] = owed.get(item_id, 0) + 1
                kept[item_id] = kept.get(item_id, 0) + (not item["found"])
            elif item["owed"]:
                owed[item_id] = owed.get(item_id, 0) + 1
                kept[item_id] = kept.get(item_id, 0) + bool(item["found"])
    return {"operator": operator, "calls": int(calls or 0),
            "mean_score": None if mean is None else round(float(mean), 1),
            "pass_rate_pct": _pct(n_pass, n_scored), "within_ring_limit_pct": _pct(n_within, n_timed),
            "flagged": int(n_flagged or 0),
            "items_pct": {k: _pct(kept[k], owed[k]) for k in sorted(owed)}, "items_owed": owed}


def _pct(part: Any, whole: Any) -> float | None:
    return None if not whole else round(100.0 * float(part or 0) / float(whole), 1)


def operators(session: Session) -> list[str]:
    """Every operator name that answered a stored call."""
    return [o for o in session.scalars(select(Call.operator).where(Call.operator.is_not(None))
                                       .distinct().order_by(Call.operator)) if o]


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
