"""``callmon eval``: the checks against a labelled set of dialogues, per item precision and recall.

A labelled set (``tests/fixtures/labelled/dialogues.json``) is a list of dialogues, each
``{id, description, turns: [{speaker, text, start}], timing, labels: {item_id: {owed, found}}}``.
The labels are what a supervisor decided by the 110 rules, not what the code said.

For every item two questions are scored separately:

* ``owed``: did the rule apply to this call?  For situational rules this is trigger
  detection on the caller channel; over all dialogues that label the item.
* ``found``: was it kept (for ``prohibited``: was a prohibited phrase said)?  Only over
  the dialogues the label says owe the item.  An item the checks did not think owed counts
  as not found there, so a missed trigger shows twice: under ``owed`` and, when the operator
  kept the rule, as a ``found`` miss (the operator is not credited).

Text mode builds utterances from the turns: ``text = raw_text``, confidence 1.0 and
``end = start + 0.25 s`` per character, the rough pace of Mandarin speech.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callmon.compliance.checks import CheckResult, Item, check_call
from callmon.compliance.grammar_schema import FIXED_IDS, Grammar

__all__ = ["DEFAULT_LABELLED", "Counts", "Disagreement", "EvalReport", "ItemReport", "LabelledError", "evaluate",
           "format_report", "load_labelled", "utterances_from_turns"]

DEFAULT_LABELLED = "tests/fixtures/labelled/dialogues.json"
SECONDS_PER_CHAR = 0.25
SPEAKERS = ("operator", "caller")


class LabelledError(Exception):
    """A labelled set that is not what ``evaluate`` reads."""


@dataclass
class Counts:
    """A confusion matrix for one yes/no question."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, expected: bool, got: bool) -> None:
        if expected and got:
            self.tp += 1
        elif got:
            self.fp += 1
        elif expected:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float | None:
        """None when nothing was predicted positive (precision is undefined, not perfect)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        """None when nothing is labelled positive."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def to_json(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
                "precision": _round(self.precision), "recall": _round(self.recall)}


@dataclass
class ItemReport:
    """Both questions for one item id; ``support`` is the number of dialogues labelled owed."""

    id: str
    owed: Counts = field(default_factory=Counts)
    found: Counts = field(default_factory=Counts)
    support: int = 0
    labelled: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "labelled": self.labelled, "support": self.support,
                "owed": self.owed.to_json(), "found": self.found.to_json()}


@dataclass
class Disagreement:
    """One label the checks did not reproduce, with what the checks based their answer on."""

    dialogue: str
    item: str
    field: str  # owed | found
    expected: bool
    got: bool
    evidence: str

    def to_json(self) -> dict[str, Any]:
        return {"dialogue": self.dialogue, "item": self.item, "field": self.field,
                "expected": self.expected, "got": self.got, "evidence": self.evidence}


