"""Recogniser text made comparable across engines.

``normalize_text(raw)`` is what goes into ``Utterance.text``; the engine's own
string stays in ``raw_text``.  Whisper writes Traditional characters (Taiwan
forms such as 著 for 着), punctuation and often Arabic numerals; Vosk writes
Simplified characters separated by spaces and every number in characters
(一 一 零, 幺 三 九 …).  After normalisation both read the same way.

The steps, in order:

1. NFKC: full-width letters, digits and punctuation become ASCII
   (ＡＢＣ１２３ → ABC123, ： → :), compatibility ideographs become the
   unified ones.
2. Clock and decimal separators between ASCII digits become 点
   (3:30 → 3点30, 1.5 → 1点5), so that removing punctuation cannot glue two
   numbers into a different one (330, 15).
3. All whitespace, punctuation (Unicode categories P* and Z*, ASCII
   punctuation and symbols, control and format characters such as U+200B) is
   removed.  Chinese is written without spaces, and Vosk's spaces between
   characters would otherwise split OpenCC's phrases.
4. OpenCC ``tw2s``: Traditional → Simplified.  ``t2s`` leaves Taiwan's 著 in
   等著吧 alone (OpenCC's Traditional writes that 着); ``tw2s`` gives 等着吧
   while keeping 著名 / 显著 / 著作.  One guard: ``tw2s`` turns a lone 么 (and
   麼 / 麽) into 幺, which is also a digit here, so those three characters are
   held out of the conversion and come back as 么.  Known limitation: a lone
   著 always becomes 着, and OpenCC's phrase list knows most zhù words only in
   their Traditional spelling, so 顯著 → 显著 but Simplified 显著 → 显着.  In
   110 calls the zhe sense (等著, 著急, 著火) is the one that matters.
5. The spoken hotline number: 要要零, 妖妖灵 (妖妖靈 after step 4), 腰腰零,
   要要灵, 要要临 (Whisper base at 8 kHz hears líng as lín) … (two of
   幺要妖腰吆, then 零〇灵临铃) → ``110``.  Not when 零/灵 begins a
   word of its own (要要零花钱, 要要灵活).  Pure-digit spellings (一一零,
   幺幺零) are handled by step 6.  Misrecognitions with other sounds are not
   guessed at: Whisper's 央央临 (yāng yāng lín) is a different reading from
   yāo yāo líng and stays as it is; correcting recognition errors is the
   compliance matcher's business, and the error should stay visible.
6. Chinese numerals.  A run is a maximal stretch of 零〇一二三四五六七八九幺两
   十百千万亿:

   * A run of 2 or more digit characters with no 十百千万亿 is read digit by
     digit, as phone, room and year numbers are spoken:
     幺三九五一零零零零零二 → 13951000002, 二零二四年 → 2024年, 三零二室 → 302室.
     Not 一一 (唯一一次, 统一一下, 一一说明), 两两, nor two neighbouring numbers
     meaning "one or two" (一两 两三 三四 四五 五六 六七 七八 八九: 三四个人).
   * A single digit character stays (一下, 一定, 第一, 三个人, 五岁) …
   * … except a clock hour: an hour (零 to 九, 两, or 十 … 二十四) before 点
     becomes digits when the time is certain: 点钟 or 点半 follows, or 点 and
     then minutes with 分, or a part of the day comes right before it
     (凌晨 早上 早晨 上午 中午 下午 傍晚 晚上 夜里 半夜 今晚 昨晚).
     三点钟 → 3点钟, 下午一点 → 下午1点, 两点半 → 2点半; but 快一点, 差一点,
     有两点 and 第三点 stay.  Right after such an hour (or Whisper's own
     ``N点``), minutes become digits: 3点十五 → 3点15, 十点零五分 → 10点05分,
     3点五分 → 3点5分 (a lone digit needs the 分: 3点五 may be 3.5).
   * A number written with 十百千万 becomes digits only when it is well formed
     (written exactly as its value is read: 一百零五, 两千, 十五, not 一百五
     "150", 三四十 "30 or 40") and a unit or measure word follows:
     三十五岁 → 35岁, 十分钟 → 10分钟, 一百米 → 100米, 两百块 → 200块.
     So 十分 ("very"), 十字路口, 十万火急, 万一, 千万 (an adverb) and
     百分之 stay, and so do approximations (十几个, 三十多岁, 几十个).

What is not converted, deliberately: single digits in words, approximate
numbers, 一点 meaning "a little", ordinals (第一), fractions and percentages
(百分之五十; Whisper's ``50%`` loses its ``%`` in step 3), decimals read in
characters (一点五), and Latin letter case (kept: ABC stays ABC).
"""

from __future__ import annotations

import re
import string
import threading
import unicodedata
from functools import lru_cache

import opencc

__all__ = ["OPENCC_CONFIG", "normalize_text", "to_simplified"]

OPENCC_CONFIG = "tw2s.json"  # Taiwan-standard Traditional -> Simplified (see step 4)

_converter: opencc.OpenCC | None = None
_converter_lock = threading.Lock()


def _opencc() -> opencc.OpenCC:
    """The one converter, loaded on first use (loading reads the dictionaries)."""
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                _converter = opencc.OpenCC(OPENCC_CONFIG)
    return _converter


_ME = re.compile("[么麼麽]")
_ME_GUARD = "\ue000"  # a private-use character, passed through OpenCC untouched


def to_simplified(text: str) -> str:
    """Traditional -> Simplified with OpenCC ``tw2s``; 么 / 麼 / 麽 always come out as 么."""
    guarded = _ME.sub(_ME_GUARD, text)
    converted: str = _opencc().convert(guarded)
    return converted.replace(_ME_GUARD, "么")


