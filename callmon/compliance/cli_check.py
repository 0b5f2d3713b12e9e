"""``callmon check``: one call's transcript (and timing) against the site grammar, with evidence."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callmon.compliance.checks import check_call
from callmon.compliance.grammar import load_grammar
from callmon.compliance.grammar_schema import GrammarError
from callmon.config import Config


class InputError(Exception):
    """A transcript or timing file that is not what ``check`` reads."""


def read_json_objects(path: Path) -> list[dict[str, Any]]:
    """One JSON object, or one per line (what ``transcribe --json`` and ``replay --json`` print)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        pass
    objects = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                objects.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not JSON: {exc.msg} at column {exc.colno}") from None
    return objects


def utterances_of(objects: list[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """Utterances from ``transcribe --json`` objects or a ``transcript --json`` object."""
    found: list[dict[str, Any]] = []
    for obj in objects:
        if "utterances" in obj:
            found += obj["utterances"]
        elif "transcripts" in obj:
            found += [u for t in obj["transcripts"] for u in t["utterances"]]
        else:
            raise InputError(f"{path}: expected the output of `callmon transcribe --json` (key 'utterances')")
    for u in found:
        missing = {"channel", "start", "end", "text"} - set(u)
        if missing:
            raise InputError(f"{path}: an utterance lacks {', '.join(sorted(missing))}")
    return found


def cmd_check(cfg: Config, args: argparse.Namespace) -> int:
    try:
        grammar = load_grammar(args.grammar or cfg.compliance.grammar)
        transcript = Path(args.transcript)
        utterances = utterances_of(read_json_objects(transcript), transcript)
        timing = read_json_objects(Path(args.timing))[0] if args.timing else None
    except (GrammarError, InputError) as exc:
        print(f"callmon: {exc}", file=sys.stderr)
        return 2
    result = check_call(grammar, utterances, timing)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
        return 0
    verdict = "PASS" if result.passed else "FAIL"
    print(f"score {result.score} {verdict}; grammar {result.grammar_hash[:12]}")
    for reason in result.flag_reasons:
        print(f"  flagged: {reason}")
    for item in result.items:
        state = "not owed" if not item.owed else ("kept" if item.found else "MISSED")
        if item.kind == "prohibited":
            state = "SAID" if item.found else "none"
        m = item.match
        evidence = f"{m.text!r} {m.similarity:.2f} at {m.start:.1f}s" if m else "not found"
        print(f"  {item.id:24} {state:8} -{item.deduction:<3} {evidence}  {item.note or ''}")
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("check", cmd_check, "check one call's transcript against the site grammar", db=False)
    p.add_argument("transcript", metavar="TRANSCRIPT.json", help="output of `callmon transcribe --json`")
    p.add_argument("--timing", metavar="CALL.json", help="one record of `callmon replay --json` (for the ring rule)")
    p.add_argument("--grammar", metavar="FILE", help="default: config compliance.grammar")
    p.add_argument("--json", action="store_true")
