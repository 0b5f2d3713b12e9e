"""Opening the store: engine, SQLite pragmas, migrations applied on start."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import unquote

import orjson
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


class StoreError(Exception):
    """The database could not be opened or migrated."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode and its parent directory.

    JSON columns are decoded with orjson: a month's judged items are hundreds of megabytes.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, json_deserializer=orjson.loads)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, json_deserializer=orjson.loads)


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except Exception as exc:
        raise StoreError(f"cannot migrate database {safe_url(engine)}: {exc}") from exc


def db_reason(exc: BaseException) -> str:
    """The driver's own first line of a database error, for logs: never the SQL or its data."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [""])[0][:300]


def safe_url(engine_or_url: Engine | str) -> str:
    """The database URL with any password hidden, for logs and errors (a URL SQLAlchemy cannot read too)."""
    if isinstance(engine_or_url, Engine):
        return engine_or_url.url.render_as_string(hide_password=True)
    try:
        return make_url(engine_or_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL: mask from the user name's colon to the host's @
        return _USERINFO.sub(r"\1***@", engine_or_url)


_USERINFO = re.compile(r"^([^:/]+://[^:/@]*:).*@")


def url_password(url: str) -> str:
    """The password in a database URL, "" if none (so it can be scrubbed from logs)."""
    try:
        return make_url(url).password or ""
    except Exception:  # noqa: BLE001
        match = re.match(r"^[^:/]+://[^:/@]*:(.*)@", url)
        return unquote(match.group(1)) if match else ""


def open_store(url: str) -> Engine:
    """Engine for ``url`` with the schema migrated to head."""
    try:
        engine = create_db_engine(url)
    except Exception as exc:
        raise StoreError(f"bad database URL {safe_url(url)}: {exc}") from exc
    migrate(engine)
    log.debug("store open: %s", safe_url(engine))
    return engine
