"""Opening the store: engine, SQLite pragmas, migrations applied on start."""

from __future__ import annotations

import logging
from pathlib import Path

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


def safe_url(engine_or_url: Engine | str) -> str:
    """The database URL with any password hidden, for logs and errors."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.render_as_string(hide_password=True)


def open_store(url: str) -> Engine:
    """Engine for ``url`` with the schema migrated to head."""
    try:
        engine = create_db_engine(url)
    except Exception as exc:
        raise StoreError(f"bad database URL {url!r}: {exc}") from exc
    migrate(engine)
    log.debug("store open: %s", safe_url(engine))
    return engine
