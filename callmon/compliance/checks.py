"""Text becomes a verdict: each rule of the grammar checked against one call, with evidence.

``check_call`` is a pure function of the grammar, the call's utterances (both
channels) and, optionally, its timing record.  Every item says whether it was
owed, whether it was kept, and the evidence: the expected phrase, the best
span found (text, utterance, audio time, similarity) or that nothing came
close.  Scoring follows the grammar's budgets, deductions, caps and vetoes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from callmon.compliance.cues import find_any_cue
from callmon.compliance.grammar_schema import Element, Grammar, Situation, Threshold
from callmon.compliance.matching import Match, PreparedTranscript
from callmon.speech.types import Utterance

LOW_CONFIDENCE = 0.5
OPERATOR_SIDE = ("operator", "mixed")  # a mixed (mono) recording holds both voices
CALLER_SIDE = ("caller", "mixed")
EVIDENCE = 0.5  # a near miss below this similarity is reported as "not found"


@dataclass
class Item:
    """One rule's verdict for one call, with what it was judged on."""

    id: str
    kind: str
    owed: bool
    found: bool
    source: str | None = None  # operator | caller | timing
    expected: str | None = None
    match: Match | None = None
    deduction: int = 0
    note: str | None = None
    groups: list[str] = field(default_factory=list)  # prohibited kinds said (训斥, 辱骂 ...)

    def to_json(self) -> dict[str, Any]:
        m = self.match
        return {
            "id": self.id, "kind": self.kind, "owed": self.owed, "found": self.found, "source": self.source,
            "expected": self.expected, "matched": m.text if m else None,
            "similarity": round(m.similarity, 3) if m else None,
            "utterance": m.utterance_index if m else None,
            "start": round(m.start, 3) if m else None, "end": round(m.end, 3) if m else None,
            "deduction": self.deduction,
        }


@dataclass
class CheckResult:
    grammar_hash: str
    score: int
    passed: bool
    flagged: bool
    flag_reasons: list[str]
    items: list[Item] = field(default_factory=list)
    vetoes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "passed": self.passed, "flagged": self.flagged,
                "flag_reasons": self.flag_reasons, "grammar_hash": self.grammar_hash,
                "items": [i.to_json() for i in self.items]}


NEGATIONS = frozenset("不没别无未莫勿甭")


def _best(transcript: PreparedTranscript, phrases: Iterable[str], t: Threshold,
          cues: Iterable[str] = (), evidence: bool = True) -> tuple[Match | None, bool]:
    """Where a cue was first said, else the best span over the phrases; and whether it counts.

    Cues go first because they are one scan per list; phrases are aligned only when no cue was said.
    """
    cue = find_any_cue(transcript, cues)
    if cue is not None:
        return cue, True
    return _best_phrase(transcript, phrases, t, evidence)


def _best_phrase(transcript: PreparedTranscript, phrases: Iterable[str], t: Threshold,
                 evidence: bool = True) -> tuple[Match | None, bool]:
    """The first phrase kept (in the grammar's order), else the closest thing said as evidence."""
    kept, near = transcript.scan(tuple(phrases), t.chars, t.pinyin, evidence=EVIDENCE if evidence else None)
    return (kept[0], True) if kept else (near, False)


def _greeting_phrases(grammar: Grammar) -> list[str]:
    """Each template up to its first unfilled slot (a badge number is optional evidence)."""
    phrases = []
    for text in grammar.greeting_texts():
        head = re.split(r"[，,、]?\{\w+\}", text, maxsplit=1)[0]
        if head and head not in phrases:
            phrases.append(head)
    return phrases


