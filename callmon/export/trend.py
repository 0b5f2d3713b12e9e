"""The center's figures month by month (the report's 12-month trend), from one grouped query.

Each month's figures are those of ``callmon stats`` and ``callmon score`` for that month (calls
offered, answered, abandoned, within the ring limit; mean score and pass rate with the reviewed
result counting), summed by the database instead of read call by call.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from callmon.calls.stats import share_pct
from callmon.store.models import Call, Score
from callmon.timeutil import month_range, months_up_to


def month_trend(session: Session, month: str, tz: tzinfo, months: int = 12) -> list[dict[str, Any]]:
    """The ``months`` months up to and including ``month``, oldest first."""
    names = months_up_to(month, months)
    bounds = [month_range(m, tz) for m in names]
    period = case(*((and_(Call.first_event_us >= s, Call.first_event_us < e), k)
                    for k, (s, e) in enumerate(bounds)), else_=-1).label("period")
    answered = Call.outcome == "answered"
    effective = func.coalesce(Score.reviewed_score, Score.score)
    judged = and_(answered, Score.id.is_not(None), effective.is_not(None))
    passed = func.coalesce(Score.reviewed_passed, Score.passed)
    q = (select(period,
                func.sum(case((Call.outcome != "not_offered", 1), else_=0)),
                func.sum(case((answered, 1), else_=0)),
                func.sum(case((and_(Call.outcome != "not_offered", Call.abandoned.is_(True)), 1), else_=0)),
                func.sum(case((and_(answered, Call.within_limit.is_(True)), 1), else_=0)),
                func.sum(case((and_(answered, Score.id.is_not(None)), 1), else_=0)),
                func.sum(case((judged, 1), else_=0)),
                func.sum(case((judged, effective), else_=0)),
                func.sum(case((and_(judged, passed.is_(True)), 1), else_=0)))
         .select_from(Call).outerjoin(Score, Score.call_id == Call.id)
         .where(Call.first_event_us >= bounds[0][0], Call.first_event_us < bounds[-1][1])
         .group_by(period))
    found = {int(r[0]): [int(v or 0) for v in r[1:]] for r in session.execute(q)}
    out = []
    for k, name in enumerate(names):
        offered, n_answered, abandoned, within, calls, scored, score_sum, n_passed = found.get(k, [0] * 8)
        out.append({"month": name, "calls_offered": offered, "answered": n_answered, "abandoned": abandoned,
                    "abandon_rate_pct": share_pct(abandoned, offered),
                    "within_ring_limit_pct": share_pct(within, n_answered), "scored_calls": calls,
                    "mean_score": round(score_sum / scored, 1) if scored else None,
                    "pass_rate_pct": share_pct(n_passed, scored)})
    return out
