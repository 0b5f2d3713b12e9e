"""``callmon backup`` / ``callmon restore`` with real data, while a writer keeps inserting.

The data is the bundled captures through the real pipeline (calls, raw events, Whisper transcripts,
scores).  A writer thread replays captures through the pipeline under other PBX names the whole
time the backup runs.  The restored database must then hold the original data row for row, and of
the raw events exactly a prefix of what the source holds afterwards (one consistent snapshot: no
transaction half in, none skipped), with the counts the backup printed.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from callmon.calls.rings import RingPolicy
from callmon.cli import main
from callmon.pipeline import CallPipeline
from callmon.sources.ami_protocol import Message
from callmon.sources.replay import read_capture
from callmon.store import review_models  # noqa: F401  (the review tables join Base.metadata)
from callmon.store.backup import libpq
from callmon.store.db import open_store
from callmon.store.models import Base, Call, RawEvent, Score, Transcript
from callmon.store.repository import Store
from tests.conftest import ASTERISK

ORIGINAL = ("calls", "operator_rings", "jobs", "transcripts", "scores", "score_flags", "users")
CAPTURE = ASTERISK / "ami-capture-ring07-noncompliant.raw"


def rows(engine: Engine, table: str) -> list[tuple[Any, ...]]:
    t = Base.metadata.tables[table]
    key = t.c.id if "id" in t.c else next(iter(t.c))
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(t).order_by(key))]


def raw_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(RawEvent)) or 0)


class Writer(threading.Thread):
    """Replays a real capture through the pipeline again and again, each time as another PBX."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.store = Store(open_store(url), transcribe=False)
        self.stop = threading.Event()
        self.rounds = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                pipeline = CallPipeline(self.store, RingPolicy(), pbx=f"writer{self.rounds}", source="writer",
                                        batch_events=40)
                for item in read_capture(CAPTURE):
                    if isinstance(item, Message):
                        pipeline.feed(item, 0)
                pipeline.end_of_stream("end")
                self.rounds += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def wait_for(self, engine: Engine, count: int) -> None:
        for _ in range(600):
            if raw_count(engine) > count or self.error:
                break
            self.stop.wait(0.05)
        assert self.error is None, self.error
        assert raw_count(engine) > count, "the writer wrote nothing"


def backup_while_writing(url: str, out: Path, capsys: pytest.CaptureFixture[str],
                         extra: list[str] | None = None) -> tuple[dict[str, list[tuple[Any, ...]]], str, Engine]:
    """Back up ``url`` while a writer inserts; returns the original rows, the command's output, the engine."""
    engine = open_store(url)
    before = {t: rows(engine, t) for t in (*ORIGINAL, "raw_events")}
    writer = Writer(url)
    writer.start()
    try:
        writer.wait_for(engine, len(before["raw_events"]))
        status = main(["backup", "--db", url, "--out", str(out), *(extra or [])])
        out_text, err = capsys.readouterr()
        assert status == 0, err
        writer.wait_for(engine, raw_count(engine))  # and it goes on after the backup
    finally:
        writer.stop.set()
        writer.join(timeout=60)
    assert writer.error is None, writer.error
    return before, out_text, engine


def check_restored(source: Engine, restored: Engine, before: dict[str, list[tuple[Any, ...]]], printed: str) -> None:
    """Original rows equal; raw events a strict prefix of the source's; the printed counts are the restored ones."""
    for table in ORIGINAL:
        restored_rows = rows(restored, table)
        if table in ("calls", "operator_rings", "jobs"):  # the writer's calls come after, by id
            restored_rows = restored_rows[:len(before[table])]
        assert restored_rows == before[table], table
    assert len(before["transcripts"]) >= 10 and len(before["scores"]) >= 13 and len(before["calls"]) >= 16
    got, now = rows(restored, "raw_events"), rows(source, "raw_events")
    assert got == now[:len(got)]  # a consistent snapshot: a prefix, no gap, nothing half-written
    assert len(before["raw_events"]) < len(got) < len(now)  # taken while the writer wrote
    shown = counts(printed)
    assert shown["raw_events"] == len(got) and shown["calls"] == len(rows(restored, "calls"))


def counts(printed: str) -> dict[str, int]:
    """The per-table row counts a backup or restore printed."""
    return {name: int(n) for name, n in re.findall(r"^\s+(\w+)\s+(\d+)$", printed, re.M)}


