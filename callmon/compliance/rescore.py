"""A call's score again after a person changed item verdicts: the same 100-point model as ``checks``.

A supervisor may mark any item found, missed or not owed.  The score is then recomputed from the
items with the grammar's budgets, deductions and vetoes, so a reviewed score is never a number
typed in by hand unless the reviewer says so (and gives the reason).
"""

from __future__ import annotations

import math
from typing import Any

from callmon.compliance.grammar_schema import Grammar

VERDICTS = ("found", "missed", "not_owed")


def apply_verdict(item: dict[str, Any], verdict: str) -> None:
    """Set one stored item to a verdict, marking it as a person's."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    item["owed"] = verdict != "not_owed"
    item["found"] = verdict == "found"
    item["overridden"] = True


def verdict_of(item: dict[str, Any]) -> str:
    return "not_owed" if not item["owed"] else ("found" if item["found"] else "missed")


def rescore(grammar: Grammar, items: list[dict[str, Any]]) -> tuple[int, bool, list[str]]:
    """(score, passed, vetoes) for stored items, updating each item's ``deduction`` in place.

    How many times a counted item was missed or said (a situation's missing responses, the
    prohibited phrases) is read back from its stored deduction; an item a person turned from
    kept to not kept counts once.
    """
    rules = {s.id: s for s in grammar.scoring.items}
    total = grammar.scoring.total
    for item in items:
        rule = rules.get(str(item["id"]))
        if rule is None or not item["owed"]:
            item["deduction"] = 0
            continue
        times = max(1, math.ceil(int(item.get("deduction") or 0) / max(rule.deduction, 1)))
        if item["kind"] == "prohibited":
            count = times if item["found"] else 0
        elif item["kind"] == "situation":
            count = 0 if item["found"] else times
        else:
            count = 0 if item["found"] else 1
        item["deduction"] = min(rule.budget, count * rule.deduction)
        total -= item["deduction"]
    by_id = {str(i["id"]): i for i in items}
    vetoes = []
    for veto in grammar.scoring.vetoes:
        target = by_id.get(veto.item)
        if target is None or not target["owed"]:
            continue
        groups = target.get("groups") or []
        # a veto on one kind of phrase (辱骂) applies only where the check named that kind
        if veto.when == "found" and target["found"] and (veto.group is None or veto.group in groups):
            vetoes.append(veto.id)
        elif veto.when == "missed" and not target["found"]:
            vetoes.append(veto.id)
    return total, total >= grammar.scoring.pass_mark and not vetoes, vetoes
