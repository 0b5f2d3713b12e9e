"""Logging to stderr (journald adds the time), with secrets scrubbed and phone numbers masked.

Every configured secret is registered here; any log record that would print
one gets it replaced by ``***`` before it is written, whatever the code that
logged it (including library tracebacks).  At INFO and above, phone numbers
(8 digits or more) are masked as 139****0007; call ids such as Linkedids
(1795357820.12) are left alone.  DEBUG lines keep them, for a person debugging
on the server.  ``[log] json = true`` writes one JSON object per line.
"""

from __future__ import annotations

import json
import logging
import sys

from callmon.masking import mask_phones

_SECRETS: set[str] = set()


def spellings(value: str) -> set[str]:
    """A secret as written and as it reads once escaped: URL-encoded, in JSON, in a repr.

    Why: a secret with a quote, a backslash or ``%@/:`` in it changes under each encoding, so a
    log line holding its JSON or URL form (a database URL, the JSON log mode) would slip past a
    search for the plain text.
    """
    from urllib.parse import quote, quote_plus

    return {value, quote(value), quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1],
            value.encode("unicode_escape").decode("ascii")}


def register_secret(value: str) -> None:
    if value and len(value) >= 3:
        _SECRETS.update(spellings(value))


def scrub(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):  # the longest first: an escaped form holds the plain one
        text = text.replace(secret, "***")
    return text


def _clean(record: logging.LogRecord, text: str) -> str:
    text = scrub(text)
    return mask_phones(text) if record.levelno >= logging.INFO else text


class _ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _clean(record, super().format(record))


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                 "message": scrub(record.getMessage())}  # before JSON escapes the secret's quotes
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return _clean(record, json.dumps(entry, ensure_ascii=False))


def setup_logging(level: str = "INFO", as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if as_json else
                         _ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
