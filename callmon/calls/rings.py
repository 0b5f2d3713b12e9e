"""Ring cadence: turning seconds of ringing into rings and a verdict.

The local rule is "answer within three rings".  Chinese ringback is 1 s on /
4 s off, so ring k starts at ``period * (k - 1)`` seconds.  The lenient
reading (default) counts a call as within the limit if it was answered before
ring ``limit + 1`` started; the strict reading needs it answered before ring
``limit`` ended.  Everything is configurable because sites differ.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RingPolicy:
    """How ring time becomes rings and whether it kept the limit."""

    on_ms: int = 1000
    off_ms: int = 4000
    limit: int = 3
    reading: str = "lenient"  # or "strict"

    def __post_init__(self) -> None:
        if self.on_ms <= 0 or self.off_ms < 0:
            raise ValueError("ring cadence needs on_ms > 0 and off_ms >= 0")
        if self.limit < 1:
            raise ValueError("ring limit must be at least 1")
        if self.reading not in ("lenient", "strict"):
            raise ValueError("ring reading must be 'lenient' or 'strict'")

    @property
    def period_ms(self) -> int:
        return self.on_ms + self.off_ms

    @property
    def limit_ms(self) -> int:
        """Ring time (exclusive) up to which an answer is within the limit."""
        if self.reading == "strict":
            return (self.limit - 1) * self.period_ms + self.on_ms
        return self.limit * self.period_ms

    def rings(self, ring_ms: int) -> int:
        """Rings started after ``ring_ms`` of ringing (the first starts at 0)."""
        return max(0, ring_ms) // self.period_ms + 1

    def within_limit(self, ring_ms: int) -> bool:
        return ring_ms < self.limit_ms

    def describe(self) -> dict[str, object]:
        return {
            "on_ms": self.on_ms,
            "off_ms": self.off_ms,
            "limit": self.limit,
            "reading": self.reading,
            "limit_seconds": self.limit_ms / 1000,
        }
