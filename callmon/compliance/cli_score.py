"""``callmon score`` (the per-operator table) and ``callmon demo`` (the whole pipeline on the bundled sample)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callmon.compliance.judge import score_table
from callmon.config import Config
from callmon.store.db import open_store
from callmon.store.repository import Store
from callmon.timeutil import month_range

SAMPLE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "asterisk"


def _print_table(table: dict[str, Any]) -> None:
    print(f"{'operator':10} {'calls':>6} {'mean':>6} {'pass%':>6} {'rings ok%':>9} {'flagged':>7} {'reviewed':>8} "
          f"{'overridden':>10} {'disputed':>8}  weakest items")
    center = table["center"]
    for op in [*table["operators"], {"operator": "ALL", **center}]:
        weakest = sorted(((v, k) for k, v in op["items_pct"].items() if v is not None))[:3]
        shown = ", ".join(f"{k.split('.')[-1]} {v:g}%" for v, k in weakest)
        mean = "-" if op["mean_score"] is None else f"{op['mean_score']:g}"
        passed = "-" if op["pass_rate_pct"] is None else f"{op['pass_rate_pct']:g}"
        within = "-" if op["within_ring_limit_pct"] is None else f"{op['within_ring_limit_pct']:g}"
        print(f"{op['operator']:10} {op['calls']:>6} {mean:>6} {passed:>6} {within:>9} {op['flagged']:>7} "
              f"{op['reviewed']:>8} {op['overridden']:>10} {op['disputed']:>8}  {shown}")
    hashes = ", ".join(f"{h[:12]} ({n} calls)" for h, n in table["grammar_hashes"].items())
    print(f"\n{table['pass_rule']}; reviewed results count where a person reviewed; grammar {hashes or '-'}")
    if table["flagged_calls"]:
        print("\nflagged calls:")
    for call in table["flagged_calls"]:
        score = "-" if call["score"] is None else call["score"]
        print(f"  {call['linkedid']:16} {call['operator'] or '-':8} score {score:>3}  {'; '.join(call['reasons'])}")


def cmd_score(cfg: Config, args: argparse.Namespace) -> int:
    store = Store(open_store(cfg.database.url))
    start, end = month_range(args.month, cfg.tz) if args.month else (None, None)
    table = score_table(store, start, end)
    if args.json:
        print(json.dumps({"month": args.month, **table}, ensure_ascii=False))
    else:
        _print_table(table)
    return 0


def cmd_demo(cfg: Config, args: argparse.Namespace) -> int:
    """AMI events -> calls -> recordings -> transcripts -> checks, on the bundled real sample."""
    captures = sorted(str(p) for p in SAMPLE.glob("ami-capture-*.raw"))
    if not captures:
        print(f"callmon: the bundled sample is not here ({SAMPLE}); run demo from a source checkout",
              file=sys.stderr)
        return 1
    cfg.recordings.dirs = [str(SAMPLE / "recordings")]
    cfg.speech.max_attempts = 1  # the mixed-session recordings were not kept: say so at once
    from callmon.cli import cmd_replay
    from callmon.speech.commands import recognizer_factory
    from callmon.speech.worker import TranscriptionWorker

    status = cmd_replay(cfg, argparse.Namespace(captures=captures, json=False, pbx=None))
    store = Store(open_store(cfg.database.url), transcribe=cfg.speech.enabled)
    worker = TranscriptionWorker(cfg, store, recognizer_factory(cfg, argparse.Namespace()))
    worker.run(until_idle=True)
    print(f"transcribed and checked {worker.done} call(s); {worker.failed} without usable recordings\n")
    _print_table(score_table(store))
    return status


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("score", cmd_score, "per-operator compliance: mean score, pass rate, items, flagged calls")
    p.add_argument("--month", metavar="YYYY-MM")
    p.add_argument("--json", action="store_true")
    add("demo", cmd_demo, "the whole pipeline on the bundled sample: calls, transcripts, checks, scores")
