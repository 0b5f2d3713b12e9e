"""`callmon eval` on the labelled dialogues (text mode): controls, coverage, and the targets that hold.

The labels in tests/fixtures/labelled/dialogues.json are a supervisor's reading of the 110
rules, not the checks' output; they are never changed to make a figure pass. The grammar
was tuned on this set, so its figures are the development figures; tests/fixtures/labelled/
heldout.json, written separately and never tuned on, gives the honest ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from callmon.cli import build_parser
from callmon.compliance import evaluate as ev
from callmon.compliance.grammar import FIXED_IDS, SITUATION_IDS, load_grammar

ROOT = Path(__file__).resolve().parent.parent
GRAMMAR = ROOT / "grammars" / "changzhou-110.yaml"
LABELLED = ROOT / "tests" / "fixtures" / "labelled" / "dialogues.json"
TARGET = 0.95
CONTROLS = ("control-unrelated-chat", "control-empty", "control-noise", "control-wei-only")
ALWAYS_OWED = ("greeting", "prohibited")  # every answered call owes the greeting and is checked for prohibited phrases



@pytest.fixture(scope="module")
def dialogues() -> list[dict[str, Any]]:
    return ev.load_labelled(LABELLED)


@pytest.fixture(scope="module")
def report(dialogues: list[dict[str, Any]]) -> ev.EvalReport:
    return ev.evaluate(load_grammar(GRAMMAR), dialogues)


# --- the labelled set itself ---------------------------------------------------------------------


def test_labelled_set_is_large_enough_and_labels_every_fixed_item(dialogues: list[dict[str, Any]]) -> None:
    assert len(dialogues) >= 40
    for d in dialogues:
        assert set(d["labels"]) == set(FIXED_IDS), d["id"]
        assert d["description"]
        assert d["timing"] is None or {"ring_seconds", "within_limit", "rings"} <= set(d["timing"])
    assert {d["id"] for d in dialogues} >= set(CONTROLS)


def test_every_item_is_covered_both_ways(dialogues: list[dict[str, Any]]) -> None:
    for item in FIXED_IDS:
        labels = [d["labels"][item] for d in dialogues]
        assert any(x["owed"] and x["found"] for x in labels), f"{item}: no kept example"
        assert any(x["owed"] and not x["found"] for x in labels), f"{item}: no missed example"
        if item not in ALWAYS_OWED:
            assert any(not x["owed"] for x in labels), f"{item}: no example where it is not owed"


def test_labels_follow_the_rules_for_controls(dialogues: list[dict[str, Any]]) -> None:
    by_id = {d["id"]: d for d in dialogues}
    for cid in CONTROLS:
        labels = by_id[cid]["labels"]
        assert not any(x["found"] for x in labels.values()), cid
        assert not any(labels[s]["owed"] for s in SITUATION_IDS), cid


def test_turns_become_text_mode_utterances() -> None:
    utts = ev.utterances_from_turns([{"speaker": "operator", "text": "你好，常州110。", "start": 1.0},
                                     {"speaker": "caller", "text": "喂", "start": 5.0}])
    assert utts[0] == {"channel": "operator", "start": 1.0, "end": 1.0 + 9 * 0.25, "text": "你好，常州110。",
                       "raw_text": "你好，常州110。", "confidence": 1.0, "words": []}
    assert utts[1]["channel"] == "caller" and utts[1]["end"] == 5.25


def test_bad_labelled_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "x", "turns": [], "labels": {"greeting": {"owed": False, "found": True}}}]),
                   encoding="utf-8")
    with pytest.raises(ev.LabelledError, match="found but not owed"):
        ev.load_labelled(bad)
    bad.write_text(json.dumps([{"id": "x", "turns": [{"speaker": "operator", "text": "a", "start": 2},
                                                     {"speaker": "caller", "text": "b", "start": 1}],
                                "labels": {}}]), encoding="utf-8")
    with pytest.raises(ev.LabelledError, match="must increase"):
        ev.load_labelled(bad)
    with pytest.raises(ev.LabelledError, match="cannot read"):
        ev.load_labelled(tmp_path / "missing.json")


def test_counts() -> None:
    c = ev.Counts()
    assert c.precision is None and c.recall is None
    for expected, got in [(True, True), (True, True), (True, False), (False, True), (False, False)]:
        c.add(expected, got)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 1)
    assert c.precision == pytest.approx(2 / 3) and c.recall == pytest.approx(2 / 3)


# --- the checks on the labelled set --------------------------------------------------------------


@pytest.mark.parametrize("control", [
    "control-unrelated-chat",  # 我刚刚去超市: a caller's 刚刚 counts only once there is a report
    "control-empty",
    "control-noise",
    "control-wei-only",
])
def test_negative_controls_find_nothing_and_owe_no_situation(report: ev.EvalReport, control: str) -> None:
    result = report.results[control]
    found = [i.id for i in result.items if i.owed and i.found]
    owed = [i.id for i in result.items if i.kind == "situation" and i.owed]
    assert found == [] and owed == [], f"{control}: found {found}, situations owed {owed}"


def test_overall_results_are_reported(report: ev.EvalReport, dialogues: list[dict[str, Any]]) -> None:
    assert report.dialogues == len(dialogues)
    assert set(report.results) == {d["id"] for d in dialogues}
    for item in FIXED_IDS:
        r = report.items[item]
        assert r.labelled == len(dialogues)
        assert r.owed.tp + r.owed.fp + r.owed.fn + r.owed.tn == len(dialogues)
        assert r.found.tp + r.found.fp + r.found.fn + r.found.tn == r.support
    data = report.to_json()
    assert data["total"]["found"]["tp"] > 0
    expected_disagreements = sum(r.owed.fp + r.owed.fn + r.found.fp + r.found.fn for r in report.items.values())
    assert len(data["disagreements"]) == expected_disagreements
    for d in report.disagreements:
        assert d.evidence and d.field in ("owed", "found") and d.expected != d.got
    table = ev.format_report(report)
    for item in FIXED_IDS:
        assert item in table


def _metric_params() -> list[Any]:
    params = []
    for item in FIXED_IDS:
        for question in ("owed", "found"):
            for metric in ("precision", "recall"):
                params.append(pytest.param(item, question, metric, id=f"{item}-{question}-{metric}"))
    return params


@pytest.mark.parametrize(("item", "question", "metric"), _metric_params())
def test_target_per_item(report: ev.EvalReport, item: str, question: str, metric: str) -> None:
    counts: ev.Counts = getattr(report.items[item], question)
    value = getattr(counts, metric)
    if value is None:
        pytest.skip(f"{item} {question} {metric} undefined (no positives)")
    assert value >= TARGET, [d.to_json() for d in report.disagreements if d.item == item and d.field == question]


# --- the command ---------------------------------------------------------------------------------


def _cfg() -> SimpleNamespace:
    """Stands in for Config: only ``compliance.grammar`` is read."""
    return SimpleNamespace(compliance=SimpleNamespace(grammar=str(GRAMMAR)))


def test_eval_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["eval", str(LABELLED)])
    assert args.func(_cfg(), args) == 0
    out = capsys.readouterr().out
    assert "owed P" in out and "found R" in out and "situation.complaint" in out and "ALL (micro)" in out


def test_eval_command_json_and_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = build_parser().parse_args(["eval", str(LABELLED), "--grammar", str(GRAMMAR), "--json"])
    assert args.func(_cfg(), args) == 0
    data = json.loads(capsys.readouterr().out)
    assert {i["id"] for i in data["items"]} == set(FIXED_IDS)
    assert data["dialogues"] >= 40
    args = build_parser().parse_args(["eval", str(tmp_path / "none.json")])
    assert args.func(_cfg(), args) == 2
    assert "cannot read" in capsys.readouterr().err


def test_heldout_set_figures_hold() -> None:
    """The set written apart from the grammar: the honest figures (README), guarded against regressions.

    Measured 2026-11-23: owed P 0.97 R 1.00, found P 1.00 R 0.94 (micro); items under 0.95 are listed
    in the README. The bounds sit a little under the measurement, not at the 0.95 target.
    """
    heldout = ev.load_labelled(LABELLED.parent / "heldout.json")
    assert len(heldout) >= 30
    report = ev.evaluate(load_grammar(GRAMMAR), heldout)
    owed, found = report.total("owed"), report.total("found")
    assert owed.precision is not None and owed.precision >= 0.95
    assert owed.recall is not None and owed.recall >= 0.98
    assert found.precision is not None and found.precision >= 0.98
    assert found.recall is not None and found.recall >= 0.92
    clean = [d["id"] for d in heldout if not d["labels"]["prohibited"]["found"]]
    assert not [i for i in clean if any(x.id == "prohibited" and x.found for x in report.results[i].items)]
