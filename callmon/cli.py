"""The ``callmon`` command line.

Exit codes: 0 success, 1 failure (unreadable input, database error),
2 bad usage or configuration, 3 AMI refused the login.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callmon import __version__
from callmon.calls.builder import build_call
from callmon.calls.record import CallRecord
from callmon.calls.stats import format_table, operator_stats
from callmon.config import Config, ConfigError, describe, load_config
from callmon.logs import register_secret, setup_logging
from callmon.pipeline import CallPipeline, tune_gc
from callmon.sources.ami_client import AmiAuthError
from callmon.sources.ami_protocol import Message
from callmon.sources.replay import NotAmiError, read_capture
from callmon.speech.models import ModelError
from callmon.store.db import StoreError, open_store, safe_url, url_password
from callmon.store.repository import Store
from callmon.timeutil import PeriodError, month_range, since_us

log = logging.getLogger("callmon")
EXIT_FAIL, EXIT_USAGE, EXIT_AUTH = 1, 2, 3


def _store(cfg: Config) -> Store:
    return Store(open_store(cfg.database.url), transcribe=cfg.speech.enabled, witness_seconds=cfg.serial.match_seconds)


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def cmd_replay(cfg: Config, args: argparse.Namespace) -> int:
    """Replay capture files through the live pipeline into the store."""
    store = _store(cfg)
    tune_gc()
    tz = cfg.tz
    on_call: Callable[[CallRecord], None] | None = (lambda r: _print_json(r.to_json(tz))) if args.json else None
    total = 0
    for path in args.captures:
        pipeline = CallPipeline(store, cfg.rings.policy(), pbx=args.pbx or cfg.ami.pbx,
                                source=f"replay:{Path(path).name}", on_call=on_call,
                                batch_events=cfg.store.batch_events)
        for count, item in enumerate(read_capture(Path(path)), 1):
            if isinstance(item, Message):
                pipeline.feed(item, None)
            if count % 10_000 == 0:  # the TTL runs on the capture's own clock
                pipeline.sweep(pipeline.last_event_us)
        pipeline.end_of_stream(f"end of capture {Path(path).name}")
        total += pipeline.calls_done
        log.info("%s: %d events, %d calls", path, pipeline.events_seen, pipeline.calls_done)
    if not args.json:
        print(f"replayed {len(args.captures)} capture(s): {total} calls stored in {safe_url(cfg.database.url)}")
    return 0


def _period(cfg: Config, args: argparse.Namespace) -> tuple[int | None, int | None]:
    if getattr(args, "month", None):
        return month_range(args.month, cfg.tz)
    return None, None


def cmd_calls(cfg: Config, args: argparse.Namespace) -> int:
    start, end = _period(cfg, args)
    records = _store(cfg).calls(start, end, args.operator)
    if args.json:
        for record in records:
            _print_json(record.to_json(cfg.tz))
        return 0
    print(f"{'offered at':29} {'caller':13} {'operator':10} {'ring s':>7} {'rings':>5} {'wait s':>7} outcome")
    for r in records:
        j = r.to_json(cfg.tz)
        flag = " INCOMPLETE" if r.incomplete else ""
        limit = "" if r.within_limit is None else (" ok" if r.within_limit else " OVER LIMIT")
        print(f"{j['offered_at'] or '-':29} {r.caller or '-':13} {r.operator or '-':10} "
              f"{_num(j['ring_seconds']):>7} {_num(r.rings):>5} {_num(j['wait_seconds']):>7} "
              f"{r.outcome}{limit}{flag}")
    print(f"{len(records)} call(s)")
    return 0


def _num(value: Any) -> str:
    return "-" if value is None else str(value)


def cmd_stats(cfg: Config, args: argparse.Namespace) -> int:
    start, end = _period(cfg, args)
    stats = operator_stats(_store(cfg).iter_calls(start, end), cfg.rings.policy())
    stats["month"] = args.month
    stats["timezone"] = cfg.site.timezone
    if args.json:
        _print_json(stats)
    else:
        print(f"answer statistics{' for ' + args.month if args.month else ''} ({cfg.site.timezone})")
        print(format_table(stats))
    return 0


def cmd_recompute(cfg: Config, args: argparse.Namespace) -> int:
    """Rebuild call records from their stored raw events with the current rules."""
    store = _store(cfg)
    since = since_us(args.since, cfg.tz) if args.since else None
    policy = cfg.rings.policy()
    done = 0
    for pbx, linkedid in store.stored_calls(since):
        if pbx.startswith("serial:"):  # device lines, not AMI events: their records are the device's
            continue
        record = build_call(linkedid, store.call_events(pbx, linkedid), policy)
        store.write_batch(pbx, [], [(record, None)], policy)
        done += 1
    print(f"recomputed {done} call(s) from stored events")
    return 0


def cmd_run(cfg: Config, args: argparse.Namespace) -> int:
    from callmon.daemon import Daemon

    if not cfg.ami.secret:
        log.warning("no AMI secret configured (ami.secret, CALLMON_AMI_SECRET or ami.secret_file)")
    store = _store(cfg)
    tune_gc()
    return asyncio.run(Daemon(cfg, store).run())


def cmd_config(cfg: Config, args: argparse.Namespace) -> int:
    if args.reference:
        from callmon.ops.reference import reference

        print(reference())
        return 0
    shown = describe(cfg)
    shown["database"]["url"] = safe_url(cfg.database.url)  # its password is as secret as the AMI one
    _print_json({"source": cfg.source_file, **shown})
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callmon", description="110 call-handling quality monitor")
    parser.add_argument("--version", action="version", version=f"callmon {__version__}")
    parser.add_argument("--config", help="TOML config file (default: $CALLMON_CONFIG)")
    parser.add_argument("--log-level", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                        help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[Config, argparse.Namespace], int], help_text: str,
            db: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if db:
            p.add_argument("--db", metavar="URL", help="database URL (default: config database.url)")
        p.set_defaults(func=func)
        return p

    add("run", cmd_run, "run the daemon: live AMI events into the store")
    p = add("replay", cmd_replay, "replay raw AMI capture files through the pipeline into the store")
    p.add_argument("captures", nargs="+", metavar="CAPTURE.raw")
    p.add_argument("--json", action="store_true", help="print one JSON object per finished call")
    p.add_argument("--pbx", help="PBX name the calls are stored under (default: config ami.pbx)")
    p = add("calls", cmd_calls, "list stored calls")
    p.add_argument("--month", metavar="YYYY-MM")
    p.add_argument("--operator", metavar="NAME", help="calls this operator answered or was rung for")
    p.add_argument("--json", action="store_true")
    p = add("stats", cmd_stats, "per-operator answer statistics")
    p.add_argument("--month", metavar="YYYY-MM")
    p.add_argument("--json", action="store_true")
    p = add("recompute", cmd_recompute, "rebuild call records from stored raw events")
    p.add_argument("--since", metavar="DATE", help="only calls with events since YYYY-MM-DD (site time zone)")
    p = add("config", cmd_config, "print the effective configuration (secrets masked)")
    p.add_argument("--reference", action="store_true", help="every key, its default and environment variable "
                   "(markdown, as in docs/operations.md)")
    from callmon.compliance import cli_check, cli_eval, cli_grammar, cli_score
    from callmon.export import cli_export
    from callmon.ops import cli_status
    from callmon.sources import cli_serial
    from callmon.speech import cli_speech
    from callmon.speech import commands as speech_commands
    from callmon.store import cli_store
    from callmon.web import cli_web

    cli_speech.register(add)
    speech_commands.register(add)
    cli_grammar.register(add)
    cli_check.register(add)
    cli_score.register(add)
    cli_eval.register(add)
    cli_web.register(add)
    cli_export.register(add)
    cli_status.register(add)
    cli_serial.register(add)
    cli_store.register(add)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level or "INFO")
    try:
        cfg = load_config(args.config)
        if getattr(args, "db", None):
            cfg.database.url = args.db
        register_secret(cfg.ami.secret.reveal())
        register_secret(cfg.http.metrics_token.reveal())
        register_secret(url_password(cfg.database.url))
        setup_logging(args.log_level or cfg.log.level, cfg.log.json)
        return int(args.func(cfg, args))
    except ConfigError as exc:
        print(f"callmon: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PeriodError as exc:
        print(f"callmon: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AmiAuthError as exc:
        print(f"callmon: {exc}; check ami.username and the secret (not retrying)", file=sys.stderr)
        return EXIT_AUTH
    except (NotAmiError, StoreError, OSError, ModelError) as exc:
        print(f"callmon: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
