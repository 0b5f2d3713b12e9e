"""Phrase matching on real recogniser output: homophones found, unrelated talk not.

The utterances are Whisper base (faster-whisper, int8, zh) on the natural-voice
tracks in tests/fixtures/asterisk/recordings, as ``callmon transcribe --json``
gives them (word times included), copied here so the tests need no model.
The similarity figures in the comments are what the matcher measured on them.
"""

from __future__ import annotations

from typing import Any

import pytest

from callmon.compliance.matching import (
    THRESHOLD_CHARS,
    THRESHOLD_PINYIN,
    PreparedTranscript,
    match_any,
    match_phrase,
    normalize_for_match,
    to_pinyin,
)
from callmon.speech.types import Utterance, Word


def utt(start: float, end: float, raw: str, words: list[tuple[str, float, float]] | None = None,
        channel: str = "operator") -> dict[str, Any]:
    return {"channel": channel, "start": start, "end": end, "text": normalize_for_match(raw), "raw_text": raw,
            "confidence": 0.6, "words": [{"text": t, "start": s, "end": e} for t, s, e in words or []]}


# compliant script, operator channel
COMPLIANT = [
    utt(0.864, 5.216, "你好,長周要要臨,請說清楚發生了什麼事情。",
        [("你好,", 0.464, 1.144), ("長", 1.604, 1.764), ("周", 1.764, 1.964), ("要", 1.964, 2.124),
         ("要", 2.124, 2.324), ("臨,", 2.324, 2.624), ("請", 2.864, 3.144), ("說", 3.144, 3.384),
         ("清楚", 3.384, 3.684), ("發", 3.684, 4.004), ("生", 4.004, 4.204), ("了", 4.204, 4.344),
         ("什麼", 4.344, 4.584), ("事情。", 4.584, 4.984)]),
    utt(9.728, 11.04, "請說出具體的位置",
        [("請", 9.328, 9.568), ("說", 9.568, 9.828), ("出", 9.828, 9.988), ("具", 9.988, 10.188),
         ("體", 10.188, 10.388), ("的", 10.388, 10.488), ("位", 10.488, 10.648), ("置", 10.648, 10.908)]),
    utt(15.04, 16.672, "請問什麽時間發生的"),
    utt(21.6, 23.264, "請留下你的聯繫方式"),
    utt(30.304, 33.376, "請不要著急,我們馬上派您緊來",
        [("請", 29.904, 30.364), ("不要", 30.364, 30.644), ("著", 30.644, 30.864), ("急,", 30.864, 31.164),
         ("我們", 31.524, 31.924), ("馬", 31.924, 32.164), ("上", 32.164, 32.364), ("派", 32.364, 32.604),
         ("您", 32.604, 32.744), ("緊", 32.744, 32.944), ("來", 32.944, 33.204)]),
]
# partial script, operator channel (no words: times are proportional within the utterance)
PARTIAL = [
    utt(0.864, 5.216, "你好,長周要要臨,請說清楚發生了什麼事情。"),
    utt(10.432, 11.744, "請說出具體的位置"),
    utt(16.8, 20.24, "好的,我們馬上拍明鏡來"),
]
# the espeak rendering of the compliant script: 长舟 instead of 常州, and 110 lost
ESPEAK_GREETING = [utt(0.5, 6.0, "你好長舟要要連簽我簽主發生著什麼事")]
# caller channel of the same call and the curt non-compliant operator
CALLER = [utt(7.648, 8.736, "我家被刀了", channel="caller"), utt(12.512, 13.856, "再喝平露3毫", channel="caller"),
          utt(18.336, 20.0, "刚才10点钟发现的", channel="caller"),
          utt(24.832, 28.48, "我的電話是138001234", channel="caller"),
          utt(35.168, 36.86, "好的,謝謝", channel="caller")]
CURT = [utt(0.928, 1.888, "喂 什麼事"), utt(9.952, 11.72, "知道了等着吧")]
UNRELATED = [utt(0.0, 4.0, "今天天气很好我们去公园散步"), utt(5.0, 9.0, "我周末想去超市买点水果和蔬菜")]

# phrases a grammar asks for (several per element)
ELEMENT_PHRASES = [
    "你好，常州110", "请说清楚发生了什么事情", "请说出具体的位置", "在什么地方", "你现在在哪里",
    "请问什么时间发生的", "什么时候发生的", "请留下你的联系方式", "你的电话号码是多少", "请问您贵姓",
    "对方有几个人", "有没有人受伤", "为什么会发生", "丢失了什么东西", "有没有带凶器", "请不要着急",
    "我们马上派民警来", "我们已经派警察过去了",
]


