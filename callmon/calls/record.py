"""The call record: what one 110 call was, computed from its events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

REPLAY_JSON_KEYS = (
    "linkedid", "caller", "queue", "operator", "offered_at", "answered_at", "ended_at",
    "ring_seconds", "wait_seconds", "rings", "within_limit", "abandoned", "transferred",
    "talk_seconds", "incomplete", "operators_rung", "recordings",
)


@dataclass(slots=True)
class OperatorRing:
    """One operator's phone ringing for this call, and how it ended."""

    operator: str
    interface: str | None
    rung_us: int
    ended_us: int | None
    outcome: str  # answered | no_answer | cancelled | busy | unavailable | unknown
    dest_uniqueid: str
    rings: int | None = None
    within_limit: bool | None = None  # False: let it ring past the limit

    @property
    def ring_ms(self) -> int | None:
        return None if self.ended_us is None else ms(self.ended_us - self.rung_us)


@dataclass(slots=True)
class CallRecord:
    """Timing and outcome of one call (all legs sharing a Linkedid)."""

    linkedid: str
    caller: str | None = None
    queue: str | None = None
    operator: str | None = None
    operator_interface: str | None = None
    offered_us: int | None = None
    answered_us: int | None = None
    ended_us: int | None = None
    ring_ms: int | None = None
    wait_ms: int | None = None
    rings: int | None = None
    within_limit: bool | None = None
    abandoned: bool = False
    abandoned_after_ms: int | None = None
    transferred: bool = False
    transfer_target: str | None = None
    talk_ms: int | None = None
    hangup_cause: str | None = None
    outcome: str = "unknown"  # answered | abandoned | unanswered | not_offered
    incomplete: bool = False
    incomplete_reasons: list[str] = field(default_factory=list)
    timed_by: str = "event"  # "event", "received" or "mixed"
    operators_rung: list[OperatorRing] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)
    recording_roles: dict[str, str] = field(default_factory=dict)  # path -> operator | caller | mixed
    event_count: int = 0
    first_event_us: int | None = None
    pbx: str | None = None  # as stored ("serial:<device>" for a serial line's records)
    witness: str | None = None  # the other source's record of this call (AMI <-> serial), as stored
    witness_rings: int | None = None

    def to_json(self, tz: tzinfo = UTC) -> dict[str, Any]:
        """The ``replay --json`` / ``calls --json`` object, exactly its keys."""
        return {
            "linkedid": self.linkedid,
            "caller": self.caller,
            "queue": self.queue,
            "operator": self.operator,
            "offered_at": iso(self.offered_us, tz),
            "answered_at": iso(self.answered_us, tz),
            "ended_at": iso(self.ended_us, tz),
            "ring_seconds": seconds(self.ring_ms),
            "wait_seconds": seconds(self.wait_ms),
            "rings": self.rings,
            "within_limit": self.within_limit,
            "abandoned": self.abandoned,
            "transferred": self.transferred,
            "talk_seconds": seconds(self.talk_ms),
            "incomplete": self.incomplete,
            "operators_rung": [
                {
                    "operator": r.operator,
                    "rung_at": iso(r.rung_us, tz),
                    "ring_seconds": seconds(r.ring_ms),
                    "outcome": r.outcome,
                }
                for r in self.operators_rung
            ],
            "recordings": list(self.recordings),
        }


def ms(us: int) -> int:
    """Microseconds to milliseconds, rounded half up."""
    return (us + 500) // 1000


def seconds(value_ms: int | None) -> float | None:
    return None if value_ms is None else round(value_ms / 1000, 3)


def iso(us: int | None, tz: tzinfo = UTC) -> str | None:
    """ISO 8601 with milliseconds and the UTC offset."""
    if us is None:
        return None
    moment = datetime.fromtimestamp(us // 1_000_000, tz).replace(microsecond=us % 1_000_000)
    return moment.isoformat(timespec="milliseconds")
