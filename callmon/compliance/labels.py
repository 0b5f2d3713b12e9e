"""Chinese labels of item ids, flag kinds, review states and flag reasons: one wording for the
review UI and the exports.  Stored values stay English and stable for scripts."""

from __future__ import annotations

import re
from functools import lru_cache

ITEM_NAMES = {
    "greeting": "规范问候语", "element.when": "何时", "element.where": "何地", "element.what": "何事",
    "element.who": "何人", "element.why": "何因", "element.objects": "何物", "element.outcome": "何果",
    "element.contact": "联系方式", "situation.calming": "安抚情绪", "situation.repeat_call": "重复报警",
    "situation.urgent_help": "紧急求助派警", "situation.consultation": "咨询与转介",
    "situation.rude_caller": "报警人不文明", "situation.harassment": "骚扰电话", "situation.complaint": "投诉",
    "prohibited": "禁用语（训斥、刁难）", "rings": "三声内接听",
}
FLAG_NAMES = {"needs_human": "需人工复核", "below_pass": "低于及格线", "veto": "一票否决", "rings": "超过响铃次数",
              "prohibited": "使用禁用语", "other": "其他"}
STATE_NAMES = {"unreviewed": "未复核", "reviewed": "已复核", "disputed": "申诉中"}

_REASON_PATTERNS = (
    (re.compile(r"^score (\d+) below the pass mark (\d+)$"), "得分 {0}，低于及格线 {1}"),
    (re.compile(r"^needs a human: no transcript \((.*)\)$"), "需人工复核：没有转写（{0}）"),
    (re.compile(r"^needs a human: low-confidence transcript$"), "需人工复核：转写置信度低"),
    (re.compile(r"^needs a human: no operator speech in the transcript$"), "需人工复核：转写中没有接警员的话"),
    (re.compile(r"^needs a human: (.*)$"), "需人工复核：{0}"),
    (re.compile(r"^veto: (.*)$"), "一票否决：{0}"),
    (re.compile(r"^ring limit exceeded$"), "超过响铃次数"),
    (re.compile(r"^prohibited phrase$"), "使用禁用语"),
)


@lru_cache(maxsize=8192)  # a month repeats a few hundred distinct reasons over tens of thousands of calls
def reason_zh(reason: str) -> str:
    """A stored flag reason (English, stable for scripts) as the Chinese pages show it."""
    for pattern, text in _REASON_PATTERNS:
        m = pattern.match(reason)
        if m:
            return text.format(*m.groups())
    return reason