def check_call(grammar: Grammar, utterances: Sequence[Utterance | dict[str, Any]],
               timing: dict[str, Any] | None = None, earlier: tuple[str, float] | None = None) -> CheckResult:
    """Every item of the grammar for one call; see the module docstring.

    ``earlier``: (linkedid, minutes before) of the last call from the same number, which makes a
    situation with ``repeat_within_minutes`` owed when it is recent enough, whatever was said.
    """
    rows = [u if isinstance(u, dict) else u.to_json() for u in utterances]
    rows.sort(key=lambda u: float(u["start"]))
    operator_rows = [u for u in rows if u["channel"] in OPERATOR_SIDE]
    call = PreparedTranscript(rows)  # evidence indices point into ``rows`` (time order)
    operator, caller = call.only(OPERATOR_SIDE), call.only(CALLER_SIDE)
    situations = [_situation(situation, operator, caller, earlier) for situation in grammar.situations]
    waived = [s.id for s in situations if s.owed and s.id in grammar.elements_waived_by]
    triggered = any(s.owed for s in situations)
    # 何事 first: what else a caller volunteers counts only once there is a report: 何事 obtained, a
    # situation triggered, or the operator dispatching (the caller's account may be misheard)
    what = next((_element(e, operator, caller, waived, True) for e in grammar.elements if e.id == "element.what"),
                None)
    reported = (triggered or (what is not None and what.found)
                or find_any_cue(operator, grammar.dispatch_cues) is not None)
    elements = [what if what is not None and e.id == what.id else _element(e, operator, caller, waived, reported)
                for e in grammar.elements]
    items: list[Item] = [_greeting(grammar, call, rows, operator_rows), *elements, *situations]
    items.append(_prohibited(grammar, operator))
    items.append(_rings(timing))
    for custom in grammar.custom:
        match, ok = _best(operator, custom.phrases, custom.threshold)
        items.append(Item(custom.id, "custom", True, ok, "operator" if ok else None, custom.phrases[0], match))
    return _score(grammar, items, operator_rows, timing)


def _greeting(grammar: Grammar, call: PreparedTranscript, rows: list[dict[str, Any]],
              operator_rows: list[dict[str, Any]]) -> Item:
    g = grammar.greeting
    phrases = _greeting_phrases(grammar)
    first = next((k for k, u in enumerate(rows) if u["channel"] in OPERATOR_SIDE), len(rows))
    pool = call.only(OPERATOR_SIDE, first + 1 if g.must_be_first else None)  # the first operator utterance
    match, ok = _best(pool, phrases, g.threshold)
    item = Item("greeting", "greeting", True, ok, "operator" if ok else None, phrases[0], match)
    if ok and match is not None and match.start > g.within_seconds:
        item.found, item.note = False, f"said at {match.start:.1f} s, after the {g.within_seconds:g} s allowed"
    if not operator_rows:
        item.note = "no operator speech"
    return item


def _element(element: Element, operator: PreparedTranscript, caller: PreparedTranscript, waived: list[str],
             reported: bool) -> Item:
    """Asked by the operator, or (in a report) volunteered by the caller; not owed on a waived call."""
    if waived:
        return Item(element.id, "element", False, False, None, element.asks[0],
                    note=f"not owed: {', '.join(waived)} (no incident to ask about)")
    match, ok = _best(operator, element.asks, element.threshold, element.ask_cues)
    item = Item(element.id, "element", True, ok, "operator" if ok else None, element.asks[0], match)
    if not ok and reported:
        offered, said = _best(caller, element.volunteered, element.threshold, element.volunteered_cues, False)
        if said:
            item.found, item.source, item.match = True, "caller", offered
    return item


def _situation(situation: Situation, operator: PreparedTranscript, caller: PreparedTranscript,
               earlier: tuple[str, float] | None = None) -> Item:
    # a trigger is shown only when it fired: no near-miss evidence is looked for on the caller side
    trigger, triggered = _best(caller, situation.triggers, situation.threshold, situation.trigger_cues, False)
    if triggered and (situation.not_triggers or situation.not_trigger_cues):
        _, excluded = _best(caller, situation.not_triggers, situation.threshold, situation.not_trigger_cues, False)
        triggered = not excluded
    repeat = None
    if (situation.repeat_within_minutes is not None and earlier is not None
            and earlier[1] <= situation.repeat_within_minutes):
        repeat = f"the same number called {earlier[1]:.0f} min earlier (call {earlier[0]})"
        if not triggered:
            triggered, trigger = True, None
    item = Item(situation.id, "situation", triggered, False, None, situation.responses[0].phrases[0])
    if not triggered:
        item.match = None
        return item
    missing = []
    best: Match | None = None
    for response in situation.responses:
        match, ok = _best(operator, response.phrases, situation.threshold, response.cues)
        if ok:
            best = best or match
        else:
            missing.append(response.name)
            best = best or match
    item.found = not missing
    item.source = "operator" if item.found else None
    item.match = best
    trig = f"triggered by caller: {trigger.text!r} at {trigger.start:.1f} s" if trigger else "triggered"
    if repeat:
        trig = f"{trig}; {repeat}" if trigger else f"triggered: {repeat}"
    item.note = trig + (f"; missing: {', '.join(missing)}" if missing else "")
    item.deduction = len(missing)  # scaled by the item's deduction in _score
    return item


