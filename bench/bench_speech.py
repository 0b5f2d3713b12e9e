"""Speech throughput: real-time factor per engine, one vs two workers, peak memory, audio per day.

Every channel file of the fixture recordings (5 calls, operator and caller,
8 kHz) is transcribed by the real engines.  The real-time factor (RTF) is
processing seconds / audio seconds; the machine's capacity is audio seconds
per wall second with one worker (2 threads) and with two worker processes
(1 thread each) sharing the two cores.  The target: both channels of 5,000
one-minute calls a day, 600,000 s of audio, i.e. 6.9 audio seconds per
wall second.

Run: .venv/bin/python bench/bench_speech.py [--json] [--engines whisper-base,vosk-ko]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callmon.speech.audio import read_wav  # noqa: E402
from callmon.speech.transcribe import load_recognizer  # noqa: E402

FILES = sorted((ROOT / "tests/fixtures/asterisk/recordings").glob("*-operator.wav")) + sorted(
    (ROOT / "tests/fixtures/asterisk/recordings").glob("*-caller.wav"))
TARGET_AUDIO_S_PER_DAY = 5000 * 60 * 2
ENGINE_OF = {"whisper-base": "whisper", "vosk-ko": "vosk"}


def transcribe_all(model: str, files: list[Path], threads: int) -> dict[str, Any]:
    """Load once, then transcribe every file; seconds of work vs seconds of audio."""
    t0 = time.perf_counter()
    recognizer = load_recognizer(ENGINE_OF[model], model, threads=threads)
    load_s = time.perf_counter() - t0
    audio_s = work_s = 0.0
    per_channel: dict[str, list[float]] = {"operator": [0.0, 0.0], "caller": [0.0, 0.0]}
    words = 0
    for path in files:
        audio = read_wav(path)
        channel = "caller" if path.stem.endswith("-caller") else "operator"
        start = time.perf_counter()
        utterances = recognizer.transcribe(audio.channels[0], audio.rate, channel)
        took = time.perf_counter() - start
        audio_s += audio.seconds
        work_s += took
        per_channel[channel][0] += audio.seconds
        per_channel[channel][1] += took
        words += sum(len(u.text) for u in utterances)
    return {"load_s": round(load_s, 2), "audio_s": round(audio_s, 1), "work_s": round(work_s, 2),
            "rtf": round(work_s / audio_s, 4),
            "rtf_operator": round(per_channel["operator"][1] / per_channel["operator"][0], 4),
            "rtf_caller": round(per_channel["caller"][1] / per_channel["caller"][0], 4),
            "characters": words, "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def _child(model: str, files: list[str], threads: int, out: Any) -> None:
    out.put(transcribe_all(model, [Path(f) for f in files], threads))


def workers(model: str, count: int, threads: int, rounds: int) -> dict[str, Any]:
    """``count`` worker processes splitting ``rounds`` passes over the files; wall-clock throughput."""
    files = [str(f) for f in FILES] * rounds
    queue: Any = mp.get_context("spawn").Queue()
    shares = [files[i::count] for i in range(count)]
    procs = [mp.get_context("spawn").Process(target=_child, args=(model, share, threads, queue)) for share in shares]
    start = time.perf_counter()
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    wall = time.perf_counter() - start
    load = max(r["load_s"] for r in results)
    audio = sum(r["audio_s"] for r in results)
    throughput = audio / (wall - load)  # steady state: model loading happens once per worker
    return {"workers": count, "threads_each": threads, "audio_s": round(audio, 1), "wall_s": round(wall, 1),
            "model_load_s": load, "audio_s_per_wall_s": round(throughput, 2),
            "audio_hours_per_day": round(throughput * 86400 / 3600),
            "meets_target": throughput * 86400 >= TARGET_AUDIO_S_PER_DAY,
            "peak_rss_mib_per_worker": max(r["peak_rss_mib"] for r in results)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engines", default="whisper-base,vosk-ko")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the files in the worker runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"files": len(FILES), "target_audio_s_per_day": TARGET_AUDIO_S_PER_DAY, "engines": {}}
    for model in args.engines.split(","):
        single = transcribe_all(model, FILES, threads=2)
        one = workers(model, 1, 2, args.rounds)
        two = workers(model, 2, 1, args.rounds)
        result["engines"][model] = {"single_pass": single, "one_worker": one, "two_workers": two}
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{len(FILES)} channel files (5 calls x operator + caller, 8 kHz); target "
          f"{TARGET_AUDIO_S_PER_DAY:,} audio s/day = {TARGET_AUDIO_S_PER_DAY / 86400:.1f} audio s per wall s\n")
    print("| model | RTF all | RTF operator | RTF caller | workers x threads | audio s / wall s | "
          "audio h / day | target | peak RSS MiB/worker |")
    print("|---|---:|---:|---:|---|---:|---:|---|---:|")
    for model, r in result["engines"].items():
        s = r["single_pass"]
        for w in (r["one_worker"], r["two_workers"]):
            print(f"| {model} | {s['rtf']} | {s['rtf_operator']} | {s['rtf_caller']} | "
                  f"{w['workers']} x {w['threads_each']} | {w['audio_s_per_wall_s']} | {w['audio_hours_per_day']} | "
                  f"{'met' if w['meets_target'] else 'NOT met'} | {w['peak_rss_mib_per_worker']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
