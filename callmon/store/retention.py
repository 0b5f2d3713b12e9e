"""Retention: recordings and transcripts removed once older than ``[retention]`` allows.

Recordings and transcripts hold callers' voices and words, so a command center keeps them only as
long as its rules say.  What the figures and verdicts rest on is never touched: the call record,
its raw AMI events (``callmon recompute`` rebuilds calls from them) and its score with the items'
evidence summary.  Each purged call is marked with the time its audio or transcript went (and an
audit row says so), so its page shows "removed by retention" rather than "not transcribed".

Safe to run while the daemon writes and to run again: files are deleted only inside
``[recordings] dirs``; a call is marked only when none of its files is left; calls under review
(``hold_open_reviews``) or still waiting for transcription keep everything.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from callmon.config import Config, ConfigError
from callmon.speech.recordings import pattern_index, recording_files
from callmon.store.models import Call, Job, Score, Transcript
from callmon.store.repository import to_record
from callmon.store.review_models import AuditRecord, Dispute

log = logging.getLogger(__name__)
DAY_US = 86_400_000_000
BATCH = 500
ACTION = "retention_purge"  # the audit action; username "callmon", role "system"
STARTED = func.coalesce(Call.first_event_us, Call.offered_us, Call.computed_us)  # a call's age counts from here


def clock() -> int:
    return time.time_ns() // 1000


@dataclass
class PurgeReport:
    """What one run removed (or, with ``dry_run``, would remove), kept and held."""

    dry_run: bool
    now_us: int = 0  # the run's clock: ages count back from here
    recordings_days: int = 0
    transcripts_days: int = 0
    files: int = 0
    file_bytes: int = 0
    recording_calls: int = 0  # calls that lost at least one file
    missing: int = 0  # files named in the events and already gone
    gone_calls: int = 0  # calls marked purged whose files were all gone already
    outside: int = 0  # files outside [recordings] dirs: never deleted
    failed: int = 0  # could not be deleted (permissions): tried again next run
    transcripts: int = 0
    transcript_bytes: int = 0  # their text and utterances, roughly what the database no longer holds
    transcript_calls: int = 0
    held: dict[str, set[int]] = field(default_factory=dict)  # why -> the calls whose evidence was kept

    def hold(self, call_id: int, why: str) -> None:
        self.held.setdefault(why, set()).add(call_id)

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "recordings_days": self.recordings_days,
                "transcripts_days": self.transcripts_days,
                "recordings": {"files": self.files, "bytes": self.file_bytes, "calls": self.recording_calls,
                               "already_gone": self.missing, "calls_already_gone": self.gone_calls,
                               "outside_dirs": self.outside,
                               "failed": self.failed},
                "transcripts": {"rows": self.transcripts, "bytes": self.transcript_bytes,
                                "calls": self.transcript_calls},
                "held": {why: len(ids) for why, ids in sorted(self.held.items())}}


def check(cfg: Config) -> None:
    """Refuse settings that would delete the wrong thing, before anything is touched."""
    retention = cfg.retention
    for key in ("recordings_days", "transcripts_days"):
        if getattr(retention, key) < 0:
            raise ConfigError(f"[retention] {key}: expected 0 (keep forever) or a number of days, "
                              f"got {getattr(retention, key)}")
    if retention.recordings_days and not cfg.recordings.dirs:
        raise ConfigError("[retention] recordings_days needs [recordings] dirs: callmon deletes recordings only "
                          "inside those directories")


def purge(engine: Engine, cfg: Config, dry_run: bool = False, now_us: int | None = None) -> PurgeReport:
    """Remove the recordings and transcripts older than the retention; returns what was done."""
    check(cfg)
    now = clock() if now_us is None else now_us
    report = PurgeReport(dry_run, now, cfg.retention.recordings_days, cfg.retention.transcripts_days)
    if cfg.retention.recordings_days:
        _recordings(engine, cfg, now, report)
    if cfg.retention.transcripts_days:
        _transcripts(engine, cfg, now, report)
    return report


def _holds(session: Session, ids: list[int], now: int, cfg: Config) -> dict[int, str]:
    """Calls among ``ids`` whose evidence must stay, with why."""
    held = {i: "transcription not finished" for i in session.scalars(
        select(Job.call_id).where(Job.call_id.in_(ids), Job.state.in_(("pending", "running"))))}
    if not cfg.retention.hold_open_reviews:
        return held
    for call_id in session.scalars(select(Dispute.call_id).where(Dispute.call_id.in_(ids), Dispute.state == "open")):
        held.setdefault(call_id, "disputed")
    window = int(cfg.web.dispute_days * DAY_US)
    for call_id, flagged, state, first in session.execute(
            select(Score.call_id, Score.flagged, Score.review_state, Score.first_scored_us)
            .where(Score.call_id.in_(ids))):
        if state == "disputed":
            held.setdefault(call_id, "disputed")
        elif flagged and state == "unreviewed":
            held.setdefault(call_id, "flagged, not reviewed")
        elif first is not None and first + window > now:
            held.setdefault(call_id, "still open to dispute")
    return held


def _audit(session: Session, now: int, call_id: int, what: str, after: dict[str, Any], reason: str) -> None:
    session.add(AuditRecord(at_us=now, username="callmon", role="system", action=ACTION, call_id=call_id,
                            item_id=what, before=None, after=after, reason=reason))


def _day(us: int, cfg: Config) -> str:
    return datetime.fromtimestamp(us / 1e6, cfg.tz).strftime("%Y-%m-%d %H:%M")


def _recordings(engine: Engine, cfg: Config, now: int, report: PurgeReport) -> None:
    days = cfg.retention.recordings_days
    cutoff = now - days * DAY_US
    why = f"older than [retention] recordings_days = {days}"
    index = pattern_index(cfg.recordings)
    roots = [Path(os.path.realpath(Path(d).expanduser())) for d in cfg.recordings.dirs]
    verb = "would remove" if report.dry_run else "removed"
    last = 0
    while True:
        with Session(engine) as session:
            rows = session.scalars(select(Call).where(Call.id > last, Call.recordings_purged_us.is_(None),
                                                      STARTED < cutoff)
                                   .order_by(Call.id).limit(BATCH).options(selectinload(Call.rings_list))).all()
            if not rows:
                return
            last = rows[-1].id
            held = _holds(session, [r.id for r in rows], now, cfg)
            done: dict[int, tuple[int, int]] = {}
            for row in rows:
                record = to_record(row)
                files = recording_files(record, cfg.recordings, index)
                if not files and not record.recordings:
                    continue  # no audio was ever named or found for this call
                if row.id in held:
                    report.hold(row.id, held[row.id])
                    log.debug("retention: kept the recordings of call %s: %s", row.linkedid, held[row.id])
                    continue
                started = _day(row.first_event_us or row.offered_us or row.computed_us, cfg)
                count = size = 0
                complete = True
                for path, outcome, nbytes in _remove_files(files, roots, report.dry_run):
                    if outcome == "removed":
                        count, size = count + 1, size + nbytes
                        log.info("retention: %s recording %s of call %s (%d bytes): call started %s, %s",
                                 verb, path, row.linkedid, nbytes, started, why)
                    elif outcome == "outside":
                        report.outside += 1
                        complete = False
                        log.warning("retention: kept recording %s of call %s: outside [recordings] dirs (%s)",
                                    path, row.linkedid, ", ".join(str(r) for r in roots))
                    elif outcome == "failed":
                        report.failed += 1
                        complete = False
                    else:
                        report.missing += 1
                report.missing += sum(1 for n in record.recordings if not any(f.name == Path(n).name for f in files))
                report.files, report.file_bytes = report.files + count, report.file_bytes + size
                if complete:
                    done[row.id] = (count, size)
                    if not count:
                        log.info("retention: call %s (started %s) names recordings that are already gone; %s",
                                 row.linkedid, started, "would be marked" if report.dry_run else "marked")
            report.recording_calls += sum(1 for count, _ in done.values() if count)
            report.gone_calls += sum(1 for count, _ in done.values() if not count)
            if done and not report.dry_run:
                session.execute(update(Call).where(Call.id.in_(list(done))).values(recordings_purged_us=now))
                for call_id, (count, size) in done.items():
                    _audit(session, now, call_id, "recordings", {"files": count, "bytes": size}, why)
                session.commit()


def _remove_files(files: list[Path], roots: list[Path], dry_run: bool) -> list[tuple[Path, str, int]]:
    """(path, removed | missing | outside | failed, bytes) for each distinct file."""
    out = []
    for real in dict.fromkeys(Path(os.path.realpath(p.parent)) / p.name for p in files):  # the link, not its target
        if not any(real.is_relative_to(root) for root in roots):
            out.append((real, "outside", 0))
            continue
        try:
            size = real.lstat().st_size
            if not dry_run:
                real.unlink()
        except FileNotFoundError:
            out.append((real, "missing", 0))
            continue
        except OSError as exc:
            log.error("retention: cannot remove recording %s: %s (tried again next run)", real, exc.strerror)
            out.append((real, "failed", 0))
            continue
        out.append((real, "removed", size))
        if not dry_run:
            _prune(real.parent, roots)
    return out


def _prune(directory: Path, roots: list[Path]) -> None:
    """Remove a dated sub-directory left empty (never a configured directory itself)."""
    while directory not in roots and any(directory.is_relative_to(r) for r in roots):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


def _transcripts(engine: Engine, cfg: Config, now: int, report: PurgeReport) -> None:
    days = cfg.retention.transcripts_days
    cutoff = now - days * DAY_US
    why = f"older than [retention] transcripts_days = {days}"
    verb = "would remove" if report.dry_run else "removed"
    last = 0
    while True:
        with Session(engine) as session:
            ids = list(session.scalars(
                select(Transcript.call_id).join(Call, Call.id == Transcript.call_id)
                .where(Transcript.call_id > last, STARTED < cutoff)
                .group_by(Transcript.call_id).order_by(Transcript.call_id).limit(BATCH)))
            if not ids:
                return
            last = ids[-1]
            held = _holds(session, ids, now, cfg)
            for call_id, reason in held.items():
                report.hold(call_id, reason)
            free = [i for i in ids if i not in held]
            calls = {c.id: c for c in session.scalars(select(Call).where(Call.id.in_(free)))}
            sizes: Counter[int] = Counter()
            counts: Counter[int] = Counter()
            for t in session.scalars(select(Transcript).where(Transcript.call_id.in_(free))
                                     .order_by(Transcript.call_id, Transcript.channel)):
                call = calls[t.call_id]
                nbytes = len(t.text.encode()) + len(json.dumps(t.utterances, ensure_ascii=False).encode())
                sizes[t.call_id] += nbytes
                counts[t.call_id] += 1
                log.info("retention: %s transcript (%s channel, %d utterances, about %d bytes) of call %s: "
                         "call started %s, %s", verb, t.channel, len(t.utterances), nbytes, call.linkedid,
                         _day(call.first_event_us or call.offered_us or call.computed_us, cfg), why)
            report.transcripts += sum(counts.values())
            report.transcript_bytes += sum(sizes.values())
            report.transcript_calls += len(free)
            if free and not report.dry_run:
                session.execute(delete(Transcript).where(Transcript.call_id.in_(free)))
                session.execute(update(Call).where(Call.id.in_(free)).values(transcripts_purged_us=now))
                for call_id in free:
                    _audit(session, now, call_id, "transcripts",
                           {"transcripts": counts[call_id], "bytes": sizes[call_id]}, why)
                session.commit()
