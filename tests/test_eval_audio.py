"""`callmon eval --audio`: the labelled dialogues as speech, through the real Whisper base model.

The WAVs in tests/fixtures/labelled/audio were rendered once from the labelled turns with
the offline voice generator (scripts/render_labelled_audio.py) and are committed; one file
per direction, µ-law 8 kHz, as a PBX records them.  These tests decode a subset that covers
every item both ways, plus the controls (silence, line noise, 喂 only, small talk); the
whole set's figures are in the README (`callmon eval --audio tests/fixtures/labelled/audio`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from callmon.compliance import eval_audio
from callmon.compliance import evaluate as ev
from callmon.compliance.grammar import load_grammar
from callmon.speech.transcribe import load_recognizer
from tests.test_engines import speech_models

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "tests" / "fixtures" / "labelled"
AUDIO = LABELLED / "audio"
GRAMMAR = ROOT / "grammars" / "changzhou-110.yaml"
CONTROLS = ("control-empty", "control-noise", "control-wei-only", "control-unrelated-chat")
# one or more dialogues per item and way: kept, missed, owed, not owed (see test_subset_covers_every_item)
SUBSET = (*CONTROLS, "theft-ebike", "fire-kitchen", "fainted-refused", "repeat-shop-kept",
          "repeat-third-call-brushoff", "consult-id-card", "consult-power-missed", "rude-car-smashed-kept",
          "rude-burglary-argued-back", "harassment-kept", "harassment-insulted", "complaint-officer-full",
          "complaint-officer-partial", "greeting-too-late", "robbery-cold-operator", "fraud-clean-near-prohibited")


@pytest.fixture(scope="module")
def dialogues() -> list[dict[str, Any]]:
    chosen = {d["id"]: d for d in ev.load_labelled(LABELLED / "dialogues.json")}
    return [chosen[i] for i in SUBSET]


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speech_models(tmp_path_factory)


@pytest.fixture(scope="module")
def heard(dialogues: list[dict[str, Any]], models_root: Path) -> dict[str, list[dict[str, Any]]]:
    recognizer = load_recognizer("whisper", "whisper-base", models_root)
    return eval_audio.transcribe_dialogues(AUDIO, dialogues, recognizer, progress=False)


@pytest.fixture(scope="module")
def report(dialogues: list[dict[str, Any]], heard: dict[str, list[dict[str, Any]]]) -> ev.EvalReport:
    return ev.evaluate(load_grammar(GRAMMAR), dialogues, heard, "audio mode, whisper-base")


def test_every_labelled_dialogue_has_both_directions_and_a_manifest_entry() -> None:
    manifest = json.loads((AUDIO / "manifest.json").read_text(encoding="utf-8"))["dialogues"]
    for d in ev.load_labelled(LABELLED / "dialogues.json"):
        files = eval_audio.channel_files(AUDIO, d["id"])
        assert set(files) == {"operator", "caller"}
        assert d["id"] in manifest
        rendered = [t["text"] for t in manifest[d["id"]]["turns"]]
        assert rendered == [t["text"] for t in d["turns"]], d["id"]


def test_subset_covers_every_item_both_ways(dialogues: list[dict[str, Any]]) -> None:
    for item in ("greeting", "element.where", "element.contact", "situation.urgent_help", "situation.consultation",
                 "situation.rude_caller", "situation.harassment", "situation.complaint", "situation.repeat_call",
                 "prohibited"):
        labels = [d["labels"][item] for d in dialogues]
        assert any(x["owed"] and x["found"] for x in labels), item
        assert any(x["owed"] and not x["found"] for x in labels), item


def test_a_missing_direction_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "x.operator.wav").write_bytes(b"")
    with pytest.raises(eval_audio.AudioEvalError, match=r"x\.caller\.wav: missing: the caller side of dialogue 'x'"):
        eval_audio.channel_files(tmp_path, "x")


def test_a_broken_wav_is_an_error_naming_it(tmp_path: Path) -> None:
    for side in ("operator", "caller"):
        (tmp_path / f"x.{side}.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")

    class Never:
        engine, model = "none", "none"

        def transcribe(self, *_: Any) -> list[Any]:
            raise AssertionError("a broken file must not reach the recogniser")

    with pytest.raises(eval_audio.AudioEvalError, match=r"x\.operator\.wav: cannot transcribe"):
        eval_audio.transcribe_dialogues(tmp_path, [{"id": "x"}], Never(), progress=False)


def test_saved_transcripts_must_cover_every_dialogue(tmp_path: Path) -> None:
    saved = tmp_path / "heard.json"
    saved.write_text(json.dumps({"model": "whisper-base", "dialogues": {"a": []}}), encoding="utf-8")
    assert eval_audio.load_transcripts(saved, [{"id": "a"}]) == {"a": []}
    with pytest.raises(eval_audio.AudioEvalError, match="no transcript for b"):
        eval_audio.load_transcripts(saved, [{"id": "a"}, {"id": "b"}])
    saved.write_text("[]", encoding="utf-8")
    with pytest.raises(eval_audio.AudioEvalError, match="expected"):
        eval_audio.load_transcripts(saved, [{"id": "a"}])


@pytest.mark.parametrize("control", CONTROLS)
def test_nothing_is_found_in_silence_noise_or_small_talk(report: ev.EvalReport, control: str) -> None:
    result = report.results[control]
    found = [i.id for i in result.items if i.owed and i.found]
    owed = [i.id for i in result.items if i.kind == "situation" and i.owed]
    assert found == [] and owed == [], f"{control}: found {found}, situations owed {owed}"


def test_silence_and_noise_are_heard_as_nothing(heard: dict[str, list[dict[str, Any]]]) -> None:
    assert heard["control-empty"] == []
    assert all(len(u["text"]) <= 2 for u in heard["control-noise"]), heard["control-noise"]


def test_no_prohibited_flag_on_a_clean_call(report: ev.EvalReport, dialogues: list[dict[str, Any]]) -> None:
    clean = [d["id"] for d in dialogues if not d["labels"]["prohibited"]["found"]]
    flagged = [i for i in clean if any(x.id == "prohibited" and x.found for x in report.results[i].items)]
    assert flagged == []


def test_audio_mode_agrees_with_the_labels(report: ev.EvalReport) -> None:
    """Micro-averaged over every item of the subset; the per-item figures of the whole set are in the README."""
    for question in ("owed", "found"):
        total = report.total(question)
        assert total.precision is not None and total.precision >= 0.95, (question, report.to_json()["disagreements"])
        assert total.recall is not None and total.recall >= 0.90, (question, report.to_json()["disagreements"])
