"""Finding a call's recordings and whose voice each file (or stereo side) holds.

Three layouts occur: separate caller/operator files (MixMonitor ``r()``/``t()``,
as in the fixtures), one stereo file with one direction per side, and one
mixed mono file.  Files come from the paths named in the AMI events (tried as
named, then by file name in the configured directories) or, where the PBX
names none, from the configured directories by a filename pattern carrying
the Linkedid or Uniqueid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from callmon.calls.record import CallRecord
from callmon.config import RecordingsConfig


class RecordingMissing(Exception):
    """No recording for the call yet (MixMonitor may still be writing it): retry later."""


@dataclass(slots=True, frozen=True)
class Source:
    """One file and whose voice it holds: operator, caller, or mixed (both, or unknown)."""

    path: Path
    role: str


def _role_by_name(path: Path, cfg: RecordingsConfig) -> str:
    if path.stem.endswith(cfg.caller_suffix):
        return "caller"
    if path.stem.endswith(cfg.operator_suffix):
        return "operator"
    return "mixed"


def _existing(named: str, dirs: list[Path]) -> Path | None:
    path = Path(named)
    if path.is_file():
        return path
    for directory in dirs:
        candidate = directory / path.name
        if candidate.is_file():
            return candidate
    return None


def _by_pattern(record: CallRecord, cfg: RecordingsConfig, dirs: list[Path]) -> list[Source]:
    pattern = re.compile(cfg.pattern)
    ids = {record.linkedid} | {r.dest_uniqueid for r in record.operators_rung}
    found = []
    for directory in dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            match = pattern.search(path.name)
            if not match or not path.is_file():
                continue
            groups = match.groupdict()
            if (groups.get("linkedid") or groups.get("uniqueid")) in ids:
                role = groups.get("role") or _role_by_name(path, cfg)
                found.append(Source(path, role if role in ("caller", "operator") else "mixed"))
    return found


def locate(record: CallRecord, cfg: RecordingsConfig) -> list[Source]:
    """The files to transcribe for a call: per-direction files if any, else the mixed/stereo one."""
    dirs = [Path(d).expanduser() for d in cfg.dirs]
    sources = []
    missing = []
    for named in record.recordings:
        path = _existing(named, dirs)
        if path is None:
            missing.append(named)
            continue
        role = record.recording_roles.get(named) or _role_by_name(path, cfg)
        sources.append(Source(path, role))
    if not sources:
        sources = _by_pattern(record, cfg, dirs)
    if not sources:
        where = ", ".join(str(d) for d in dirs) or "no [recordings] dirs configured"
        named_list = ", ".join(missing) or f"no file named in the events; pattern {cfg.pattern!r}"
        raise RecordingMissing(f"call {record.linkedid}: no recording found ({named_list}; searched {where})")
    split = [s for s in sources if s.role in ("operator", "caller")]
    if {s.role for s in split} == {"operator", "caller"}:
        return sorted(split, key=lambda s: s.role != "operator")
    return [s for s in sources if s.role == "mixed"][:1] or split


def pattern_index(cfg: RecordingsConfig) -> dict[str, list[Path]]:
    """Files in ``dirs`` whose name matches ``pattern``, by the call id they carry: one directory
    listing for a whole retention run instead of one per call (the same rule as ``locate``)."""
    pattern = re.compile(cfg.pattern)
    index: dict[str, list[Path]] = {}
    for directory in (Path(d).expanduser() for d in cfg.dirs):
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            match = pattern.search(path.name)
            if match and path.is_file():
                groups = match.groupdict()
                key = groups.get("linkedid") or groups.get("uniqueid")
                if key:
                    index.setdefault(key, []).append(path)
    return index


def recording_files(record: CallRecord, cfg: RecordingsConfig, index: dict[str, list[Path]]) -> list[Path]:
    """Every file of a call, found as ``locate`` finds them (named in the events, as named or by
    name in ``dirs``, and by ``pattern``), but all of them, not only those to transcribe: retention
    removes the mixed file along with the per-direction ones."""
    dirs = [Path(d).expanduser() for d in cfg.dirs]
    found: list[Path] = []
    for named in record.recordings:
        path = Path(named)
        found += [p for p in (path, *(d / path.name for d in dirs)) if p.is_file()]
    for call_id in sorted({record.linkedid} | {r.dest_uniqueid for r in record.operators_rung}):
        found += index.get(call_id, [])
    return list(dict.fromkeys(found))
