"""Checks and scores on real Whisper base transcripts of the fixture calls, and on hand-made edge cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from callmon.compliance.checks import check_call
from callmon.compliance.grammar import load_grammar
from callmon.compliance.grammar_schema import Grammar
from callmon.compliance.matching import normalize_for_match

ROOT = Path(__file__).resolve().parents[1]
ITEM_KEYS = ["id", "kind", "owed", "found", "source", "expected", "matched", "similarity", "utterance", "start",
             "end", "deduction"]

# What Whisper base (int8) heard on the natural-voice fixture recordings (callmon transcript --json).
RING02 = [("operator", 0.864, 5.216, "你好长周110请说清楚发生了什么事情", 0.59),
          ("caller", 7.648, 8.736, "我家被刀了", 0.58),
          ("operator", 9.728, 11.04, "请说出具体的位置", 0.72),
          ("caller", 12.512, 13.856, "再喝平露3毫", 0.65),
          ("operator", 15.04, 16.672, "请问什么时间发生的", 0.67),
          ("caller", 18.336, 20.0, "刚才10点钟发现的", 0.64),
          ("operator", 21.6, 23.264, "请留下你的联系方式", 0.69),
          ("caller", 24.832, 28.48, "我的电话是138001234", 0.58),
          ("operator", 30.304, 33.376, "请不要着急我们马上派您紧来", 0.67),
          ("caller", 35.168, 36.86, "好的谢谢", 0.62)]
RING07 = [("operator", 0.928, 1.888, "喂什么事", 0.27),
          ("caller", 2.752, 7.424, "我驾北到了在赫评路3号刚才10点钟发现的", 0.64),
          ("operator", 9.952, 11.72, "知道了等着吧", 0.38)]
RING12 = [("operator", 0.864, 5.216, "你好长周110请说清楚发生了什么事情", 0.59),
          ("caller", 7.84, 9.024, "路上有人打架了", 0.68),
          ("operator", 10.432, 11.744, "请说出具体的位置", 0.73),
          ("caller", 13.28, 15.392, "在人民路和言零路路口", 0.37),
          ("operator", 16.8, 20.24, "好的我们马上拍明镜来", 0.61)]


def utts(rows: list[tuple[str, float, float, str, float]]) -> list[dict[str, Any]]:
    return [{"channel": c, "start": s, "end": e, "text": t, "raw_text": t, "confidence": p, "words": []}
            for c, s, e, t, p in rows]


@pytest.fixture(scope="module")
def grammar() -> Grammar:
    return load_grammar(ROOT / "grammars" / "changzhou-110.yaml")


def items(result: Any) -> dict[str, Any]:
    return {i.id: i for i in result.items}


def test_compliant_call(grammar: Grammar) -> None:
    result = check_call(grammar, utts(RING02), {"ring_seconds": 2.007, "rings": 1, "within_limit": True})
    got = items(result)
    greeting = got["greeting"]
    assert greeting.found and greeting.match is not None and greeting.match.text == "你好长周110"
    assert greeting.match.start < 1.0 and greeting.match.similarity > 0.9  # 长周 for 常州 through pinyin
    for item_id in ("element.what", "element.where", "element.when", "element.contact"):
        assert got[item_id].found and got[item_id].source == "operator", item_id
    where = got["element.where"].match  # the cue 位置 at the end of 请说出具体的位置 (9.728-11.04 s)
    assert where is not None and where.text == "位置" and 10.5 < where.start < where.end <= 11.04
    assert not got["prohibited"].found and got["rings"].found
    assert result.passed and result.score >= grammar.scoring.pass_mark
    assert result.grammar_hash == grammar.content_hash


def test_noncompliant_call(grammar: Grammar) -> None:
    result = check_call(grammar, utts(RING07), {"ring_seconds": 7.019, "rings": 2, "within_limit": True})
    got = items(result)
    assert not got["greeting"].found and got["greeting"].deduction == grammar.budget("greeting").deduction
    assert got["prohibited"].found and got["prohibited"].match is not None
    assert "等着吧" in got["prohibited"].match.text
    assert not result.passed and result.flagged
    assert "prohibited phrase" in result.flag_reasons
    assert "needs a human: low-confidence transcript" in result.flag_reasons  # 0.27 and 0.38 from the engine


def test_partial_call_misses_time_and_contact(grammar: Grammar) -> None:
    result = check_call(grammar, utts(RING12), {"ring_seconds": 12.02, "rings": 3, "within_limit": True})
    got = items(result)
    assert got["greeting"].found and got["element.where"].found and got["element.what"].found
    assert not got["element.contact"].found and got["element.contact"].deduction > 0
    assert got["element.contact"].match is not None  # the closest thing said is shown as evidence
    assert result.score < check_call(grammar, utts(RING02), None).score


def test_ring_limit_exceeded_is_flagged(grammar: Grammar) -> None:
    result = check_call(grammar, utts(RING02), {"ring_seconds": 30.032, "rings": 7, "within_limit": False})
    assert not items(result)["rings"].found and "ring limit exceeded" in result.flag_reasons
    untimed = items(check_call(grammar, utts(RING02), None))["rings"]
    assert not untimed.owed and untimed.deduction == 0


def test_late_greeting_and_no_speech(grammar: Grammar) -> None:
    late = [("operator", 9.0, 11.0, "你好常州110", 0.9)]
    greeting = items(check_call(grammar, utts(late), None))["greeting"]
    assert not greeting.found and "after the" in (greeting.note or "")
    empty = check_call(grammar, [], None)
    assert empty.flagged and "needs a human: no operator speech in the transcript" in empty.flag_reasons
    assert not any(i.found for i in empty.items)


def test_complaint_about_police_is_owed_but_a_noisy_neighbour_is_not(grammar: Grammar) -> None:
    neighbour = [("operator", 0.5, 2.0, "你好常州110", 0.9), ("caller", 3.0, 6.0, "我要投诉楼上邻居太吵了", 0.9)]
    assert not items(check_call(grammar, utts(neighbour), None))["situation.complaint"].owed
    police = [("operator", 0.5, 2.0, "你好常州110", 0.9),
              ("caller", 3.0, 7.0, "我要投诉你们派出所的民警态度太差了", 0.9)]
    complaint = items(check_call(grammar, utts(police), None))["situation.complaint"]
    assert complaint.owed and not complaint.found and complaint.deduction > 0


def test_abusive_phrase_vetoes_the_call(grammar: Grammar) -> None:
    abuse_kind = next(g for g in grammar.prohibited.groups if g.veto)
    rows = [*RING02, ("operator", 37.0, 38.0, abuse_kind.phrases[0], 0.9)]
    result = check_call(grammar, utts(rows), {"ring_seconds": 2.0, "rings": 1, "within_limit": True})
    assert not result.passed and result.vetoes and any(r.startswith("veto: ") for r in result.flag_reasons)


def test_check_command_json_has_exactly_the_documented_keys(tmp_path: Path) -> None:
    transcript = tmp_path / "t.json"
    transcript.write_text(json.dumps({"file": "x.wav", "engine": "whisper", "model": "whisper-base",
                                      "utterances": utts(RING12)}, ensure_ascii=False), encoding="utf-8")
    timing = tmp_path / "call.json"
    timing.write_text(json.dumps({"linkedid": "1", "ring_seconds": 12.02, "rings": 3, "within_limit": True}))
    result = subprocess.run([sys.executable, "-m", "callmon", "check", str(transcript), "--timing", str(timing),
                             "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == ["score", "passed", "flagged", "flag_reasons", "grammar_hash", "items"]
    assert [i["id"] for i in data["items"]][:1] == ["greeting"] and {"rings", "prohibited"} <= {
        i["id"] for i in data["items"]}
    for item in data["items"]:
        assert list(item) == ITEM_KEYS
    bad = tmp_path / "bad.json"
    bad.write_text("{not json\n")
    refused = subprocess.run([sys.executable, "-m", "callmon", "check", str(bad)], capture_output=True, text=True,
                             cwd=ROOT, timeout=60)
    assert refused.returncode == 2 and f"{bad}:1: not JSON" in refused.stderr


def test_consultation_waives_the_elements_and_says_why(grammar: Grammar) -> None:
    rows = [("operator", 0.5, 2.0, "您好常州110", 0.9), ("caller", 3.0, 6.0, "我想问一下身份证丢了去哪里补办", 0.9),
            ("operator", 7.0, 10.0, "您可以打12345政务热线问一下", 0.9)]
    result = items(check_call(grammar, utts(rows), None))
    assert result["situation.consultation"].owed and result["situation.consultation"].found
    for element in grammar.elements:
        item = result[element.id]
        assert not item.owed and not item.found and item.deduction == 0
        assert "situation.consultation" in (item.note or "")


def test_small_talk_volunteers_nothing_but_a_report_does(grammar: Grammar) -> None:
    chat = [("operator", 0.5, 2.0, "今天好冷啊", 0.9), ("caller", 3.0, 6.0, "我刚刚去超市买菜了在人民路路口", 0.9)]
    found = [i.id for i in check_call(grammar, utts(chat), None).items if i.found]
    assert found == []
    report = [("operator", 0.5, 2.0, "您好常州110", 0.9), ("caller", 3.0, 6.0, "我刚刚在人民路路口被人抢了", 0.9)]
    result = items(check_call(grammar, utts(report), None))
    for item_id in ("element.what", "element.when", "element.where"):
        assert result[item_id].found and result[item_id].source == "caller", item_id
    assert result["element.what"].match is not None and result["element.what"].match.text == "抢"


def test_a_negated_prohibited_phrase_is_not_said(grammar: Grammar) -> None:
    kind = [("operator", 0.5, 2.0, "您好常州110", 0.9), ("operator", 5.0, 7.0, "这事我们会管的您放心", 0.9)]
    assert not items(check_call(grammar, utts(kind), None))["prohibited"].found
    cold = [("operator", 0.5, 2.0, "您好常州110", 0.9), ("operator", 5.0, 7.0, "这事我们不管", 0.9)]
    prohibited = items(check_call(grammar, utts(cold), None))["prohibited"]
    assert prohibited.found and prohibited.groups == ["刁难"]


def test_a_repeat_call_is_owed_from_the_number_alone(grammar: Grammar) -> None:
    rows = [("operator", 0.5, 2.0, "您好常州110", 0.9), ("caller", 3.0, 6.0, "我家门口有人在砸车", 0.9),
            ("operator", 7.0, 10.0, "民警已经在路上了，我再帮您催一下", 0.9)]
    plain = items(check_call(grammar, utts(rows), None))["situation.repeat_call"]
    assert not plain.owed
    again = items(check_call(grammar, utts(rows), None, ("1763900000.12", 12.0)))["situation.repeat_call"]
    assert again.owed and again.found
    assert "the same number called 12 min earlier (call 1763900000.12)" in (again.note or "")
    late = items(check_call(grammar, utts(rows), None, ("1763900000.12", 45.0)))["situation.repeat_call"]
    assert not late.owed  # beyond repeat_within_minutes (30)


def test_a_prohibited_cue_catches_the_pattern_not_only_the_listed_words(grammar: Grammar) -> None:
    for said in ("你哭什么哭！先把地址说清楚", "你凶什么凶"):
        rows = [("operator", 0.5, 2.0, "您好常州110", 0.9), ("operator", 5.0, 7.0, said, 0.9)]
        prohibited = items(check_call(grammar, utts(rows), None))["prohibited"]
        assert prohibited.found and prohibited.groups == ["训斥"], said
        assert prohibited.match is not None and prohibited.match.phrase.startswith("re:")
    calm = [("operator", 0.5, 2.0, "您好常州110", 0.9), ("operator", 5.0, 7.0, "您别哭，有什么事慢慢说", 0.9)]
    assert not items(check_call(grammar, utts(calm), None))["prohibited"].found


def test_a_dispatch_makes_a_misheard_report_count(grammar: Grammar) -> None:
    """The caller's 被抢 was heard as 被想; the operator sending police shows it was a report all the same."""
    heard = [("operator", 0.5, 2.0, "您好常州110", 0.9),
             ("caller", 3.0, 9.0, "今天早上8点左右在南大街我的钱包被想走了", 0.6)]
    assert not items(check_call(grammar, utts(heard), None))["element.when"].found  # no report: small talk rules
    sent = [*heard, ("operator", 10.0, 12.0, "好的我们马上派民警过去", 0.9)]
    when = items(check_call(grammar, utts(sent), None))["element.when"]
    assert when.found and when.source == "caller" and when.match is not None and when.match.text == "今天"


def test_evidence_points_into_the_calls_transcript_in_time_order(grammar: Grammar) -> None:
    """``utterance`` is the position in the call's utterances (both channels, by start), as stored and shown."""
    result = check_call(grammar, utts(RING02), None)
    rows = sorted(utts(RING02), key=lambda u: u["start"])
    for item in result.items:
        data = item.to_json()
        if data["utterance"] is None:
            continue
        said = rows[data["utterance"]]
        assert data["matched"] in normalize_for_match(said["text"]), item.id
        assert said["start"] - 0.01 <= data["start"] <= data["end"] <= said["end"] + 0.01, item.id
    where = items(result)["element.where"].to_json()
    assert where["utterance"] == 2 and rows[2]["text"] == "请说出具体的位置"  # operator's 2nd turn, 3rd of the call
    caller_when = items(check_call(grammar, utts(RING07), None))["element.when"]
    assert caller_when.source == "caller" and caller_when.match is not None and caller_when.match.utterance_index == 1
