"""``callmon purge``, ``callmon backup`` and ``callmon restore``: keeping the store, and keeping it small.

Backup and restore do not open the store through ``open_store``: that would run migrations, and a
backup taken before an upgrade must hold the schema as it was.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from callmon.config import Config
from callmon.store.backup import backup, human_bytes, restore
from callmon.store.db import open_store, safe_url
from callmon.store.retention import DAY_US, PurgeReport, purge


def cmd_purge(cfg: Config, args: argparse.Namespace) -> int:
    """Remove recordings and transcripts past [retention]; print what went (or would go)."""
    report = purge(open_store(cfg.database.url), cfg, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print("\n".join(summary(report, cfg)))
    return 0


def summary(report: PurgeReport, cfg: Config) -> list[str]:
    """The purge's result in a few lines: counts, bytes, what was held and why."""
    verb = "would remove" if report.dry_run else "removed"
    lines = ["dry run: nothing is changed"] if report.dry_run else []
    now = report.now_us

    def before(days: int) -> str:
        return datetime.fromtimestamp((now - days * DAY_US) / 1e6, cfg.tz).strftime("%Y-%m-%d %H:%M")

    if not report.recordings_days and not report.transcripts_days:
        return [*lines, "[retention] recordings_days and transcripts_days are 0 (keep forever): nothing to purge"]
    if report.recordings_days:
        freed = "would be freed" if report.dry_run else "freed"
        lines.append(f"recordings (kept {report.recordings_days} day(s), calls started before "
                     f"{before(report.recordings_days)}): {verb} {report.files} file(s) of {report.recording_calls} "
                     f"call(s), {human_bytes(report.file_bytes)} {freed}")
    else:
        lines.append("recordings: kept forever ([retention] recordings_days = 0)")
    if report.transcripts_days:
        lines.append(f"transcripts (kept {report.transcripts_days} day(s), calls started before "
                     f"{before(report.transcripts_days)}): {verb} {report.transcripts} transcript(s) of "
                     f"{report.transcript_calls} call(s), about {human_bytes(report.transcript_bytes)}")
    else:
        lines.append("transcripts: kept forever ([retention] transcripts_days = 0)")
    if report.held:
        why = "; ".join(f"{reason}: {len(ids)}" for reason, ids in sorted(report.held.items()))
        lines.append(f"held (evidence kept): {len(set().union(*report.held.values()))} call(s) ({why})")
    if report.missing:
        lines.append(f"{report.missing} recording file(s) named by the calls were already gone; "
                     f"{report.gone_calls} call(s) with none left {'would be ' if report.dry_run else ''}marked purged")
    if report.outside or report.failed:
        lines.append(f"NOT removed: {report.outside} file(s) outside [recordings] dirs, {report.failed} that could "
                     "not be deleted (see the log); their calls are tried again next run")
    return lines


def cmd_backup(cfg: Config, args: argparse.Namespace) -> int:
    """A consistent copy of the store, safe while the daemon writes."""
    done = backup(cfg.database.url, Path(args.out))
    print(f"backup of {safe_url(cfg.database.url)}")
    print("\n".join(done.lines("wrote")))
    return 0


def cmd_restore(cfg: Config, args: argparse.Namespace) -> int:
    """A backup put in place as the configured database (an existing one only with --force)."""
    done = restore(cfg.database.url, Path(getattr(args, "from")), force=args.force)
    print("\n".join(done.lines("restored")))
    print(f"from {getattr(args, 'from')}; start callmon again, then check `callmon status` and `callmon calls`")
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("purge", cmd_purge, "remove recordings and transcripts older than [retention] allows "
            "(call records, raw events and scores stay)")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed; change nothing")
    p.add_argument("--json", action="store_true", help="the summary as one JSON object")
    p = add("backup", cmd_backup, "a consistent copy of the database, safe while callmon runs "
            "(SQLite: online backup API; PostgreSQL: pg_dump --format=custom)")
    p.add_argument("--out", required=True, metavar="FILE", help="the backup file (written atomically)")
    p = add("restore", cmd_restore, "put a backup in place as the configured database")
    p.add_argument("--from", required=True, metavar="FILE", help="a file written by `callmon backup`")
    p.add_argument("--force", action="store_true",
                   help="replace an existing SQLite file / restore into a non-empty PostgreSQL database")
