"""``callmon purge`` on the real pipeline month: what goes, what stays, what the page then says.

The month is the bundled captures run through the whole pipeline (calls, Whisper transcripts,
scores).  Its recordings are copied into a spool of the test's own, so purging never touches the
fixtures.  The purge's clock is moved forward (the captures are from 2026-11-22) so that the
retention cutoff falls between two real calls: 1795357773.0 (14:29:33, scored 88, not flagged)
is past it, 1795357820.0 and later are not.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from callmon.cli import main
from callmon.store import retention
from callmon.store.db import open_store
from callmon.store.jobs import JobQueue
from callmon.store.models import Call, Job, RawEvent, Score, Transcript
from callmon.store.review_models import AuditRecord
from tests.conftest import ASTERISK
from tests.webapp import PASSWORDS, serve, web_config

DAY_US = 86_400_000_000
PURGED, KEPT = "1795357773.0", "1795357820.0"
CUTOFF_US = 1795357800 * 1_000_000  # between the two calls above
PHONE = re.compile(r"(?<![0-9.*])1[0-9]{10}(?![0-9])")  # an 11-digit mobile number, unmasked


def spool(tmp_path: Path) -> Path:
    target = tmp_path / "spool"
    shutil.copytree(ASTERISK / "recordings", target)
    return target


def config(tmp_path: Path, url: str, dirs: Path | None, days: int = 30, extra: str = "") -> str:
    path = tmp_path / "callmon.toml"
    recordings = f'[recordings]\ndirs = ["{dirs}"]\n' if dirs else ""
    path.write_text(f'[database]\nurl = "{url}"\n{recordings}[retention]\nrecordings_days = {days}\n'
                    f"transcripts_days = {days}\n{extra}", encoding="utf-8")
    return str(path)


def purge(capsys: pytest.CaptureFixture[str], cfg: str, *args: str) -> tuple[int, str, str]:
    status = main(["--config", cfg, "purge", *args])
    out, err = capsys.readouterr()
    return status, out, err


def call_id(engine: Engine, linkedid: str) -> int:
    with Session(engine) as session:
        return int(session.scalars(select(Call.id).where(Call.linkedid == linkedid)).one())


def snapshot(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        return {
            "calls": session.scalar(select(func.count()).select_from(Call)),
            "raw_events": session.scalar(select(func.count()).select_from(RawEvent)),
            "scores": [(s.call_id, s.score, s.passed, s.flagged, s.flag_reasons, s.items)
                       for s in session.scalars(select(Score).order_by(Score.call_id))],
            "transcripts": session.scalar(select(func.count()).select_from(Transcript)),
            "marks": session.execute(select(Call.linkedid).where(Call.recordings_purged_us.is_not(None))).all(),
        }


@pytest.fixture
def month(pipeline_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path, Engine]:
    """The pipeline month, its spool, and the purge's clock set 30 days after CUTOFF_US."""
    monkeypatch.setattr(retention, "clock", lambda: CUTOFF_US + 30 * DAY_US)
    return pipeline_db, spool(tmp_path), open_store(pipeline_db)


