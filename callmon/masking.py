"""Masking of phone and ID numbers for people whose role does not need them (review UI, exports)."""

from __future__ import annotations

import re

_ID_NUMBER = re.compile(r"(?<![0-9])([0-9]{6})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9])")
_PHONE = re.compile(r"(?<![0-9*])([0-9]{3})([0-9]{1,})([0-9]{4})(?![0-9])")


def mask_text(text: str) -> str:
    """18-digit ID numbers keep their region and last four; numbers of 8 digits or more their
    first three and last four (138****5678)."""
    text = _ID_NUMBER.sub(lambda m: m.group(1)[:4] + "*" * 10 + m.group(2), text)
    return _PHONE.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)


def mask_number(number: str | None) -> str | None:
    if not number:
        return number
    if len(number) <= 4:
        return "*" * len(number)
    return number[:3] + "*" * max(1, len(number) - 7) + number[-4:] if len(number) >= 8 else \
        "*" * (len(number) - 2) + number[-2:]


# For log lines: a run of 8+ digits that is not part of a dotted call id (Linkedid, Uniqueid
# 1795357820.12) or of a longer number.  ``mask_text`` serves spoken text, where no call ids occur.
_LOGGED_PHONE = re.compile(r"(?<![0-9.*])([0-9]{3})([0-9]{1,})([0-9]{4})(?![0-9]|\.[0-9])")


def mask_phones(text: str) -> str:
    """Phone numbers in a log line as 139****0007, call ids left whole."""
    return _LOGGED_PHONE.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)
