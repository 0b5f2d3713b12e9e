"""Backups that restore: SQLite through its online backup API, PostgreSQL through pg_dump / pg_restore.

Why not copy the file: the daemon writes while the backup runs and SQLite is in WAL mode, so a
plain copy of the .db file can miss committed pages or catch half a transaction.  The backup API
reads one consistent snapshot while writers go on.  On PostgreSQL the rows are counted in a
REPEATABLE READ transaction whose snapshot pg_dump then dumps (``--snapshot``), so the counts
printed are exactly what the file holds.  The password never reaches a command line or a message:
pg_dump gets it through ``PGPASSWORD``.  Every file is written under a temporary name and renamed,
so a backup cut short never carries the final name.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.request import pathname2url

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from callmon.export.atomic import atomic_path
from callmon.logs import scrub
from callmon.store.db import StoreError, safe_url

SQLITE_MAGIC, PG_MAGIC = b"SQLite format 3\x00", b"PGDMP"
SYSTEM_SCHEMAS = "table_schema NOT IN ('pg_catalog', 'information_schema') AND table_schema NOT LIKE 'pg\\_%'"


class BackupError(StoreError):
    """A backup or restore that could not be done, worded for the person running it."""


@dataclass
class BackupSummary:
    """What a backup file holds (or what a restore put in place): rows per table."""

    path: str
    kind: str  # sqlite | postgresql
    size: int
    tables: dict[str, int]

    def lines(self, verb: str) -> list[str]:
        head = (f"{verb} {self.path} ({human_bytes(self.size)}, {self.kind}): {len(self.tables)} tables, "
                f"{sum(self.tables.values())} rows")
        return [head, *(f"  {name:28} {rows:>10}" for name, rows in self.tables.items())]


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} bytes"


def file_kind(path: Path) -> str:
    """sqlite or postgresql, from the file's first bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise BackupError(f"{path}: cannot read the backup: {exc.strerror}") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_MAGIC):
        return "postgresql"
    raise BackupError(f"{path}: neither a SQLite database nor a pg_dump custom-format file")


def backup(url: str, out: Path) -> BackupSummary:
    """A consistent copy of the database at ``url`` in ``out`` (written atomically)."""
    if make_url(url).get_backend_name() == "sqlite":
        return _backup_sqlite(_sqlite_path(url), out)
    if make_url(url).get_backend_name() == "postgresql":
        return _backup_pg(url, out)
    raise BackupError(f"cannot back up {safe_url(url)}: only SQLite and PostgreSQL are supported")


def restore(url: str, source: Path, force: bool = False) -> BackupSummary:
    """Put a backup in place as the database at ``url``; an existing one is replaced only with ``force``."""
    kind, backend = file_kind(source), make_url(url).get_backend_name()
    if kind != backend:
        raise BackupError(f"{source} is a {kind} backup but the configured database is {backend} "
                          f"({safe_url(url)})")
    if kind == "sqlite":
        return _restore_sqlite(source, _sqlite_path(url), force)
    return _restore_pg(url, source, force)


# ---------------------------------------------------------------------------------------------- SQLite

def _private(path: Path) -> None:
    """Create the file before anything is written into it, readable by the service's group only:
    a backup holds caller numbers and transcripts."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError(f"{url}: an in-memory SQLite database cannot be backed up or restored")
    return Path(database).expanduser()


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{pathname2url(str(path.resolve()))}?mode=ro", uri=True, timeout=30)


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {n: int(conn.execute(f'SELECT count(*) FROM "{n.replace(chr(34), chr(34) * 2)}"').fetchone()[0])
            for n in names}


def _copy(source: sqlite3.Connection, target: Path) -> dict[str, int]:
    """SQLite's backup API in one step (one read snapshot of the source), then checked and counted."""
    dest = sqlite3.connect(target, timeout=30)
    try:
        source.backup(dest)
        dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        check = dest.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"{target}: the copy fails SQLite's check: {check}")
        return _counts(dest)
    finally:
        dest.close()


def _backup_sqlite(db: Path, out: Path) -> BackupSummary:
    if not db.is_file():
        raise BackupError(f"no SQLite database at {db}")
    if out.exists() and out.resolve() == db.resolve():
        raise BackupError(f"--out {out} is the database itself")
    source = _read_only(db)
    try:
        with atomic_path(out) as tmp:
            _private(tmp)
            tables = _copy(source, tmp)
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {db} failed: {exc}") from None
    finally:
        source.close()
    return BackupSummary(str(out), "sqlite", out.stat().st_size, tables)


def _check_sqlite_backup(source: Path) -> sqlite3.Connection:
    conn = _read_only(source)
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        conn.close()
        raise BackupError(f"{source}: not a readable SQLite database: {exc}") from None
    if check != "ok" or not {"alembic_version", "calls", "raw_events"} <= names:
        conn.close()
        raise BackupError(f"{source}: not a callmon backup ({'no callmon tables' if check == 'ok' else check})")
    return conn


def _restore_sqlite(source: Path, db: Path, force: bool) -> BackupSummary:
    conn = _check_sqlite_backup(source)
    try:
        if db.exists():
            if not force:
                raise BackupError(f"{db} exists; --force replaces its content (stop callmon and its workers first)")
            # into the live file through SQLite itself, so its WAL and locks stay consistent
            tables = _into_existing(conn, db)
        else:
            stale = [p for p in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()]
            if stale and not force:
                raise BackupError(f"{stale[0]} is left from an earlier database at this path; --force removes it")
            for path in stale:
                path.unlink()
            with atomic_path(db) as tmp:
                tables = _copy(conn, tmp)
    except sqlite3.Error as exc:
        raise BackupError(f"restore of {source} into {db} failed: {exc}") from None
    finally:
        conn.close()
    return BackupSummary(str(db), "sqlite", db.stat().st_size, tables)


