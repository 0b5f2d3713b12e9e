#!/usr/bin/env python3
"""Make the WAV files in tests/fixtures/audio (deterministic: same bytes on every run).

    .venv/bin/python scripts/make_test_audio.py [--out DIR]

Source: the first 12 s of one real call's channel files,
tests/fixtures/asterisk/recordings/110-20261122-142935-13951000002-op1001-1795357773.0-{operator,caller}.wav
(8 kHz mono 16-bit PCM; the operator's greeting, the caller's first line and the operator's
location question).  Written with callmon.speech.audio.write_wav:

  call-operator-pcm8k.wav     operator, 16-bit PCM 8 kHz (the reference the other files are checked against)
  call-caller-pcm8k.wav       caller, 16-bit PCM 8 kHz
  call-operator-ulaw8k.wav    operator, G.711 µ-law 8 kHz (nearest code per sample)
  call-operator-alaw8k.wav    operator, G.711 A-law 8 kHz
  call-operator-pcm16k.wav    operator resampled 8 -> 16 kHz with callmon.speech.audio.resample, 16-bit PCM
  call-stereo-pcm8k.wav       left = operator, right = caller, 16-bit PCM 8 kHz
  silence-5s-pcm8k.wav        5 s of digital silence (all samples 0)
  noise-30dbfs-5s-pcm8k.wav   5 s of Gaussian white noise, RMS exactly -30 dBFS (0.0316 of full scale), seed 110

Malformed files, built byte by byte:

  bad-empty.wav               0 bytes
  bad-not-riff.wav            a big-endian 'RIFX' header instead of 'RIFF' (otherwise a valid file)
  bad-truncated.wav           call-operator-pcm8k.wav cut after 1045 bytes: 'data' claims 192000 bytes, 1001 follow
  bad-format-tag.wav          'fmt ' format tag 2 (MS ADPCM), 1 s of bytes
  bad-zero-channels.wav       'fmt ' claims 0 channels
  bad-huge-data-size.wav      'data' claims 0xFFFFFFF0 bytes, 1 s (16000 bytes) follow
  bad-mp3-like.wav            an ID3v2 tag and MPEG-1 layer III frame headers with random payload, seed 3
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

import numpy as np

from callmon.speech.audio import read_wav, resample, write_wav
from callmon.speech.types import Samples

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = ROOT / "tests" / "fixtures" / "asterisk" / "recordings"
CALL = "110-20261122-142935-13951000002-op1001-1795357773.0"
OUT = ROOT / "tests" / "fixtures" / "audio"
RATE = 8000
CROP_SECONDS = 12
NOISE_DBFS = -30.0


def _channel(role: str) -> Samples:
    audio = read_wav(RECORDINGS / f"{CALL}-{role}.wav")
    assert audio.rate == RATE and len(audio.channels) == 1, (audio.rate, len(audio.channels))
    return audio.channels[0][: CROP_SECONDS * RATE]


def _header(tag: int, channels: int, rate: int, bits: int, data_size: int, magic: bytes = b"RIFF") -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    riff_size = 4 + 8 + len(fmt) + 8 + data_size
    return (magic + struct.pack("<I", riff_size & 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", data_size))


def _pcm16(samples: Samples) -> bytes:
    return bytes(np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").tobytes())


def _mp3_like() -> bytes:
    rng = np.random.default_rng(3)
    out = b"ID3\x04\x00\x00\x00\x00\x00\x00"  # ID3v2.4 tag, empty
    for _ in range(5):
        # MPEG-1 layer III, 128 kbit/s, 44.1 kHz: 417-byte frames
        out += b"\xff\xfb\x90\x64" + rng.integers(0, 256, 413, dtype=np.uint8).tobytes()
    return out


def make(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    operator, caller = _channel("operator"), _channel("caller")
    written: list[Path] = []

    def wav(name: str, channels: list[Samples], rate: int = RATE, encoding: str = "pcm") -> None:
        write_wav(out / name, channels, rate, encoding)
        written.append(out / name)

    def raw(name: str, data: bytes) -> None:
        (out / name).write_bytes(data)
        written.append(out / name)

    wav("call-operator-pcm8k.wav", [operator])
    wav("call-caller-pcm8k.wav", [caller])
    wav("call-operator-ulaw8k.wav", [operator], encoding="ulaw")
    wav("call-operator-alaw8k.wav", [operator], encoding="alaw")
    wav("call-operator-pcm16k.wav", [resample(operator, RATE, 16000)], 16000)
    wav("call-stereo-pcm8k.wav", [operator, caller])
    wav("silence-5s-pcm8k.wav", [np.zeros(5 * RATE, dtype=np.float32)])
    noise = np.random.default_rng(110).standard_normal(5 * RATE)
    noise *= 10 ** (NOISE_DBFS / 20) / np.sqrt(np.mean(noise**2))
    wav("noise-30dbfs-5s-pcm8k.wav", [noise.astype(np.float32)])

    pcm = _pcm16(operator)
    raw("bad-empty.wav", b"")
    raw("bad-not-riff.wav", _header(1, 1, RATE, 16, RATE * 2, magic=b"RIFX") + pcm[: RATE * 2])
    raw("bad-truncated.wav", (out / "call-operator-pcm8k.wav").read_bytes()[:1045])
    raw("bad-format-tag.wav", _header(2, 1, RATE, 4, RATE // 2) + bytes(RATE // 2))
    raw("bad-zero-channels.wav", _header(1, 0, RATE, 16, RATE * 2) + pcm[: RATE * 2])
    raw("bad-huge-data-size.wav", _header(1, 1, RATE, 16, 0xFFFFFFF0) + pcm[: RATE * 2])
    raw("bad-mp3-like.wav", _mp3_like())
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=OUT, help=f"output directory (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    files = make(args.out)
    total = sum(f.stat().st_size for f in files)
    for f in files:
        print(f"{f.stat().st_size:>8}  {f}")
    print(f"{total:>8}  total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