def test_sqlite_backup_while_writing_restores_row_for_row(pipeline_db: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "backups" / "callmon.db"
    before, printed, source = backup_while_writing(pipeline_db, out, capsys)
    assert f"wrote {out}" in printed and not list(out.parent.glob(".*.tmp"))  # renamed into place
    assert not Path(f"{out}-wal").exists()  # one self-contained file
    assert out.stat().st_mode & 0o077 == 0o040  # callers' numbers and words: not for every local user

    target = tmp_path / "restored" / "callmon.db"
    url = f"sqlite:///{target}"
    assert main(["restore", "--db", url, "--from", str(out)]) == 0
    restored_out = capsys.readouterr().out
    restored = Store(open_store(url)).engine  # callmon opens it as it is
    check_restored(source, restored, before, printed)
    assert counts(restored_out) == counts(printed)  # restore says what it put in place: what was backed up

    assert main(["restore", "--db", url, "--from", str(out)]) == 1  # an existing database is kept
    assert "--force" in capsys.readouterr().err
    with restored.begin() as conn:
        conn.execute(text("DELETE FROM score_flags"))
    assert main(["restore", "--db", url, "--from", str(out), "--force"]) == 0
    capsys.readouterr()
    assert rows(restored, "score_flags") == before["score_flags"]  # replaced through SQLite, WAL and all


def test_restore_refuses_what_is_not_a_callmon_backup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database")
    assert main(["restore", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--from", str(junk)]) == 1
    assert "neither a SQLite database nor a pg_dump" in capsys.readouterr().err
    assert main(["backup", "--db", f"sqlite:///{tmp_path / 'missing.db'}", "--out", str(tmp_path / "b.db")]) == 1
    assert "no SQLite database" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "b.db").exists()


def test_pg_dump_missing_is_said_plainly(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    url = "postgresql+psycopg://callmon:pw-secret-1@127.0.0.1:5432/callmon"
    assert main(["backup", "--db", url, "--out", str(tmp_path / "x.dump")]) == 1
    out, err = capsys.readouterr()
    assert "pg_dump not found" in err and "pw-secret-1" not in out + err


def test_the_password_goes_to_the_environment_not_the_command_line() -> None:
    conninfo, env, schemas = libpq("postgresql+psycopg://callmon:pw'secret@db.local:5433/callmon"
                                   "?options=-csearch_path%3Dt_abc&sslmode=require")
    assert "pw" not in conninfo and env["PGPASSWORD"] == "pw'secret"
    assert conninfo == ("host='db.local' port='5433' user='callmon' dbname='callmon' "
                        "options='-csearch_path=t_abc' sslmode='require'")
    assert schemas == ["t_abc"]


@pytest.fixture
def fresh_database(postgres_base: str | None) -> Iterator[str]:
    """The name of a new, empty database, dropped afterwards."""
    if postgres_base is None:
        pytest.skip("no PostgreSQL reachable (set CALLMON_TEST_POSTGRES_URL)")
    name = f"callmon_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def copy_speech(template: Path, engine: Engine) -> None:
    """The template month's real transcripts and scores, onto the same calls in ``engine``."""
    source = create_engine(f"sqlite:///{template}")
    with Session(source) as old, Session(engine) as new, new.begin():
        ids = {c.linkedid: c.id for c in new.scalars(select(Call))}
        old_ids = {c.id: c.linkedid for c in old.scalars(select(Call))}
        for t in old.scalars(select(Transcript)):
            new.add(Transcript(**{c: getattr(t, c) for c in Transcript.__table__.c.keys() if c != "id"}
                               | {"call_id": ids[old_ids[t.call_id]]}))
        for s in old.scalars(select(Score)):
            new.add(Score(**{c: getattr(s, c) for c in Score.__table__.c.keys() if c != "id"}
                          | {"call_id": ids[old_ids[s.call_id]]}))
    source.dispose()


@pytest.mark.postgres
def test_postgres_backup_while_writing_restores_into_a_fresh_database(
        postgres_url: str, fresh_database: str, pipeline_db_template: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    captures = sorted(str(p) for p in ASTERISK.glob("ami-capture-*.raw"))
    assert main(["replay", *captures, "--db", postgres_url]) == 0
    copy_speech(pipeline_db_template, open_store(postgres_url))
    capsys.readouterr()
    password = "pw-never-shown-7"  # the server trusts the test user; the password must still stay hidden
    url = make_url(postgres_url).set(password=password).render_as_string(hide_password=False)
    out = tmp_path / "callmon.dump"
    before, printed, source = backup_while_writing(url, out, capsys)
    assert out.read_bytes().startswith(b"PGDMP") and password not in printed
    assert out.stat().st_mode & 0o077 == 0o040

    target = make_url(postgres_url).set(database=fresh_database).render_as_string(hide_password=False)
    assert main(["restore", "--db", target, "--from", str(out)]) == 0
    capsys.readouterr()
    restored = Store(open_store(target)).engine
    try:
        check_restored(source, restored, before, printed)
        assert main(["restore", "--db", target, "--from", str(out)]) == 1  # not into a database in use
        assert "not empty" in capsys.readouterr().err
        with restored.begin() as conn:
            conn.execute(text("DELETE FROM score_flags"))
        assert main(["restore", "--db", target, "--from", str(out), "--force"]) == 0
        capsys.readouterr()
        assert rows(restored, "score_flags") == before["score_flags"]
    finally:
        restored.dispose()
        source.dispose()