def test_purge_removes_only_what_is_past_retention_once(month: tuple[str, Path, Engine], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    url, files, engine = month
    cfg = config(tmp_path, url, files)
    before = snapshot(engine)
    listing = sorted(p.name for p in files.iterdir())
    assert len(listing) == 15

    status, out, err = purge(capsys, cfg, "--dry-run")  # says what would go, changes nothing
    assert status == 0, err
    assert "dry run" in out and "would remove 3 file(s) of 1 call(s)" in out
    assert "would remove 2 transcript(s) of 1 call(s)" in out
    assert err.count("would remove recording") == 3 and err.count("would remove transcript") == 2
    assert sorted(p.name for p in files.iterdir()) == listing
    assert snapshot(engine) == before

    status, out, err = purge(capsys, cfg)
    assert status == 0, err
    gone = sorted(set(listing) - {p.name for p in files.iterdir()})
    assert len(gone) == 3 and all(PURGED in name for name in gone)  # the mixed file and both directions
    assert f"removed 3 file(s) of 1 call(s), {sum_sizes(gone)}" in out
    assert "removed 2 transcript(s) of 1 call(s)" in out
    assert "flagged, not reviewed: 8" in out  # older calls, flagged and unreviewed, keep their evidence
    removals = [line for line in err.splitlines() if "retention: removed" in line]
    assert len(removals) == 5 and all(f"of call {PURGED}" in line and "older than [retention]" in line
                                      for line in removals)
    assert sum(1 for line in removals if "removed recording" in line and "-caller.wav" in line) == 1
    assert not PHONE.search(err), "a phone number reached the log at INFO"

    after = snapshot(engine)
    assert after["calls"] == before["calls"] and after["raw_events"] == before["raw_events"]
    assert after["scores"] == before["scores"]  # the verdicts and their evidence summary stay
    assert after["transcripts"] == before["transcripts"] - 2
    purged_id = call_id(engine, PURGED)
    with Session(engine) as session:
        call = session.get(Call, purged_id)
        assert call is not None
        assert call.recordings_purged_us == call.transcripts_purged_us == CUTOFF_US + 30 * DAY_US
        assert not session.scalars(select(Transcript).where(Transcript.call_id == purged_id)).all()
        audit = session.scalars(select(AuditRecord).where(AuditRecord.call_id == purged_id,
                                                          AuditRecord.action == "retention_purge")).all()
        assert {(a.username, a.item_id) for a in audit} == {("callmon", "recordings"), ("callmon", "transcripts")}
    assert purged_id not in JobQueue(engine).calls_since(None)  # reprocess leaves it alone

    remaining = sorted(p.name for p in files.iterdir())
    status, out, err = purge(capsys, cfg)  # idempotent
    assert status == 0 and "removed 0 file(s) of 0 call(s)" in out and "removed 0 transcript(s)" in out
    assert "retention: removed" not in err
    assert sorted(p.name for p in files.iterdir()) == remaining
    assert snapshot(engine) == after


def sum_sizes(names: list[str]) -> str:
    from callmon.store.backup import human_bytes

    return human_bytes(sum((ASTERISK / "recordings" / n).stat().st_size for n in names))


def test_zero_days_keeps_everything(month: tuple[str, Path, Engine], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    url, files, _ = month
    status, out, _ = purge(capsys, config(tmp_path, url, files, days=0))
    assert status == 0 and "keep forever" in out
    assert len(list(files.iterdir())) == 15


def test_holds_keep_evidence_under_review_and_files_outside_the_dirs(
        month: tuple[str, Path, Engine], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, files, engine = month
    monkeypatch.setattr(retention, "clock", lambda: CUTOFF_US + 400 * DAY_US)  # every call is past retention
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outside = elsewhere / "1795358016.0-extra.wav"
    outside.write_bytes(b"RIFF")
    with Session(engine) as session, session.begin():
        last = session.scalars(select(Call).where(Call.linkedid == "1795358016.0")).one()
        last.recordings = [*last.recordings, str(outside)]  # named by the events, but outside [recordings] dirs
        session.execute(update(Job).where(Job.call_id == call_id(engine, "1795357846.0")).values(state="pending"))
    cfg = config(tmp_path, url, files)
    status, out, err = purge(capsys, cfg)
    assert status == 0, err
    left = {p.name for p in files.iterdir()}
    assert not any(PURGED in n for n in left)  # reviewed or not flagged: gone
    assert any(KEPT in n for n in left)  # flagged and not reviewed: held
    assert any("1795357846.0" in n for n in left)  # transcription pending: held
    assert "transcription not finished: 1" in out
    assert outside.exists()

    with Session(engine) as session, session.begin():  # a supervisor reviews the flagged call
        session.execute(update(Score).where(Score.call_id == call_id(engine, KEPT)).values(review_state="reviewed"))
    purge(capsys, cfg)
    assert not any(KEPT in p.name for p in files.iterdir())

    status, out, err = purge(capsys, config(tmp_path, url, files, extra="hold_open_reviews = false\n"))
    assert "NOT removed: 1 file(s) outside [recordings] dirs" in out and "outside [recordings] dirs" in err
    assert outside.exists() and not any("1795358016.0" in p.name for p in files.iterdir())
    with Session(engine) as session:
        last = session.scalars(select(Call).where(Call.linkedid == "1795358016.0")).one()
        assert last.recordings_purged_us is None  # tried again next run, never marked while a file is left


def test_settings_that_would_delete_the_wrong_thing_are_refused(pipeline_db: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = purge(capsys, config(tmp_path, pipeline_db, None))
    assert status == 2 and "needs [recordings] dirs" in err
    status, _, err = purge(capsys, config(tmp_path, pipeline_db, tmp_path, days=-1))
    assert status == 2 and "recordings_days" in err


def test_a_purged_call_page_says_removed_by_retention(month: tuple[str, Path, Engine], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    url, files, engine = month
    assert purge(capsys, config(tmp_path, url, files))[0] == 0
    purged, kept = call_id(engine, PURGED), call_id(engine, KEPT)
    cfg = web_config(url)
    cfg.recordings.dirs = [str(files)]
    with serve(cfg) as base, httpx.Client(base_url=base, timeout=30) as client:
        r = client.post("/api/session", json={"username": "sup", "password": PASSWORDS["sup"]})
        assert r.status_code == 200
        page = client.get(f"/calls/{purged}")
        assert page.status_code == 200
        html = page.text
        assert 'id="recordings-removed"' in html and 'id="transcripts-removed"' in html
        assert "removed by retention on 2026-12-" in html and "按保留期限于 2026-12-" in html
        assert "<audio" not in html and "还没有转写" not in html
        assert 'class="evidence-removed"' in html  # the verdict's evidence, quoted, without a player
        assert "按保留期限删除" in html  # the audit row
        data = client.get(f"/api/calls/{purged}").json()
        assert data["removed_by_retention"]["recordings"].startswith("2026-12-")
        assert data["utterances"] == [] and data["automatic"]["score"] == 88
        assert client.get(f"/api/calls/{purged}/audio/operator").status_code == 404
        other = client.get(f"/calls/{kept}").text
        assert "<audio" in other and "retention-notice" not in other
        assert client.get(f"/api/calls/{kept}/audio/operator").status_code == 200

    assert main(["transcript", PURGED, "--db", url]) == 0
    assert "transcripts removed by retention on 2026-12-" in capsys.readouterr().out


@pytest.mark.postgres
def test_purge_on_postgres(postgres_url: str, pipeline_db_template: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_backup import copy_speech

    monkeypatch.setattr(retention, "clock", lambda: CUTOFF_US + 30 * DAY_US)
    captures = sorted(str(p) for p in ASTERISK.glob("ami-capture-*.raw"))
    assert main(["replay", *captures, "--db", postgres_url]) == 0
    engine = open_store(postgres_url)
    copy_speech(pipeline_db_template, engine)
    with Session(engine) as session, session.begin():  # as the worker left them in the template
        session.execute(update(Job).values(state="done"))
    files = spool(tmp_path)
    cfg = config(tmp_path, postgres_url, files)
    status, out, err = purge(capsys, cfg)
    assert status == 0, err
    assert "removed 3 file(s) of 1 call(s)" in out and "removed 2 transcript(s) of 1 call(s)" in out
    assert not any(PURGED in p.name for p in files.iterdir()) and len(list(files.iterdir())) == 12
    status, out, err = purge(capsys, cfg)
    assert "removed 0 file(s)" in out and "removed 0 transcript(s)" in out and "retention: removed" not in err
    engine.dispose()
