"""One call seen by two sources: the AMI record and a serial line's (ring detector, SMDR).

When a call record is written, the closest record of the other kind with the same caller number,
offered within ``within_us``, is its witness: each row keeps the other's id (``pbx/linkedid``) and
ring count, so ``callmon stats`` can say how often the two disagree, and counts the call once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, not_, select
from sqlalchemy.orm import Session

from callmon.store.models import Call

SERIAL = "serial:"


def link_witnesses(session: Session, rows: Sequence[Call], within_us: int) -> int:
    """Link each of ``rows`` to its witness, both ways; returns how many were linked."""
    linked = 0
    for row in rows:
        if not row.caller or row.offered_us is None:
            continue
        serial = row.pbx.startswith(SERIAL)
        other_kind = not_(Call.pbx.startswith(SERIAL)) if serial else Call.pbx.startswith(SERIAL)
        candidates = session.scalars(select(Call).where(
            and_(Call.caller == row.caller, other_kind, Call.first_event_us >= row.offered_us - within_us - 60_000_000,
                 Call.first_event_us <= row.offered_us + within_us))).all()
        near = [c for c in candidates if c.offered_us is not None and abs(c.offered_us - row.offered_us) <= within_us]
        if not near:
            continue
        other = min(near, key=lambda c: abs((c.offered_us or 0) - (row.offered_us or 0)))
        row.witness, row.witness_rings = f"{other.pbx}/{other.linkedid}"[:255], other.rings
        other.witness, other.witness_rings = f"{row.pbx}/{row.linkedid}"[:255], row.rings
        linked += 1
    return linked
