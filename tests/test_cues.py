"""Cues: key words found as written, as pinyin from three characters, in order with a gap, or by pattern."""

from __future__ import annotations

from typing import Any

import pytest

from callmon.compliance.cues import GAP, CueError, find_any_cue, find_cue, parse_cue
from callmon.compliance.matching import PreparedTranscript


def transcript(*texts: str, channel: str = "operator") -> PreparedTranscript:
    rows: list[dict[str, Any]] = [{"channel": channel, "start": 10.0 * k, "end": 10.0 * k + 4.0, "text": t,
                                   "raw_text": t, "confidence": 0.9, "words": []} for k, t in enumerate(texts)]
    return PreparedTranscript(rows)


def test_a_word_as_written_gives_its_span_and_time() -> None:
    m = find_cue(transcript("你好常州110", "你现在在哪儿？具体地址说一下。"), "哪儿")
    assert m is not None and m.utterance_index == 1 and m.text == "哪儿"
    assert (m.char_start, m.char_end) == (4, 6) and m.similarity == 1.0
    assert 10.0 < m.start < m.end < 14.0  # shared out over the utterance's time without word times


def test_short_words_do_not_match_homophones_but_longer_ones_do() -> None:
    assert find_cue(transcript("就在那里"), "哪里") is None  # 那里 / 哪里: two syllables, must be as written
    m = find_cue(transcript("您先别鸡动"), "别激动")  # a recognition homophone of three syllables
    assert m is not None and m.text == "别鸡动" and m.char_similarity < 1.0 and m.pinyin_similarity == 1.0


def test_traditional_characters_and_spoken_numbers_are_normalised() -> None:
    assert find_cue(transcript("請問發生什麼事"), "什么事") is not None
    phone = find_cue(transcript("电话一三九一二三四五六七八", channel="caller"), "re:[0-9]{7,}")
    assert phone is not None and phone.text == "13912345678"


def test_parts_in_order_within_the_gap() -> None:
    assert find_cue(transcript("我要投诉你们民警"), "投诉…民警") is not None
    assert find_cue(transcript("民警来了我要投诉"), "投诉…民警") is None  # wrong order
    far = "投诉" + "啊" * (GAP + 1) + "民警"
    assert find_cue(transcript(far), "投诉…民警") is None
    near = "投诉" + "啊" * GAP + "民警"
    assert find_cue(transcript(near), "投诉...民警") is not None  # three dots work too
    assert find_cue(transcript("投诉楼上", "民警"), "投诉…民警") is None  # never across utterances


def test_a_later_first_part_is_tried_when_the_first_one_has_no_follower() -> None:
    m = find_cue(transcript("投诉这个事情说来话长然后我投诉民警"), "投诉…民警")
    assert m is not None and m.text == "投诉民警"


def test_find_any_cue_gives_the_earliest_place_any_cue_was_said() -> None:
    t = transcript("您好常州110", "你电话多少，住哪里", "您先别鸡动")
    m = find_any_cue(t, ["住哪", "电话"])
    assert m is not None and m.phrase == "电话" and m.utterance_index == 1 and m.char_start == 1
    m = find_any_cue(t, ["别激动", "住哪"])  # the pinyin match in utterance 2 is later than 住哪 in 1
    assert m is not None and m.phrase == "住哪"
    m = find_any_cue(t, ["别激动", "常州"])  # ... and 常州 in utterance 0 is earlier still
    assert m is not None and m.phrase == "常州" and m.utterance_index == 0
    assert find_any_cue(t, []) is None


@pytest.mark.parametrize(("cue", "message"), [
    ("re:", "an empty regular expression"),
    ("re:(", "not a valid regular expression"),
    ("re:a*", "matches empty text"),
    ("投诉……民警", "every part of a cue needs at least one character"),
    ("，。", "every part of a cue needs at least one character"),
])
def test_bad_cues_say_what_is_wrong(cue: str, message: str) -> None:
    with pytest.raises(CueError, match=message):
        parse_cue(cue)