def test_greeting_homophone_found_on_pinyin_with_span_and_word_times() -> None:
    m = match_phrase("你好，常州110", COMPLIANT)
    assert m is not None
    assert (m.utterance_index, m.channel, m.text, m.char_start, m.char_end) == (0, "operator", "你好长周110", 0, 7)
    assert m.char_similarity == pytest.approx(0.714, abs=0.01)  # 常州 vs 长周: two characters of seven differ
    assert m.pinyin_similarity == pytest.approx(0.967, abs=0.01)  # chang zhou vs zhang zhou
    assert m.similarity == m.pinyin_similarity
    # 你好 starts at the word "你好," and 110 ends with the word 臨, although 要要臨 became 110
    assert (m.start, m.end) == pytest.approx((0.464, 2.624))


def test_greeting_in_robotic_speech_found_on_pinyin() -> None:
    # espeak's greeting came out as 长舟要要连: 110 was not normalised, but yao yao lian ≈ yao yao ling
    m = match_phrase("你好，常州110", ESPEAK_GREETING)
    assert m is not None and m.text == "你好长舟要要连"
    assert m.pinyin_similarity == pytest.approx(0.933, abs=0.01)
    assert m.char_similarity < 0.5  # four characters of seven differ
    assert match_phrase("你好常州", ESPEAK_GREETING) is not None  # 长舟 = chang/zhang zhou


def test_exact_phrase_in_its_own_utterance_with_start_time() -> None:
    m = match_phrase("请说出具体的位置", COMPLIANT)
    assert m is not None
    assert (m.utterance_index, m.char_start, m.char_end, m.similarity) == (1, 0, 8, 1.0)
    assert (m.start, m.end) == pytest.approx((9.328, 10.908))
    m = match_phrase("请说出具体的位置", PARTIAL)
    assert m is not None and m.utterance_index == 1 and m.start == pytest.approx(10.432)


@pytest.mark.parametrize(("utterances", "heard", "pinyin"), [
    (COMPLIANT, "我们马上派您紧来", 0.952),  # min jing vs nin jin
    (PARTIAL, "我们马上拍明镜来", 0.985),  # min jing vs ming jing
])
def test_police_dispatch_homophones(utterances: list[dict[str, Any]], heard: str, pinyin: float) -> None:
    m = match_phrase("我们马上派民警来", utterances)
    assert m is not None and m.text == heard
    assert m.pinyin_similarity == pytest.approx(pinyin, abs=0.01)
    assert m.char_similarity < THRESHOLD_CHARS  # found through pinyin alone
    assert m.pinyin_similarity >= THRESHOLD_PINYIN


def test_span_inside_a_longer_utterance_and_its_word_times() -> None:
    m = match_phrase("我们马上派民警来", COMPLIANT)
    assert m is not None and (m.utterance_index, m.char_start, m.char_end) == (4, 5, 13)
    assert (m.start, m.end) == pytest.approx((31.524, 33.204))
    m = match_phrase("请不要着急", COMPLIANT)
    assert m is not None and (m.char_start, m.char_end, m.similarity) == (0, 5, 1.0)


def test_proportional_times_without_words() -> None:
    m = match_phrase("我们马上派民警来", PARTIAL)
    assert m is not None and (m.char_start, m.char_end) == (2, 10)
    assert m.start == pytest.approx(16.8 + 3.44 * 2 / 10)
    assert m.end == pytest.approx(20.24)


def test_traditional_input_and_vosk_spacing() -> None:
    assert match_phrase("請說出具體的位置", COMPLIANT) is not None
    vosk = [{"channel": "operator", "start": 2.0, "end": 4.0, "text": "嗯 请 说出 具体 的 位置", "raw_text": ""}]
    m = match_phrase("请说出具体的位置", vosk)
    assert m is not None and m.similarity == 1.0 and (m.char_start, m.char_end) == (1, 9)
    assert m.start == pytest.approx(2.0 + 2.0 / 9)