def _prohibited(grammar: Grammar, operator: PreparedTranscript) -> Item:
    p = grammar.prohibited
    said: list[tuple[str, Match, bool]] = []
    for group in p.groups:
        cue = find_any_cue(operator, group.cues)
        if cue is not None:
            said.append((group.kind, cue, group.veto))
        spoken, _ = operator.scan(group.phrases, p.threshold.chars, p.threshold.pinyin, first=False)
        said += [(group.kind, m, group.veto) for m in spoken if _negated(m.text) == _negated(m.phrase)]
    item = Item("prohibited", "prohibited", True, bool(said), "operator" if said else None,
                p.groups[0].phrases[0] if p.groups else None)
    if said:
        said.sort(key=lambda s: -s[1].similarity)
        kept: list[tuple[str, Match, bool]] = []
        for entry in said:  # one spoken span counts once, however many listed phrases it matches
            m = entry[1]
            if not any(k[1].utterance_index == m.utterance_index and k[1].char_start < m.char_end
                       and m.char_start < k[1].char_end for k in kept):
                kept.append(entry)
        said = kept
        item.match = said[0][1]
        item.expected = said[0][1].phrase
        item.note = "; ".join(f"{kind}: {m.text!r} at {m.start:.1f} s" for kind, m, _ in said)
        item.deduction = len(said)
        item.groups = sorted({kind for kind, _, _ in said})
    return item


def _negated(text: str) -> bool:
    """Whether a negation is said: 这事我们会管 is not 这事我们不管, however alike they sound."""
    return any(ch in NEGATIONS for ch in text)


def _rings(timing: dict[str, Any] | None) -> Item:
    if not timing or timing.get("ring_seconds") is None:
        return Item("rings", "rings", False, False, None, None, note="no answer timing for this call")
    within = bool(timing.get("within_limit"))
    return Item("rings", "rings", True, within, "timing", "answered within the ring limit",
                note=f"{timing.get('rings')} ring(s), {timing['ring_seconds']:.3f} s")


def _score(grammar: Grammar, items: list[Item], operator_rows: list[dict[str, Any]],
           timing: dict[str, Any] | None) -> CheckResult:
    budgets = {s.id: s for s in grammar.scoring.items}
    total = grammar.scoring.total
    for item in items:
        rule = budgets.get(item.id)
        if rule is None or not item.owed:
            item.deduction = 0
            continue
        if item.kind == "prohibited":
            count = item.deduction if item.found else 0
        elif item.kind == "situation":
            count = item.deduction if not item.found else 0
        else:
            count = 0 if item.found else 1
        item.deduction = min(rule.budget, count * rule.deduction)
        total -= item.deduction
    by_id = {i.id: i for i in items}
    vetoes = []
    for veto in grammar.scoring.vetoes:
        target = by_id.get(veto.item)
        if target is None or not target.owed:
            continue
        if veto.when == "found" and target.found and (veto.group is None or veto.group in target.groups):
            vetoes.append(veto.id)
        elif veto.when == "missed" and not target.found:
            vetoes.append(veto.id)
    passed = total >= grammar.scoring.pass_mark and not vetoes
    reasons = []
    if not operator_rows:
        reasons.append("needs a human: no operator speech in the transcript")
    else:
        scored = [float(u["confidence"]) for u in operator_rows if u.get("confidence") is not None]
        if scored and sum(scored) / len(scored) < LOW_CONFIDENCE:
            reasons.append("needs a human: low-confidence transcript")
    if total < grammar.scoring.pass_mark:
        reasons.append(f"score {total} below the pass mark {grammar.scoring.pass_mark}")
    reasons += [f"veto: {v}" for v in vetoes]
    if by_id["rings"].owed and not by_id["rings"].found:
        reasons.append("ring limit exceeded")
    if by_id["prohibited"].found:
        reasons.append("prohibited phrase")
    return CheckResult(grammar.content_hash, max(0, total), passed, bool(reasons), reasons, items, vetoes)
