"""Phrase-matching speed: ~60 grammar phrases against a 10-utterance operator transcript.

The compliance target is 1,000 calls checked per second on one core, so this
measures the matcher alone, the way a check uses it: prepare the transcript
once per call (normalise, pinyin, word times), then match every phrase.
Utterance texts are Whisper base output on the fixture recordings.

    .venv/bin/python bench/bench_matching.py [--seconds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callmon.compliance.matching import PreparedTranscript, match_phrase

UTTERANCES = [  # what Whisper base wrote for the natural operator tracks, plus everyday talk
    "你好长周110请说清楚发生了什么事情", "请说出具体的位置", "请问什么时间发生的", "请留下你的联系方式",
    "请不要着急我们马上派您紧来", "好的我们马上拍明镜来", "喂什么事", "知道了等着吧",
    "你现在人安全吗旁边还有别人吗", "今天天气很好我们去公园散步",
]
PHRASES = [
    "你好常州110", "您好常州110", "你好110", "请说清楚发生了什么事情", "发生了什么事", "出了什么事",
    "什么情况", "请慢慢说", "请说出具体的位置", "在什么地方", "你现在在哪里", "具体地址是哪里", "在哪个路口",
    "附近有什么标志性建筑", "哪个小区几栋几单元", "请问什么时间发生的", "什么时候发生的", "大概几点钟",
    "发生多长时间了", "现在还在发生吗", "有几个人", "对方有几个人", "对方长什么样", "穿什么衣服",
    "有没有人受伤", "伤得重不重", "为什么会发生", "因为什么事情", "起因是什么", "有没有带凶器",
    "丢了什么东西", "损失了多少钱", "车牌号是多少", "现在情况怎么样", "人跑了吗", "往哪个方向跑了",
    "请留下你的联系方式", "你的电话号码是多少", "这个号码能打通吗", "请问您贵姓", "请不要着急",
    "请您冷静一下", "不要慌", "注意自身安全", "我们马上派民警来", "民警马上就到", "我们已经派警察过去了",
    "请在原地等候", "请保护好现场", "请不要挂电话", "这个不归我们管", "请拨打12345", "建议您去法院起诉",
    "请注意文明用语", "请不要恶意骚扰", "您反映的问题我们已经记录", "谢谢您的配合", "还有其他情况吗",
    "请问您还有什么要补充的", "我们会尽快处理",
]


def transcript() -> list[dict[str, Any]]:
    utts = []
    t = 0.5
    for text in UTTERANCES:
        end = t + 0.25 * len(text)
        words = [{"text": ch, "start": t + 0.25 * i, "end": t + 0.25 * (i + 1)} for i, ch in enumerate(text)]
        utts.append({"channel": "operator", "start": t, "end": end, "text": text, "raw_text": text, "words": words})
        t = end + 2.0
    return utts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    utts = transcript()
    PreparedTranscript(utts)  # warm the caches the way a running daemon has them
    calls = 0
    found = 0
    began = time.perf_counter()
    while time.perf_counter() - began < args.seconds:
        prepared = PreparedTranscript(utts)
        found = sum(match_phrase(p, prepared) is not None for p in PHRASES)
        calls += 1
    elapsed = time.perf_counter() - began
    result = {
        "phrases": len(PHRASES), "utterances": len(utts), "calls": calls, "seconds": round(elapsed, 3),
        "phrases_per_second": round(calls * len(PHRASES) / elapsed),
        "us_per_phrase": round(elapsed / (calls * len(PHRASES)) * 1e6, 1),
        "ms_per_call": round(elapsed / calls * 1e3, 3), "calls_per_second": round(calls / elapsed, 1),
        "found_per_call": found,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['phrases_per_second']:,} phrases matched per second "
              f"({result['us_per_phrase']} µs per phrase against {len(utts)} utterances)")
        print(f"one call ({len(PHRASES)} phrases × {len(utts)} utterances): {result['ms_per_call']} ms, "
              f"about {result['calls_per_second']:,} calls per second on one core for matching alone "
              f"({found} phrases found per call)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
