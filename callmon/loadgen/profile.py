"""Arrival times of 110 calls: a non-homogeneous Poisson process with a diurnal profile.

Why: load on a 110 center is not flat.  Calls trough around 04:00-05:00, rise through
the morning to a daytime plateau (10:00-11:00), dip at lunch and peak in the evening
(19:00-21:00, traffic, disputes, alcohol).  The profile below is relative calls per
local hour in that shape (peak/trough about 5:1); rates between hour midpoints are
interpolated linearly, per minute.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

# relative call rate per local hour 00..23
DIURNAL_110: tuple[float, ...] = (
    3.2, 2.6, 2.0, 1.6, 1.3, 1.4,  # 00-05 night trough
    2.0, 3.0, 4.3, 5.2, 5.6, 5.5,  # 06-11 morning rise, daytime peak
    4.9, 4.7, 5.0, 5.2, 5.3, 5.5,  # 12-17 lunch dip, afternoon
    5.9, 6.3, 6.4, 6.0, 5.0, 4.0,  # 18-23 evening peak
)
MINUTES = 1440


def minute_shares(profile: Sequence[float] = DIURNAL_110) -> list[float]:
    """Share of a day's calls in each minute of the local day (sums to 1)."""
    if len(profile) != 24 or min(profile) < 0 or sum(profile) <= 0:
        raise ValueError("profile: 24 non-negative hourly rates, not all zero")
    rates = []
    for minute in range(MINUTES):
        h = (minute + 0.5) / 60 - 0.5  # hour k's rate sits at k:30
        k = int(h // 1)
        f = h - k
        rates.append(profile[k % 24] * (1 - f) + profile[(k + 1) % 24] * f)
    total = sum(rates)
    return [r / total for r in rates]


def expected_calls(calls_per_day: float, hours: float, start_minute: float = 0.0,
                   profile: Sequence[float] = DIURNAL_110) -> float:
    """Expected number of calls in ``hours`` from ``start_minute`` of the local day."""
    cumulative = _window(calls_per_day, hours, start_minute, profile)
    return cumulative[-1] if cumulative else 0.0


def _window(calls_per_day: float, hours: float, start_minute: float, profile: Sequence[float]) -> list[float]:
    """Cumulative expected calls at the end of each whole minute of the window."""
    shares = minute_shares(profile)
    first = int(start_minute)
    return list(accumulate(calls_per_day * shares[(first + i) % MINUTES] for i in range(round(hours * 60))))


def arrival_offsets(calls_per_day: float, rng: random.Random, hours: float = 24.0, start_minute: float = 0.0,
                    profile: Sequence[float] = DIURNAL_110, exact: bool = False) -> list[float]:
    """Seconds after the window's start at which calls arrive, ascending.

    Poisson: unit-rate exponential gaps on the cumulative-intensity scale, mapped back to
    time (so the count is Poisson too).  ``exact``: exactly round(expected) calls, spread
    the same way (a Poisson process conditioned on its count).
    """
    if calls_per_day < 0 or hours <= 0:
        raise ValueError("calls_per_day must be >= 0 and hours > 0")
    cumulative = _window(calls_per_day, hours, start_minute, profile)
    total = cumulative[-1] if cumulative else 0.0
    points: list[float] = []
    if exact:
        points = sorted(rng.uniform(0, total) for _ in range(round(total)))
    else:
        u = rng.expovariate(1.0)
        while u < total:
            points.append(u)
            u += rng.expovariate(1.0)
    out = []
    for u in points:
        k = min(bisect_right(cumulative, u), len(cumulative) - 1)
        before = cumulative[k - 1] if k else 0.0
        width = cumulative[k] - before
        out.append((k + ((u - before) / width if width > 0 else 0.5)) * 60.0)
    return out
