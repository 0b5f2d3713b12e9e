"""What the API and the pages both do: sign-in, filters, the call page, scorecards, calibration.

Handlers stay thin; everything here takes the request (for the configuration and the grammar)
and a database session, and returns plain dictionaries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from callmon.calls.record import CallRecord
from callmon.compliance.agreement import cohens_kappa, percent_agreement
from callmon.compliance.rescore import rescore
from callmon.speech.normalize import normalize_text
from callmon.speech.recordings import RecordingMissing, locate
from callmon.store import accounts, decisions, review
from callmon.store.accounts import Principal
from callmon.store.jobs import now_us
from callmon.store.models import Call, Score, Transcript
from callmon.store.repository import to_record
from callmon.store.review_models import AuditRecord, CalibrationSample, CalibrationVerdict, Dispute
from callmon.timeutil import month_range, months_up_to, since_us
from callmon.web.security import COOKIE, not_found, web_config
from callmon.web.views import call_summary, checklist, iso, timeline, utterances

T = TypeVar("T")
__all__ = ["iso"]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


def sign_in(request: Request, session: Session, username: str, password: str) -> tuple[str | None, str]:
    """(token, "") on success; (None, "throttled" | "wrong user name or password") otherwise."""
    cfg = web_config(request)
    since = now_us() - int(cfg.login_window_minutes * 60_000_000)
    by_user, by_addr = accounts.failures_since(session, username, client_address(request), since)
    if by_user >= cfg.login_max_failures or by_addr >= cfg.login_max_failures * 4:
        return None, "throttled"
    user = accounts.authenticate(session, username, password, client_address(request))
    if user is None:
        return None, "wrong user name or password"
    decisions.audit(session, user.username, user.role, "sign_in", reason=client_address(request))
    return accounts.start_session(session, user), ""


def set_cookie(request: Request, response: Response, token: str) -> None:
    cfg = web_config(request)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=cfg.secure_cookies, path="/",
                        max_age=int(cfg.idle_minutes * 60) * 16)


def month_bounds(request: Request, month: str | None) -> tuple[int | None, int | None]:
    if not month:
        return None, None
    return month_range(month, request.app.state.config.tz)


def queue_filter(request: Request, who: Principal, month: str | None, flagged: bool, operator: str | None,
                 reason: str | None, min_score: int | None, max_score: int | None, state: str | None, sort: str,
                 order: str, offset: int, limit: int, date_from: str | None = None,
                 date_to: str | None = None) -> review.QueueFilter:
    """The filter as asked, narrowed to the user's own calls for an operator.

    ``date_from``/``date_to`` (YYYY-MM-DD, both days included, site time zone) narrow a month or
    stand alone.
    """
    start, end = month_bounds(request, month)
    tz = request.app.state.config.tz
    if date_from:
        first = since_us(date_from, tz)
        start = first if start is None else max(start, first)
    if date_to:
        last = since_us(date_to, tz) + 86_400_000_000  # the whole last day (a DST day is not in China)
        end = last if end is None else min(end, last)
    if who.role == "operator":
        operator = who.operator or "\0"
    return review.QueueFilter(start_us=start, end_us=end, operator=operator or None, reason=reason,
                              min_score=min_score, max_score=max_score, state=state, flagged_only=flagged,
                              sort=sort, descending=order != "asc", offset=offset, limit=limit)


def call_page(request: Request, session: Session, call_id: int) -> dict[str, Any]:
    tz = request.app.state.config.tz
    detail = review.call_detail(session, call_id)
    if detail is None:
        raise not_found()
    call, score = detail["call"], detail["score"]
    said = utterances(detail["transcripts"])
    out = call_summary(call, score, tz)
    out.update({
        "ended_at": iso(call.ended_us, tz), "talk_seconds": None if call.talk_ms is None else call.talk_ms / 1000,
        "transferred": call.transferred, "incomplete": call.incomplete, "ring_limit": call.ring_policy.get("limit"),
        "timeline": timeline(call, detail["rings"], tz), "utterances": said,
        "channels": sorted({t.channel for t in detail["transcripts"]}),
        "grammar_hash": None if score is None else score.grammar_hash,
        "automatic": None if score is None else {"score": score.score, "passed": score.passed,
                                                 "items": checklist(list(score.items), said)},
        "reviewed": None if score is None or score.reviewed_items is None else {
            "score": score.reviewed_score, "passed": score.reviewed_passed, "by": score.reviewed_by,
            "at": iso(score.reviewed_us, tz), "items": checklist(list(score.reviewed_items), said)},
        "disputes": [dispute_json(d, tz) for d in detail["disputes"]],
        "audit": [audit_json(a, tz) for a in detail["audit"]],
        "dispute_deadline": None if score is None else iso(
            decisions.dispute_deadline_us(score, web_config(request).dispute_days), tz),
        # `callmon purge`: the evidence is gone on purpose, the verdict stays (the page says so)
        "removed_by_retention": {"recordings": iso(call.recordings_purged_us, tz),
                                 "transcripts": iso(call.transcripts_purged_us, tz)},
    })
    return out


def audio_path(request: Request, session: Session, call_id: int, channel: str,
               transcripts: list[Transcript]) -> Path | None:
    """The file holding a channel: the one transcribed for it (or the mixed one), else located again.

    None once retention removed the call's recordings, even where a file of that name is back."""
    call = session.get(Call, call_id)
    if call is None or call.recordings_purged_us is not None:
        return None
    for wanted in (channel, "mixed"):
        for t in transcripts:
            if t.channel == wanted and Path(t.file).is_file():
                return Path(t.file)
    record: CallRecord = to_record(call)
    try:
        sources = locate(record, request.app.state.config.recordings)
    except RecordingMissing:
        return None
    for source in sources:
        if source.role in (channel, "mixed"):
            return source.path
    return None