def _into_existing(source: sqlite3.Connection, db: Path) -> dict[str, int]:
    dest = sqlite3.connect(db, timeout=30)
    try:
        source.backup(dest)
        return _counts(dest)
    finally:
        dest.close()


# ------------------------------------------------------------------------------------------ PostgreSQL

def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def libpq(url: str) -> tuple[str, dict[str, str], list[str]]:
    """(conninfo without the password, environment with PGPASSWORD, schemas of the URL's search_path)."""
    parsed = make_url(url)
    params = {k: v for k, v in (("host", parsed.host), ("port", parsed.port and str(parsed.port)),
                                ("user", parsed.username), ("dbname", parsed.database)) if v}
    for key, value in parsed.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    found = re.search(r"-c\s*search_path\s*=\s*(\S+)", params.get("options", ""))
    schemas = [s.strip().strip('"') for s in found.group(1).split(",")] if found else []
    return " ".join(f"{k}={_quote(v)}" for k, v in params.items()), env, [s for s in schemas if s and s != "$user"]


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise BackupError(f"{name} not found on PATH: install the PostgreSQL client tools "
                          f"(Debian: apt install postgresql-client, the server's major version or newer)")
    return exe


def _run(cmd: list[str], env: dict[str, str], url: str, what: str) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = _clean(url, done.stderr.strip() or done.stdout.strip())
        raise BackupError(f"{what} of {safe_url(url)} failed (exit {done.returncode}): {message}")


def _clean(url: str, message: str) -> str:
    """A tool's or driver's message with the URL's password (and any registered secret) hidden."""
    password = make_url(url).password
    message = scrub(message)
    return message.replace(str(password), "***") if password else message


def _pg_counts(conn: Connection, schemas: list[str]) -> dict[str, int]:
    where = SYSTEM_SCHEMAS + (" AND table_schema = ANY(:schemas)" if schemas else "")
    rows = conn.execute(text(f"SELECT table_schema, table_name FROM information_schema.tables WHERE "
                             f"table_type = 'BASE TABLE' AND {where} ORDER BY 1, 2"),
                        {"schemas": schemas} if schemas else {}).all()
    home = schemas[0] if schemas else "public"
    counts = {}
    for schema, name in rows:
        ident = '"{}"."{}"'.format(schema.replace('"', '""'), name.replace('"', '""'))
        counts[name if schema == home else f"{schema}.{name}"] = int(
            conn.execute(text(f"SELECT count(*) FROM {ident}")).scalar_one())
    return counts


def _backup_pg(url: str, out: Path) -> BackupSummary:
    exe = _tool("pg_dump")
    conninfo, env, schemas = libpq(url)
    engine = create_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            tables = _pg_counts(conn, schemas)  # in the snapshot pg_dump dumps
            with atomic_path(out) as tmp:
                _private(tmp)
                _run([exe, "--format=custom", "--no-password", f"--snapshot={snapshot}", f"--file={tmp}",
                      *(f'--schema="{s.replace(chr(34), chr(34) * 2)}"' for s in schemas), f"--dbname={conninfo}"],
                     env, url, "pg_dump")
    except BackupError:
        raise
    except Exception as exc:  # noqa: BLE001 - a connection error, worded without the password
        raise BackupError(f"backup of {safe_url(url)} failed: {_clean(url, str(exc)).splitlines()[0]}") from None
    finally:
        engine.dispose()
    return BackupSummary(str(out), "postgresql", out.stat().st_size, tables)


def _restore_pg(url: str, source: Path, force: bool) -> BackupSummary:
    exe = _tool("pg_restore")
    conninfo, env, schemas = libpq(url)
    listing = subprocess.run([exe, "--list", str(source)], capture_output=True, text=True, check=False)
    if listing.returncode != 0:
        raise BackupError(f"{source}: pg_restore cannot read it: {listing.stderr.strip()}")
    dumped = re.findall(r"^\d+; \d+ \d+ SCHEMA - (\S+) ", listing.stdout, re.M)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            existing = int(conn.execute(text(f"SELECT count(*) FROM information_schema.tables WHERE "
                                             f"{SYSTEM_SCHEMAS}")).scalar_one())
        if existing and not force:
            raise BackupError(f"database {make_url(url).database} is not empty ({existing} tables); --force drops "
                              f"what the backup holds and restores it (stop callmon and its workers first)")
        _run([exe, "--no-owner", "--exit-on-error", "--single-transaction", "--no-password",
              *(["--clean", "--if-exists"] if existing else []), f"--dbname={conninfo}", str(source)],
             env, url, "pg_restore")
        with engine.connect() as conn:
            tables = _pg_counts(conn, schemas or dumped)
    except BackupError:
        raise
    except Exception as exc:  # noqa: BLE001 - a connection error, worded without the password
        raise BackupError(f"restore into {safe_url(url)} failed: {_clean(url, str(exc)).splitlines()[0]}") from None
    finally:
        engine.dispose()
    return BackupSummary(safe_url(url), "postgresql", source.stat().st_size, tables)
