"""Calendar periods in the site's time zone, as microsecond ranges."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PeriodError(ValueError):
    """A month or date argument that is not what was expected."""


def month_range(month: str, tz: tzinfo) -> tuple[int, int]:
    """``YYYY-MM`` -> [start, end) in epoch microseconds, local calendar month."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise PeriodError(f"month {month!r}: expected YYYY-MM, e.g. 2026-11")
    year, mon = int(match.group(1)), int(match.group(2))
    try:
        start = datetime(year, mon, 1, tzinfo=tz)
        end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
        return _us(start), _us(end)
    except (ValueError, OverflowError):  # 0000-01, 9999-12: a month the calendar cannot hold
        raise PeriodError(f"month {month!r} is out of range") from None


def since_us(text: str, tz: tzinfo) -> int:
    """``YYYY-MM-DD`` (local midnight) or a full ISO 8601 time -> epoch microseconds."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            day = date.fromisoformat(text.strip())
            return _us(datetime(day.year, day.month, day.day, tzinfo=tz))
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(f"date {text!r}: expected YYYY-MM-DD or an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return _us(moment)


def shift_month(month: str, delta: int) -> str:
    """``YYYY-MM`` moved by ``delta`` months."""
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_up_to(month: str, n: int) -> list[str]:
    """The ``n`` months ending with ``month``, oldest first (a 12-month trend)."""
    return [shift_month(month, k) for k in range(1 - n, 1)]


def local_clock(us: int | None, tz: tzinfo) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in ``tz`` ("" for no time): how pages and reports print a moment."""
    return "" if us is None else datetime.fromtimestamp(us / 1e6, tz).strftime("%Y-%m-%d %H:%M:%S")


def _us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)