PLAY_WINDOW_US = 10 * 60_000_000


def played_recently(session: Session, username: str, call_id: int, channel: str) -> bool:
    """Whether this user's playing of this recording was logged in the last ten minutes: a player
    fetches one file in many Range requests, and each listening should be one audit row, whichever
    byte the first request starts at."""
    since = now_us() - PLAY_WINDOW_US
    return session.scalars(select(AuditRecord.id).where(
        AuditRecord.action == "play", AuditRecord.username == username, AuditRecord.call_id == call_id,
        AuditRecord.item_id == channel, AuditRecord.at_us >= since).limit(1)).first() is not None


def decide(action: Callable[[], T]) -> T:
    """Run a decision; what cannot be decided is a 409 with the reason (not a 500)."""
    try:
        return action()
    except decisions.DecisionError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None


def rescorer(request: Request) -> decisions.Rescore:
    grammar = request.app.state.grammar
    return lambda items: rescore(grammar, items)


def dispute_json(d: Dispute, tz: tzinfo) -> dict[str, Any]:
    return {"id": d.id, "call_id": d.call_id, "item_id": d.item_id, "by": d.username, "reason": d.reason,
            "created_at": iso(d.created_us, tz), "state": d.state, "resolved_by": d.resolved_by,
            "resolution": d.resolution, "resolved_at": iso(d.resolved_us, tz)}


def disputes(request: Request, session: Session, who: Principal, state: str | None) -> list[dict[str, Any]]:
    """The newest 500 disputes (in ``state`` when given); an operator sees only their own."""
    q = select(Dispute).order_by(Dispute.created_us.desc()).limit(500)
    if state is not None:
        q = q.where(Dispute.state == state)
    if who.role == "operator":
        q = q.where(Dispute.username == who.username)
    tz = request.app.state.config.tz
    return [dispute_json(d, tz) for d in session.scalars(q)]


def audit_trail(request: Request, session: Session, call_id: int | None, offset: int = 0,
                limit: int = 200) -> list[dict[str, Any]]:
    """The audit trail, newest first (of one call when given)."""
    q = select(AuditRecord).order_by(AuditRecord.id.desc()).offset(offset).limit(limit)
    if call_id is not None:
        q = q.where(AuditRecord.call_id == call_id)
    tz = request.app.state.config.tz
    return [audit_json(a, tz) for a in session.scalars(q)]


def audit_json(a: AuditRecord, tz: tzinfo) -> dict[str, Any]:
    return {"id": a.id, "at": iso(a.at_us, tz), "by": a.username, "role": a.role, "action": a.action,
            "call_id": a.call_id, "item_id": a.item_id, "before": a.before, "after": a.after, "reason": a.reason}


def current_month(request: Request) -> str:
    return datetime.now(request.app.state.config.tz).strftime("%Y-%m")


