"""Recognition accuracy on the fixture recordings: CER per channel and script, confidence, natural vs espeak.

CER is the character edit distance over the reference length, after both the
scripted text (scenarios.json ``dialogues``) and the transcript pass through
callmon's normaliser (Simplified, no punctuation, 110 as digits).

Run: .venv/bin/python bench/speech_accuracy.py [--model whisper-base] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callmon.speech.accuracy import cer  # noqa: E402
from callmon.speech.normalize import normalize_text  # noqa: E402
from callmon.speech.transcribe import load_recognizer, transcribe_file  # noqa: E402

FIX = ROOT / "tests/fixtures/asterisk"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    scenarios = json.loads((FIX / "scenarios.json").read_text(encoding="utf-8"))
    scripts = scenarios["dialogues"]["scripts"]
    recognizer = load_recognizer(None, args.model)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for capture in scenarios["captures"].values():
        for call in capture["calls"]:
            if not call["recordings"] or call["configured"]["script"] in seen:
                continue
            script = call["configured"]["script"]
            seen.add(script)
            base = Path(call["recordings"][0]).stem
            for speaker in ("operator", "caller"):
                reference = normalize_text("".join(u["text"] for u in scripts[script]["timeline"]
                                                   if u["speaker"] == speaker))
                for audio in ("recordings", "recordings-espeak"):
                    result = transcribe_file(FIX / audio / f"{base}-{speaker}.wav", recognizer, channel=speaker)
                    said = "".join(u["text"] for u in result["utterances"])
                    confidences = [u["confidence"] for u in result["utterances"] if u["confidence"] is not None]
                    rows.append({"script": script, "channel": speaker, "audio": audio.replace("recordings", "natural")
                                 .replace("natural-espeak", "espeak"), "cer": round(cer(reference, said), 3),
                                 "confidence": round(mean(confidences), 3) if confidences else None,
                                 "reference": reference, "transcript": said})
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    print(f"model {recognizer.model} ({recognizer.engine}); fixture recordings, 8 kHz\n")
    print("| script | channel | audio | CER | mean confidence | transcript |")
    print("|---|---|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['script']} | {r['channel']} | {r['audio']} | {r['cer']:.1%} | {r['confidence']} | "
              f"{r['transcript']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
