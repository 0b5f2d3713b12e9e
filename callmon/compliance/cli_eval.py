"""``callmon eval``: the checks on a labelled set, from text or through the recogniser (audio mode)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callmon.compliance.evaluate import DEFAULT_LABELLED, LabelledError, evaluate, format_report, load_labelled
from callmon.compliance.grammar import load_grammar
from callmon.compliance.grammar_schema import GrammarError

__all__ = ["cmd_eval", "register"]


def cmd_eval(cfg: Any, args: argparse.Namespace) -> int:
    """Evaluate the grammar on a labelled set; exit 0 whatever the figures (they are the output)."""
    from callmon.compliance import eval_audio
    from callmon.speech.models import ModelError
    from callmon.speech.transcribe import configured_choice, load_choice

    try:
        grammar = load_grammar(args.grammar or cfg.compliance.grammar)
        dialogues = load_labelled(args.labelled)
        heard, mode = None, "text mode"
        if args.from_transcripts:
            heard = eval_audio.load_transcripts(Path(args.from_transcripts), dialogues)
            mode = f"audio mode, recognised earlier: {args.from_transcripts}"
        elif args.audio:
            choice = configured_choice(cfg.speech, args.engine, args.model)
            print(f"callmon: using {choice.spec.name} on {args.audio}", file=sys.stderr)
            recognizer = load_choice(choice, cfg.speech.threads)
            heard = eval_audio.transcribe_dialogues(Path(args.audio), dialogues, recognizer)
            mode = f"audio mode, {choice.spec.name}"
            if args.transcripts:
                Path(args.transcripts).write_text(json.dumps({"model": choice.spec.name, "dialogues": heard},
                                                             ensure_ascii=False), encoding="utf-8")
    except (GrammarError, LabelledError, eval_audio.AudioEvalError, ModelError) as exc:
        print(f"callmon: {exc}", file=sys.stderr)
        return 2
    report = evaluate(grammar, dialogues, heard, mode)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print(format_report(report))
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``eval`` with cli.build_parser's ``add(name, func, help, db=False)``."""
    p = add("eval", cmd_eval, "run the checks on a labelled set of dialogues: precision and recall per item",
            db=False)
    p.add_argument("labelled", nargs="?", default=DEFAULT_LABELLED, metavar="LABELLED.json",
                   help=f"labelled dialogues (default: {DEFAULT_LABELLED})")
    p.add_argument("--grammar", metavar="FILE", help="default: config compliance.grammar")
    p.add_argument("--json", action="store_true", help="counts, precision, recall and disagreements as JSON")
    p.add_argument("--audio", metavar="DIR", help="audio mode: <id>.operator.wav and <id>.caller.wav per dialogue, "
                                                  "through the recogniser (e.g. tests/fixtures/labelled/audio)")
    p.add_argument("--engine", choices=("vosk", "whisper"), help="audio mode: default config speech.engine")
    p.add_argument("--model", help="audio mode: default config speech.model, else the best installed")
    p.add_argument("--transcripts", metavar="OUT.json", help="audio mode: save what was recognised")
    p.add_argument("--from-transcripts", metavar="FILE", help="re-score utterances saved by --transcripts")
