"""``callmon grammar check FILE``: validate a site grammar and show what it will score.

A center edits its grammar by hand, so the command prints enough (phrase counts, budgets,
the content hash every score will store) to see that an edit did what was meant. A bad
file prints ``file:line: what is wrong`` and exits 2, like a bad config file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from callmon.compliance.grammar import Grammar, GrammarError, load_grammar

EXIT_OK, EXIT_USAGE = 0, 2


def summary(grammar: Grammar) -> str:
    """The human-readable summary ``grammar check`` prints."""
    g = grammar
    lines = [f"grammar {g.path}: ok (schema {g.schema})", f"site: {g.site}",
             f"greeting: first utterance {'required' if g.greeting.must_be_first else 'not required'}, "
             f"within {g.greeting.within_seconds:g} s; templates: {' | '.join(g.greeting.templates)}"]
    for slot in g.greeting.slots:
        kind = f"value {slot.value}" if slot.value is not None else f"pattern {slot.pattern}"
        lines.append(f"  slot {{{slot.name}}}: {kind}{' (optional)' if slot.optional else ''}")
    lines.append(f"default thresholds: chars {g.thresholds.chars:g}, pinyin {g.thresholds.pinyin:g}")
    lines.append("elements (phrases+cues):   asks  volunteered")
    for e in g.elements:
        asks, volunteered = f"{len(e.asks)}+{len(e.ask_cues)}", f"{len(e.volunteered)}+{len(e.volunteered_cues)}"
        lines.append(f"  {e.id:<24}{asks:>6}  {volunteered:>11}  {e.name}")
    if g.elements_waived_by:
        lines.append(f"elements not owed when triggered: {', '.join(g.elements_waived_by)}")
    lines.append("situations (phrases+cues): triggers    not  responses  phrases")
    for s in g.situations:
        phrases = f"{sum(len(r.phrases) for r in s.responses)}+{sum(len(r.cues) for r in s.responses)}"
        triggers, nots = f"{len(s.triggers)}+{len(s.trigger_cues)}", f"{len(s.not_triggers)}+{len(s.not_trigger_cues)}"
        lines.append(f"  {s.id:<24}{triggers:>8}  {nots:>5}  {len(s.responses):>9}  {phrases:>7}")
    for c in g.custom:
        lines.append(f"custom {c.id} {c.name}: {len(c.phrases)} phrases")
    groups = ", ".join(f"{p.kind} {len(p.phrases)}{' (veto)' if p.veto else ''}" for p in g.prohibited.groups)
    total = sum(len(p.phrases) for p in g.prohibited.groups)
    lines.append(f"prohibited: {total} phrases ({groups})")
    lines.append(f"rings: limit {g.rings.limit}")
    lines.append("budgets:                  budget  deduction")
    for item in g.scoring.items:
        lines.append(f"  {item.id:<24}{item.budget:>6}  {item.deduction:>9}")
    lines.append(f"  {'total':<24}{sum(i.budget for i in g.scoring.items):>6}")
    lines.append(f"pass mark: {g.scoring.pass_mark} of {g.scoring.total}")
    for v in g.scoring.vetoes:
        group = f" [{v.group}]" if v.group else ""
        lines.append(f"veto {v.id}: {v.item}{group} {v.when}: {v.reason}")
    lines.append(f"content hash: {g.content_hash}")
    return "\n".join(lines)


def cmd_grammar(cfg: Any, args: argparse.Namespace) -> int:
    """Only ``check`` exists today; the config is not needed for it."""
    try:
        grammar = load_grammar(args.file)
    except GrammarError as exc:
        print(f"callmon: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(summary(grammar))
    return EXIT_OK


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``grammar check FILE`` with cli.build_parser's ``add(name, func, help, db=False)``."""
    p = add("grammar", cmd_grammar, "work with site grammars (the required script and its scoring)", db=False)
    actions = p.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="validate a grammar file and print its summary")
    check.add_argument("file", metavar="FILE")
