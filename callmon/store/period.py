"""A period's calls and verdicts read in bulk: what ``callmon stats``, ``callmon score`` and exports read.

A month is 150,000 calls.  Building ORM objects for them (and their rings, and 18 judged items
each) costs tens of seconds and gigabytes, so these read plain rows with SQLAlchemy Core, decode
the items' JSON with orjson, and hand out one call at a time.  The figures are still computed by
the same pure functions from the same records (``calls.stats``, ``compliance.judge``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from callmon.calls.record import CallRecord, OperatorRing
from callmon.store.models import Call, OperatorRingRow, Score
from callmon.store.review import effective_items, effective_passed, effective_score
from callmon.store.review_models import Dispute

_CALL_COLUMNS = (
    "id", "linkedid", "caller", "queue", "operator", "operator_interface", "offered_us", "answered_us",
    "ended_us", "first_event_us", "ring_ms", "wait_ms", "rings", "within_limit", "outcome", "abandoned",
    "abandoned_after_ms", "transferred", "transfer_target", "talk_ms", "hangup_cause", "incomplete",
    "timed_by", "event_count", "incomplete_reasons", "recordings", "recording_roles", "pbx", "witness",
    "witness_rings",
)
_CHUNK = 5000


def _period(query: Any, start_us: int | None, end_us: int | None) -> Any:
    if start_us is not None:
        query = query.where(Call.first_event_us >= start_us)
    if end_us is not None:
        query = query.where(Call.first_event_us < end_us)
    return query


def iter_records(session: Session, start_us: int | None = None, end_us: int | None = None,
                 operator: str | None = None) -> Iterator[tuple[int, CallRecord]]:
    """(call id, record) for the stored calls offered in [start, end), in time order.

    The rings come from one query over the same period, grouped by call in Python.
    """
    calls = _period(select(*(getattr(Call, c) for c in _CALL_COLUMNS)), start_us, end_us)
    rings_q = _period(select(OperatorRingRow.call_id, OperatorRingRow.operator, OperatorRingRow.interface,
                             OperatorRingRow.rung_us, OperatorRingRow.ended_us, OperatorRingRow.outcome,
                             OperatorRingRow.dest_uniqueid, OperatorRingRow.rings, OperatorRingRow.within_limit)
                      .join(Call, Call.id == OperatorRingRow.call_id), start_us, end_us)
    if operator is not None:
        rung = select(OperatorRingRow.call_id).where(OperatorRingRow.operator == operator)
        calls = calls.where((Call.operator == operator) | Call.id.in_(rung))
        rings_q = rings_q.where((Call.operator == operator) | Call.id.in_(rung))
    rings: dict[int, list[OperatorRing]] = {}
    conn = session.connection()  # Core rows: no ORM loading layer
    for r in conn.execute(rings_q.order_by(OperatorRingRow.call_id, OperatorRingRow.rung_us,
                                              OperatorRingRow.id)):
        rings.setdefault(r[0], []).append(OperatorRing(*r[1:]))
    result = conn.execute(calls.order_by(Call.first_event_us, Call.linkedid).execution_options(yield_per=_CHUNK))
    for row in result:
        values = dict(zip(_CALL_COLUMNS, row, strict=True))
        call_id = values.pop("id")
        rec = CallRecord(**{**values, "incomplete_reasons": list(values["incomplete_reasons"] or []),
                            "recordings": list(values["recordings"] or []),
                            "recording_roles": dict(values["recording_roles"] or {})})
        rec.operators_rung = rings.pop(call_id, [])
        yield call_id, rec


@dataclass(slots=True)
class ScoredCall:
    """One answered call's verdicts: the automatic one and, where a person reviewed it, theirs."""

    call_id: int
    linkedid: str
    first_event_us: int | None
    operator: str | None
    within_limit: bool | None
    grammar_hash: str
    score: int | None
    passed: bool | None
    flagged: bool
    flag_reasons: list[str]
    items: list[dict[str, Any]]
    review_state: str
    reviewed_score: int | None
    reviewed_passed: bool | None
    reviewed_items: list[dict[str, Any]] | None
    reviewed_by: str | None
    disputed: bool

    @property
    def effective_score(self) -> int | None:
        return effective_score(self)

    @property
    def effective_passed(self) -> bool | None:
        return effective_passed(self)

    @property
    def effective_items(self) -> list[dict[str, Any]]:
        return effective_items(self)

    @property
    def reviewed(self) -> bool:
        return self.reviewed_by is not None

    @property
    def overridden(self) -> bool:
        """A person's result differs from the automatic one (score or any item's verdict)."""
        if not self.reviewed:
            return False
        if self.reviewed_score is not None and self.reviewed_score != self.score:
            return True
        if self.reviewed_items is None:
            return False
        auto = {str(i["id"]): (i["owed"], i["found"]) for i in self.items}
        return any(auto.get(str(i["id"])) != (i["owed"], i["found"]) for i in self.reviewed_items)


def iter_scored(session: Session, start_us: int | None = None, end_us: int | None = None) -> Iterator[ScoredCall]:
    """The answered calls of [start, end) that have been scored, with their verdicts, in time order.

    ``disputed``: an operator disputed at least one item of the call (申诉).
    """
    disputed = set(session.scalars(_period(select(Dispute.call_id).join(Call, Call.id == Dispute.call_id),
                                           start_us, end_us).distinct()))
    query = _period(
        select(Call.id, Call.linkedid, Call.first_event_us, Call.operator, Call.within_limit, Score.grammar_hash,
               Score.score, Score.passed, Score.flagged, cast(Score.flag_reasons, Text), cast(Score.items, Text),
               Score.review_state, Score.reviewed_score, Score.reviewed_passed, cast(Score.reviewed_items, Text),
               Score.reviewed_by)
        .join(Score, Score.call_id == Call.id).where(Call.outcome == "answered"), start_us, end_us)
    result = session.connection().execute(query.order_by(Call.first_event_us, Call.linkedid)
                                          .execution_options(yield_per=_CHUNK))
    for (call_id, linkedid, first_us, operator, within, grammar_hash, score, passed, flagged, reasons, items,
         state, r_score, r_passed, r_items, r_by) in result:
        yield ScoredCall(call_id, linkedid, first_us, operator, within, grammar_hash, score, passed, bool(flagged),
                         _json(reasons) or [], _json(items) or [], state or "unreviewed", r_score, r_passed,
                         _json(r_items), r_by, call_id in disputed)


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)