def scorecard(request: Request, session: Session, operator: str, month: str | None) -> dict[str, Any]:
    """The month's card and the 12 months up to it (mean score, pass and within-limit rates)."""
    month = month or current_month(request)
    tz = request.app.state.config.tz
    month_range(month, tz)  # a bad month (a page's query) is a PeriodError here, not a ValueError below
    months = months_up_to(month, 12)
    found = review.trend(session, operator, [month_range(m, tz) for m in months])  # one grouped query
    trend = [{"month": m, "calls": t["calls"], "mean_score": t["mean_score"], "pass_rate_pct": t["pass_rate_pct"],
              "within_ring_limit_pct": t["within_ring_limit_pct"]} for m, t in zip(months, found, strict=True)]
    start, end = month_range(month, tz)
    card = review.scorecard(session, operator, start, end, totals=found[-1])
    flagged = review.page(session, review.QueueFilter(start_us=start, end_us=end, operator=operator, limit=200))
    card.update({"month": month, "trend": trend,
                 "flagged_calls": [call_summary(c, s, tz) for s, c in flagged]})
    return card


def search(request: Request, session: Session, who: Principal, q: str, month: str | None) -> list[dict[str, Any]]:
    needle = normalize_text(q)
    if not needle:
        return []
    start, end = month_bounds(request, month)
    operator = (who.operator or "\0") if who.role == "operator" else None
    return review.search(session, needle, operator, start, end)


def draw(request: Request, session: Session, who: Principal, month: str, percent: float | None) -> dict[str, Any]:
    start, end = month_range(month, request.app.state.config.tz)
    share = percent if percent is not None else web_config(request).calibration_percent
    sample = decisions.draw_sample(session, month, start, end, round(share * 100), who.username)
    return {"id": sample.id, "month": sample.month, "percent": sample.per_10000 / 100, "calls": sample.call_ids}


def sample_json(session: Session, who: Principal, sample_id: int) -> dict[str, Any]:
    sample = session.get(CalibrationSample, sample_id)
    if sample is None:
        raise not_found()
    mine = set(session.scalars(select(CalibrationVerdict.call_id).where(
        CalibrationVerdict.sample_id == sample_id, CalibrationVerdict.username == who.username)))
    return {"id": sample.id, "month": sample.month, "percent": sample.per_10000 / 100, "by": sample.created_by,
            "calls": [{"id": c, "scored_by_me": c in mine} for c in sample.call_ids]}


def agreement(session: Session, sample_id: int) -> dict[str, Any]:
    """Human against automatic per item (every supervisor's verdicts), and between each pair of supervisors
    over all the items both judged (pooled: two people rarely share enough calls for per-item kappa)."""
    sample = session.get(CalibrationSample, sample_id)
    if sample is None:
        raise not_found()
    verdicts = list(session.scalars(select(CalibrationVerdict).where(CalibrationVerdict.sample_id == sample_id)))
    autos = {s.call_id: {str(i["id"]): bool(i["found"]) for i in s.items if i["owed"]}
             for s in session.scalars(select(Score).where(Score.call_id.in_(sample.call_ids)))}
    pairs: dict[str, tuple[list[bool], list[bool]]] = {}
    for v in verdicts:
        for item_id, human in v.items.items():
            if item_id in autos.get(v.call_id, {}):
                a, b = pairs.setdefault(item_id, ([], []))
                a.append(bool(human))
                b.append(autos[v.call_id][item_id])
    by_user: dict[str, dict[int, dict[str, bool]]] = {}
    for v in verdicts:
        by_user.setdefault(v.username, {})[v.call_id] = v.items
    users = sorted(by_user)
    between = []
    for i, first in enumerate(users):
        for second in users[i + 1:]:
            x: list[bool] = []
            y: list[bool] = []
            for call_id, items in by_user[first].items():
                other = by_user[second].get(call_id, {})
                for item_id, verdict in items.items():
                    if item_id in other:
                        x.append(bool(verdict))
                        y.append(bool(other[item_id]))
            between.append({"a": first, "b": second, "n": len(x), "percent": _r(percent_agreement(x, y)),
                            "kappa": _r(cohens_kappa(x, y))})
    return {"sample_id": sample_id, "calls": len(sample.call_ids), "scored": len({v.call_id for v in verdicts}),
            "human_vs_automatic": [{"item": k, "n": len(a), "percent": _r(percent_agreement(a, b)),
                                    "kappa": _r(cohens_kappa(a, b))} for k, (a, b) in sorted(pairs.items())],
            "between_supervisors": between}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