@dataclass
class EvalReport:
    grammar_hash: str
    dialogues: int
    items: dict[str, ItemReport]
    disagreements: list[Disagreement]
    results: dict[str, CheckResult] = field(default_factory=dict)
    mode: str = "text mode"

    def total(self, question: str) -> Counts:
        """Micro-averaged counts over all items for ``owed`` or ``found``."""
        out = Counts()
        for report in self.items.values():
            c: Counts = getattr(report, question)
            out.tp, out.fp, out.fn, out.tn = out.tp + c.tp, out.fp + c.fp, out.fn + c.fn, out.tn + c.tn
        return out

    def below(self, target: float) -> list[str]:
        """Item ids whose found or owed precision or recall is defined and under ``target``."""
        low = []
        for item_id, r in self.items.items():
            values = [r.found.precision, r.found.recall, r.owed.precision, r.owed.recall]
            if any(v is not None and v < target for v in values):
                low.append(item_id)
        return low

    def to_json(self) -> dict[str, Any]:
        return {"grammar_hash": self.grammar_hash, "dialogues": self.dialogues, "mode": self.mode,
                "items": [r.to_json() for r in self.items.values()],
                "total": {"owed": self.total("owed").to_json(), "found": self.total("found").to_json()},
                "disagreements": [d.to_json() for d in self.disagreements]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def utterances_from_turns(turns: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Text mode: one utterance per turn, in the shape ``callmon transcribe --json`` prints."""
    out = []
    for turn in turns:
        text = str(turn["text"])
        start = float(turn["start"])
        out.append({"channel": turn["speaker"], "start": start, "end": start + len(text) * SECONDS_PER_CHAR,
                    "text": text, "raw_text": text, "confidence": 1.0, "words": []})
    return out


def load_labelled(path: str | Path) -> list[dict[str, Any]]:
    """Read and sanity-check a labelled set; raises ``LabelledError`` naming the dialogue at fault."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabelledError(f"{path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LabelledError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, list):
        raise LabelledError(f"{path}: expected a list of dialogues")
    seen: set[str] = set()
    for n, dialogue in enumerate(data):
        where = f"{path}: dialogue {n}"
        if not isinstance(dialogue, dict) or not {"id", "turns", "labels"} <= set(dialogue):
            raise LabelledError(f"{where}: needs id, turns and labels")
        where = f"{path}: dialogue {dialogue['id']!r}"
        if dialogue["id"] in seen:
            raise LabelledError(f"{where}: duplicate id")
        seen.add(dialogue["id"])
        last = float("-inf")
        for turn in dialogue["turns"]:
            if turn.get("speaker") not in SPEAKERS or not isinstance(turn.get("text"), str):
                raise LabelledError(f"{where}: a turn needs speaker operator|caller and text")
            if float(turn["start"]) <= last:
                raise LabelledError(f"{where}: turn starts must increase")
            last = float(turn["start"])
        for item_id, label in dialogue["labels"].items():
            if not isinstance(label, dict) or not isinstance(label.get("owed"), bool) \
                    or not isinstance(label.get("found"), bool):
                raise LabelledError(f"{where}: label {item_id!r} needs owed and found, true or false")
            if label["found"] and not label["owed"]:
                raise LabelledError(f"{where}: label {item_id!r} is found but not owed")
    return data


def _evidence(item: Item | None) -> str:
    if item is None:
        return "item not produced by the checks"
    parts = []
    m = item.match
    if m is not None:
        parts.append(f"{m.channel} {m.text!r} ~ {m.phrase!r} {m.similarity:.2f} at {m.start:.1f}s")
    else:
        parts.append("nothing close")
    if item.source:
        parts.append(f"source {item.source}")
    if item.note:
        parts.append(item.note)
    return "; ".join(parts)


def evaluate(grammar: Grammar, dialogues: Sequence[dict[str, Any]],
             heard: dict[str, list[dict[str, Any]]] | None = None, mode: str = "text mode") -> EvalReport:
    """Run ``check_call`` on every dialogue and compare with its labels.

    ``heard``: recognised utterances per dialogue id (audio mode); without it the turns' text is used.
    """
    items: dict[str, ItemReport] = {i: ItemReport(i) for i in FIXED_IDS}
    disagreements: list[Disagreement] = []
    results: dict[str, CheckResult] = {}
    for dialogue in dialogues:
        did = str(dialogue["id"])
        said = heard[did] if heard is not None else utterances_from_turns(dialogue["turns"])
        result = check_call(grammar, said, dialogue.get("timing"))
        results[did] = result
        by_id = {i.id: i for i in result.items}
        for item_id, label in dialogue["labels"].items():
            report = items.setdefault(item_id, ItemReport(item_id))
            got = by_id.get(item_id)
            got_owed = bool(got and got.owed)
            got_found = bool(got and got.owed and got.found)
            report.labelled += 1
            report.owed.add(label["owed"], got_owed)
            if label["owed"] != got_owed:
                disagreements.append(Disagreement(did, item_id, "owed", label["owed"], got_owed, _evidence(got)))
            if not label["owed"]:
                continue
            report.support += 1
            report.found.add(label["found"], got_found)
            if label["found"] != got_found:
                disagreements.append(Disagreement(did, item_id, "found", label["found"], got_found, _evidence(got)))
    return EvalReport(grammar.content_hash, len(dialogues), items, disagreements, results, mode)


def _pr(c: Counts) -> str:
    def f(v: float | None) -> str:
        return "  -  " if v is None else f"{v:5.2f}"
    return f"{f(c.precision)} {f(c.recall)}"


def format_report(report: EvalReport, disagreements: bool = True) -> str:
    """The table ``callmon eval`` prints: item | owed P/R | found P/R | support, then the disagreements."""
    lines = [f"{report.dialogues} labelled dialogues ({report.mode}); grammar {report.grammar_hash[:12]}",
             f"{'item':<24} {'owed P':>6} {'owed R':>6} {'found P':>7} {'found R':>7} {'support':>8}",
             "-" * 63]
    for r in report.items.values():
        if not r.labelled:
            continue
        lines.append(f"{r.id:<24} {_pr(r.owed):>13} {_pr(r.found):>15} {r.support:>8}")
    lines.append("-" * 63)
    lines.append(f"{'ALL (micro)':<24} {_pr(report.total('owed')):>13} {_pr(report.total('found')):>15}")
    lines.append("P = precision, R = recall; owed over all labelled dialogues, found over those labelled owed; "
                 "'-' = undefined (no positives)")
    if disagreements:
        lines.append(f"{len(report.disagreements)} disagreement(s):")
        for d in report.disagreements:
            lines.append(f"  {d.dialogue} {d.item} {d.field}: expected {str(d.expected).lower()}, "
                         f"got {str(d.got).lower()} ({d.evidence})")
    return "\n".join(lines)
