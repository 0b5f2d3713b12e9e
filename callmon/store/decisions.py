"""What people decide about verdicts: reviews and overrides, disputes (申诉), calibration (校准).

Each decision changes ``scores.reviewed_*`` (never the automatic result) and writes an
``audit_log`` row in the same transaction: who, when, what before and after, why.  The
application has no path that edits or deletes an audit row, and the database refuses to.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callmon.compliance.rescore import apply_verdict, verdict_of
from callmon.store.jobs import now_us
from callmon.store.models import Call, Score
from callmon.store.review import effective_items, effective_score
from callmon.store.review_models import AuditRecord, CalibrationSample, CalibrationVerdict, Dispute


class DecisionError(ValueError):
    """A decision that cannot be taken as asked (the message says why, in the UI's language)."""


def audit(session: Session, username: str, role: str, action: str, call_id: int | None = None,
          item_id: str | None = None, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
          reason: str = "") -> None:
    session.add(AuditRecord(at_us=now_us(), username=username, role=role, action=action, call_id=call_id,
                            item_id=item_id, before=before, after=after, reason=reason))


def _score(session: Session, call_id: int) -> Score:
    score = session.scalars(select(Score).where(Score.call_id == call_id)).first()
    if score is None:
        raise DecisionError("这通电话还没有自动评分，无法复核")
    return score


def _open_dispute(session: Session, call_id: int, item_id: str | None = None) -> bool:
    """Whether the call (or that item of it) has a dispute waiting for a supervisor."""
    q = select(Dispute.id).where(Dispute.call_id == call_id, Dispute.state == "open")
    if item_id is not None:
        q = q.where(Dispute.item_id == item_id)
    return session.scalars(q.limit(1)).first() is not None


def dispute_deadline_us(score: Score, window_days: float) -> int:
    """Until when a call's items may be disputed: ``window_days`` from its first scoring, which
    re-judging (a grammar edit) does not move."""
    scored_at = score.first_scored_us if score.first_scored_us is not None else score.computed_us
    return scored_at + int(window_days * 86_400_000_000)


def _verdicts(items: list[dict[str, Any]]) -> dict[str, str]:
    return {str(i["id"]): verdict_of(i) for i in items}


Rescore = Callable[[list[dict[str, Any]]], tuple[int, bool, list[str]]]


def review(session: Session, call_id: int, username: str, role: str, reason: str, rescore: Rescore,
           changes: Mapping[str, str] | None = None, score: int | None = None, pass_mark: int = 80) -> Score:
    """Confirm the current result (no changes) or set items' verdicts (found / missed / not_owed)
    and so the score, recomputed by ``rescore``; or set the score itself (``score``), with the reason."""
    if not reason.strip():
        raise DecisionError("必须填写复核理由")
    row = _score(session, call_id)
    items = [dict(i) for i in effective_items(row)]
    if score is None and not items:
        # nothing was judged (no transcript): recomputing from no items would give full marks
        raise DecisionError("这通电话没有可复核的评分项，请直接给出分数")
    by_id = {str(i["id"]): i for i in items}
    unknown = sorted(set(changes or {}) - set(by_id))
    if unknown:
        raise DecisionError(f"没有这些评分项: {', '.join(unknown)}")
    if score is not None and not 0 <= score <= 100:
        raise DecisionError("分数必须在 0 到 100 之间")
    before = {"score": effective_score(row), "items": _verdicts(items), "state": row.review_state}
    for item_id, verdict in (changes or {}).items():
        if verdict != verdict_of(by_id[item_id]):
            try:
                apply_verdict(by_id[item_id], verdict)
            except ValueError as exc:
                raise DecisionError(str(exc)) from None
    computed, passed, vetoes = rescore(items)
    new_score = computed if score is None else score
    row.reviewed_items, row.reviewed_score = items, new_score
    row.reviewed_passed = passed if score is None else (score >= pass_mark and not vetoes)
    row.reviewed_by, row.reviewed_us = username, now_us()
    row.review_state = "disputed" if _open_dispute(session, call_id) else "reviewed"
    action = "confirm" if _verdicts(items) == before["items"] and new_score == before["score"] else "override"
    audit(session, username, role, action, call_id, None, before,
          {"score": new_score, "items": _verdicts(items), "state": row.review_state}, reason)
    return row


def open_dispute(session: Session, call_id: int, item_id: str, username: str, operator: str, reason: str,
                 window_days: float) -> Dispute:
    """An operator disputes an item of their own call within the window."""
    if not reason.strip():
        raise DecisionError("必须填写申诉理由")
    call = session.get(Call, call_id)
    if call is None or call.operator != operator:
        raise DecisionError("只能对自己接听的电话申诉")
    row = _score(session, call_id)
    if item_id not in {str(i["id"]) for i in row.items}:
        raise DecisionError(f"没有评分项 {item_id}")
    if now_us() > dispute_deadline_us(row, window_days):
        raise DecisionError(f"申诉期限已过（评分后 {window_days:g} 天内）")
    if _open_dispute(session, call_id, item_id):
        raise DecisionError("这一项已有待处理的申诉")
    dispute = Dispute(call_id=call_id, item_id=item_id, username=username, reason=reason, created_us=now_us(),
                      state="open")
    session.add(dispute)
    row.review_state = "disputed"
    audit(session, username, "operator", "dispute", call_id, item_id, None, {"state": "open"}, reason)
    session.flush()
    return dispute


def resolve_dispute(session: Session, dispute_id: int, username: str, role: str, accept: bool, reason: str,
                    rescore: Rescore) -> Dispute:
    """Accept (the item's verdict flips, as a review) or reject, with a reason either way."""
    if not reason.strip():
        raise DecisionError("必须填写处理理由")
    dispute = session.get(Dispute, dispute_id)
    if dispute is None or dispute.state != "open":
        raise DecisionError("没有这条待处理的申诉")
    dispute.state = "accepted" if accept else "rejected"
    dispute.resolved_by, dispute.resolution, dispute.resolved_us = username, reason, now_us()
    audit(session, username, role, "dispute_" + dispute.state, dispute.call_id, dispute.item_id,
          {"state": "open"}, {"state": dispute.state}, reason)
    session.flush()
    row = _score(session, dispute.call_id)
    if accept:
        item = next(i for i in effective_items(row) if str(i["id"]) == dispute.item_id)
        # the operator says the verdict is wrong: a kept-or-not item flips; a prohibited phrase was not said
        flipped = "missed" if verdict_of(item) == "found" else "found"
        review(session, dispute.call_id, username, role, f"申诉成立: {reason}", rescore, {dispute.item_id: flipped})
    else:
        if not _open_dispute(session, dispute.call_id):
            row.review_state = "reviewed" if row.reviewed_us is not None else "unreviewed"
    return dispute


def draw_sample(session: Session, month: str, start_us: int, end_us: int, per_10000: int, username: str,
                seed: int | None = None) -> CalibrationSample:
    """A random share of the month's answered, scored calls (at least one if there are any)."""
    ids = list(session.scalars(select(Call.id).join(Score, Score.call_id == Call.id)
                               .where(Call.outcome == "answered", Call.first_event_us >= start_us,
                                      Call.first_event_us < end_us).order_by(Call.id)))
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    k = min(len(ids), max(1 if ids else 0, round(len(ids) * per_10000 / 10000)))
    chosen = sorted(random.Random(seed).sample(ids, k))
    sample = CalibrationSample(month=month, per_10000=per_10000, seed=seed, created_by=username,
                               created_us=now_us(), call_ids=chosen)
    session.add(sample)
    session.flush()
    audit(session, username, "supervisor", "calibration_draw", None, None, None,
          {"sample": sample.id, "calls": len(chosen), "per_10000": per_10000}, "")
    return sample


def blind_verdict(session: Session, sample_id: int, call_id: int, username: str, items: dict[str, bool]) -> None:
    """One supervisor's blind verdict on one sampled call (replaces their earlier one for it)."""
    sample = session.get(CalibrationSample, sample_id)
    if sample is None or call_id not in sample.call_ids:
        raise DecisionError("这通电话不在校准样本中")
    row = session.scalars(select(CalibrationVerdict).where(
        CalibrationVerdict.sample_id == sample_id, CalibrationVerdict.call_id == call_id,
        CalibrationVerdict.username == username)).first()
    if row is None:
        row = CalibrationVerdict(sample_id=sample_id, call_id=call_id, username=username, created_us=now_us())
        session.add(row)
    row.items = dict(items)
    audit(session, username, "supervisor", "calibration_verdict", call_id, None, None, dict(items), "")
