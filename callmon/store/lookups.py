"""Questions the backfill asks the database: is this queue_log call already stored?"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, and_, or_, select
from sqlalchemy.orm import Session

from callmon.store.models import Call

BEFORE_US = 30_000_000  # a call's first event comes before its ENTERQUEUE (whole seconds) by this much at most
AFTER_US = 5_000_000


def stored_queue_calls(engine: Engine, pbx: str,
                       candidates: Sequence[tuple[str, str | None, int, int]]) -> set[str]:
    """Of (callid, caller number, entered us, ended us), the callids already stored: backfilled before under
    that id, or stored from AMI as a call of that caller whose span overlaps (even if seen only in part)."""
    if not candidates:
        return set()
    found: set[str] = set()
    with Session(engine) as session:
        ids = [c[0] for c in candidates]
        found |= set(session.scalars(select(Call.linkedid).where(Call.pbx == pbx, Call.linkedid.in_(ids))))
        numbered = [c for c in candidates if c[1] and c[1] not in ("<unknown>", "anonymous")]
        for chunk in range(0, len(numbered), 200):
            part = numbered[chunk:chunk + 200]
            rows = session.execute(select(Call.caller, Call.first_event_us, Call.ended_us).where(
                Call.pbx == pbx, or_(*[and_(Call.caller == caller, Call.first_event_us <= end + AFTER_US,
                                            Call.first_event_us >= at - BEFORE_US - 6 * 3600_000_000)
                                       for _, caller, at, end in part]))).all()
            for callid, caller, at, end in part:  # the stored call's span overlaps the queue_log call's
                if any(r.caller == caller and (r.first_event_us or 0) <= end + AFTER_US
                       and (r.ended_us or r.first_event_us or 0) >= at - BEFORE_US for r in rows):
                    found.add(callid)
    return found