# -- step 2 and 3: separators and punctuation ------------------------------------

_CLOCK = re.compile(r"(?<![0-9:])([0-9]{1,2}):([0-9]{2})(?![0-9:])")
_DECIMAL = re.compile(r"(?<=[0-9])\.(?=[0-9])")
_ASCII_PUNCTUATION = frozenset(string.punctuation)


@lru_cache(maxsize=8192)
def _dropped(ch: str) -> bool:
    if ch in _ASCII_PUNCTUATION or ch.isspace():
        return True
    category = unicodedata.category(ch)
    return category[0] in "PZ" or category in ("Cc", "Cf")


# -- step 5: 110 -----------------------------------------------------------------

_HOTLINE = re.compile("[幺要妖腰吆]{2}[零〇灵临铃](?![花钱食件下售星散用活敏魂时近床])")


def _hotline(match: re.Match[str]) -> str:
    spoken = match.group()
    return spoken if set(spoken) <= set("幺零〇") else "110"  # pure digits: step 6


# -- step 6: numerals ------------------------------------------------------------

_DIGITS = {"零": 0, "〇": 0, "幺": 1, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
           "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_RUN = re.compile("[零〇幺一二两三四五六七八九十百千万亿]+")
_KEEP_PAIRS = frozenset({"一一", "两两", "一两", "两三", "三四", "四五", "五六", "六七", "七八", "八九"})
_DAY_PARTS = ("凌晨", "早上", "早晨", "上午", "中午", "下午", "傍晚", "晚上", "夜里", "半夜", "今晚", "昨晚")
_MEASURES = (
    "分钟", "秒", "小时", "个", "岁", "年", "月", "号", "日", "天", "周", "星期",
    "人", "名", "位", "辆", "次", "户", "楼", "层", "栋", "幢", "单元", "室",
    "米", "公里", "块", "元", "斤", "公斤", "度",
)
_AFTER_HOUR = re.compile(r"[0-9]点$")
_MINUTES_WITH_FEN = re.compile("点[零〇一二两三四五六七八九十]{1,3}分")
_CHINESE_DIGITS = "零一二三四五六七八九"


def _render(value: int) -> str:
    """The canonical reading of 1 ≤ value < 10**8 (一百零五, 十五, 一万零五百)."""

    def section(v: int, leading: bool) -> str:
        parts: list[str] = []
        pending_zero = False
        for place, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
            digit = v // place % 10
            if digit == 0:
                pending_zero = bool(parts)
                continue
            if pending_zero:
                parts.append("零")
                pending_zero = False
            parts.append(_CHINESE_DIGITS[digit] + unit)
        text = "".join(parts)
        return text[1:] if leading and text.startswith("一十") else text

    high, low = divmod(value, 10000)
    if not high:
        return section(low, True)
    text = section(high, True) + "万"
    if low:
        text += ("零" if low < 1000 else "") + section(low, False)
    return text


def _positional_value(run: str) -> int | None:
    """The value of a well-formed numeral with 十百千万, or None (一百五, 三四十, 千万 …)."""
    total = section = 0
    digit: int | None = None
    for ch in run:
        if ch in _UNITS:
            section += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
        elif ch == "万":
            section += digit or 0
            if section == 0:
                return None
            total += section * 10000
            section, digit = 0, None
        elif ch in _DIGITS and ch != "幺":
            digit = _DIGITS[ch]
        else:
            return None
    total += section + (digit or 0)
    if not 0 < total < 10**8:
        return None
    written = re.sub("两(?=[百千万])", "二", run.replace("〇", "零"))
    return total if written == _render(total) else None


def _clock_hour(before: str, after: str) -> bool:
    """点 after an hour is a time only when the words around it say so."""
    if not after.startswith("点"):
        return False
    return (after.startswith(("点钟", "点半")) or _MINUTES_WITH_FEN.match(after) is not None
            or before.endswith(_DAY_PARTS))


def _numeral(run: str, before: str, after: str) -> str:
    """One run of numeral characters, given the (already normalised) text before it and the raw text after."""
    minutes = _AFTER_HOUR.search(before) is not None
    if not any(ch in "十百千万亿" for ch in run):
        if len(run) >= 2:
            return run if run in _KEEP_PAIRS else "".join(str(_DIGITS[ch]) for ch in run)
        if run == "幺" or before.endswith("第"):
            return run
        if _clock_hour(before, after) or (minutes and after.startswith("分")):
            return str(_DIGITS[run])
        return run
    value = _positional_value(run)
    if value is None or before.endswith(("几", "数")):
        return run
    if minutes and value < 60:
        return str(value)
    if (value <= 24 and _clock_hour(before, after)) or after.startswith(_MEASURES):
        return str(value)
    return run


def _numerals(text: str) -> str:
    out = ""
    last = 0
    for match in _RUN.finditer(text):
        out += text[last:match.start()]
        out += _numeral(match.group(), out, text[match.end():])
        last = match.end()
    return out + text[last:]


def normalize_text(raw: str) -> str:
    """Recogniser output in the one comparable form (see the module docstring for every step)."""
    text = unicodedata.normalize("NFKC", raw)
    text = _CLOCK.sub(r"\1点\2", text)
    text = _DECIMAL.sub("点", text)
    text = "".join(ch for ch in text if not _dropped(ch))
    text = to_simplified(text)
    text = _HOTLINE.sub(_hotline, text)
    return _numerals(text)