def test_utterance_objects_and_word_times_from_words() -> None:
    words = [Word("請問", 1.0, 1.4), Word("什麼", 1.4, 1.8), Word("時間", 1.8, 2.3), Word("發生的?", 2.3, 3.1)]
    u = Utterance("operator", 0.9, 3.2, normalize_for_match("請問什麼時間發生的?"), "請問什麼時間發生的?", 0.7, words)
    m = match_phrase("什么时间发生的", [Utterance("operator", 0.0, 0.5, "喂", "喂"), u])
    assert m is not None and m.utterance_index == 1 and (m.char_start, m.char_end) == (2, 9)
    assert (m.start, m.end) == pytest.approx((1.4, 3.1))
    m = match_phrase("时间", [u])  # inside a word: the word's time shared out by character
    assert m is not None and (m.start, m.end) == pytest.approx((1.8, 2.3))
    m = match_phrase("问什", [u])
    assert m is not None and (m.start, m.end) == pytest.approx((1.2, 1.6))


def test_match_any_says_which_paraphrase() -> None:
    m = match_any(["在什么地方", "你现在在哪里", "请说出具体的位置"], COMPLIANT)
    assert m is not None and m.phrase == "请说出具体的位置" and m.utterance_index == 1
    assert match_any(["在什么地方", "你现在在哪里"], COMPLIANT) is None
    assert match_any([], COMPLIANT) is None


@pytest.mark.parametrize("utterances", [UNRELATED, CALLER, CURT], ids=["unrelated", "caller", "curt"])
def test_no_element_phrase_in_unrelated_speech(utterances: list[dict[str, Any]]) -> None:
    for phrase in ELEMENT_PHRASES:
        assert match_phrase(phrase, utterances) is None, phrase
    best = max(m.pinyin_similarity for p in ELEMENT_PHRASES if (m := PreparedTranscript(utterances).best(p)))
    assert best < THRESHOLD_PINYIN - 0.1  # measured: at most 0.70 on these


def test_near_miss_paraphrase_is_rejected() -> None:
    # 为什么会发生 (why) against 请问什么时间发生的 (when): the closest wrong pair measured, 0.83 on pinyin
    m = PreparedTranscript(COMPLIANT).best("为什么会发生")
    assert m is not None and 0.75 < m.pinyin_similarity < THRESHOLD_PINYIN
    assert match_phrase("为什么会发生", COMPLIANT) is None


def test_silence_and_empty_input() -> None:
    assert match_phrase("请说出具体的位置", []) is None
    assert match_phrase("请说出具体的位置", [utt(0.0, 1.0, "")]) is None
    assert match_phrase("，。", COMPLIANT) is None
    assert match_any(ELEMENT_PHRASES, PreparedTranscript([])) is None


def test_short_phrases_need_exact_characters() -> None:
    long_unrelated = [utt(0.0, 6.0, "今天天气很好我们去公园散步然后回家吃饭")]
    assert match_phrase("位置", long_unrelated) is None
    assert match_phrase("滚", long_unrelated) is None
    assert match_phrase("公园", long_unrelated) is not None
    assert match_phrase("常州", COMPLIANT) is None  # 长周: homophones are not trusted on two characters
    assert match_phrase("谢谢", CALLER) is not None


def test_fragment_of_a_phrase_is_not_the_phrase() -> None:
    # an utterance holding only part of the phrase: partial_ratio alone would say 100
    short = [utt(0.0, 1.0, "具体的位置")]
    assert PreparedTranscript(short).best("请说出具体的位置") is None  # 5 of 8 characters < 0.7
    assert match_phrase("请说出具体的位置", short) is None
    m = match_phrase("请说出具体的位置", [utt(0.0, 1.0, "说出具体的位置")])  # 7 of 8: a paraphrase
    assert m is not None and m.char_similarity == pytest.approx(0.933, abs=0.01)
    assert match_phrase("请说出具体的位置", [utt(0.0, 1.0, "位置")]) is None


def test_channel_filter_keeps_indices() -> None:
    mixed = CALLER + COMPLIANT
    m = match_phrase("请说出具体的位置", PreparedTranscript(mixed, channel="operator"))
    assert m is not None and m.utterance_index == len(CALLER) + 1
    assert match_phrase("请说出具体的位置", PreparedTranscript(mixed, channel="caller")) is None


def test_pinyin_of_digits_and_other_characters() -> None:
    assert to_pinyin("你好110") == ["ni", "hao", "yao", "yao", "ling"]
    assert to_pinyin("13800001234")[:3] == ["yao", "san", "ba"]
    assert to_pinyin("10点") == ["yi", "ling", "dian"]  # short runs: 1 is yi
    assert to_pinyin("长周") == ["zhang", "zhou"]
    assert to_pinyin("AB") == ["A", "B"]
    assert normalize_for_match("請說出 具體的 位置。ABC") == "请说出具体的位置abc"
    assert normalize_for_match("幺幺零") == "110"
