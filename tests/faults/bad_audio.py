"""1,000 malformed recordings, made deterministically from the real ones, each with the reason it must fail.

Why from the real files: a broken recording on a site is a real MixMonitor file gone wrong (cut
off, header damaged, the wrong file under the right name), not noise.  Each family breaks one
thing; ``reason`` is the pattern the ``AudioError`` must carry after ``file: byte N: ``, so a
file refused for the wrong reason fails the test too.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from tests.conftest import ASTERISK

RECORDINGS = sorted((ASTERISK / "recordings").glob("*.wav"))
COUNT = 1_000
NO_AUDIO = "the 'data' chunk holds no audio"


@dataclass(frozen=True)
class BadWav:
    name: str
    data: bytes
    reason: str  # regex searched in the error message


@cache
def real(k: int) -> bytes:
    data = RECORDINGS[k % len(RECORDINGS)].read_bytes()
    assert data[:4] == b"RIFF" and data[12:16] == b"fmt " and data[36:40] == b"data", "expected a 44-byte header"
    return data


def wav(fmt: bytes, audio: bytes, *, data_size: int | None = None, fmt_size: int | None = None,
        before: bytes = b"", after_fmt: bytes = b"") -> bytes:
    """A RIFF/WAVE file from parts; sizes may lie."""
    body = (b"WAVE" + before + b"fmt " + struct.pack("<I", len(fmt) if fmt_size is None else fmt_size) + fmt
            + after_fmt + b"data" + struct.pack("<I", len(audio) if data_size is None else data_size) + audio)
    return b"RIFF" + struct.pack("<I", len(body) & 0xFFFFFFFF) + body


def fmt(tag: int = 1, channels: int = 1, rate: int = 8000, bits: int = 16) -> bytes:
    block = (channels * bits // 8) & 0xFFFF
    return struct.pack("<HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)


def audio(rng: random.Random, src: bytes) -> bytes:
    """Some of the real samples (up to 1 s) so files stay small and fast."""
    start = 44 + 2 * rng.randrange(0, (len(src) - 44) // 2 - 8000)
    return src[start:start + 2 * rng.randint(1, 8000)]


Family = Callable[[random.Random, bytes], tuple[bytes, str]]


def _cut_header(rng: random.Random, src: bytes) -> tuple[bytes, str]:
    n = rng.randint(12, 44)
    expected = {range(12, 20): "no 'fmt ' chunk", range(20, 36): "'fmt ' chunk too short",
                range(36, 44): "no 'data' chunk", range(44, 45): NO_AUDIO}
    return src[:n], next(v for r, v in expected.items() if n in r)


NOT_WAV = [
    b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(400),  # MP3 with an ID3 tag
    b"\xff\xfb\x90\x64" + bytes(417) * 3,  # bare MP3 frames
    "通话录音 call recording\n".encode() * 20,  # text
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(60),
    b"OggS\x00\x02" + bytes(200), b"fLaC\x00\x00\x00\x22" + bytes(200), b"PK\x03\x04" + bytes(200),
    b"\x1f\x8b\x08\x00" + zlib.compress(b"RIFF" * 50), b"%PDF-1.7\n" + bytes(100), b"\x7fELF\x02\x01\x01" + bytes(60),
    b"<html><body>404 Not Found</body></html>\n", b'{"error": "recording not ready"}\n',
    b"Asterisk Call Manager/11.0.0\r\nEvent: Newchannel\r\n\r\n", b"\x00" * 64, b"FORM\x00\x00\x00\x20AIFFCOMM",
    b"RIFX\x24\x00\x00\x00WAVEfmt ", b"RF64\xff\xff\xff\xffWAVEds64",
]

FAMILIES: dict[str, Family] = {
    "empty": lambda rng, src: (b"", "the file has only 0 bytes"),
    "shorter_than_a_header": lambda rng, src: (src[:rng.randint(1, 11)], r"the file has only \d+ bytes"),
    "cut_in_the_header": _cut_header,
    "not_riff": lambda rng, src: (rng.choice([b"RIFX", b"riff", b"RF64", bytes(4), b"FORM"]) + src[4:],
                                  "expected 'RIFF....WAVE'"),
    "not_wave": lambda rng, src: (src[:8] + rng.choice([b"AVI ", b"WAVX", b"wave", b"CDXA"]) + src[12:],
                                  "expected 'RIFF....WAVE'"),
    "not_a_wav_at_all": lambda rng, src: (rng.choice(NOT_WAV) + rng.randbytes(rng.randint(0, 64)),
                                          "expected 'RIFF....WAVE'"),
    "random_bytes": lambda rng, src: (rng.randbytes(rng.randint(12, 4096)), "expected 'RIFF....WAVE'"),
    "format_tag": lambda rng, src: (wav(fmt(tag := rng.choice([0, 2, 0x11, 0x31, 0x55, 0x50, 0xFFFF])),
                                        audio(rng, src)), rf"audio format {tag} not supported"),
    "extensible_short": lambda rng, src: (wav(fmt(0xFFFE), audio(rng, src)),
                                          "WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk too short"),
    "extensible_subformat": lambda rng, src: (
        wav(fmt(0xFFFE) + struct.pack("<HHIH", 22, 16, 4, sub := rng.choice([0x55, 0x11, 2])) + bytes(14),
            audio(rng, src)), rf"audio format {sub} not supported"),
    "channels": lambda rng, src: (wav(fmt(channels=(n := rng.choice([0, 3, 6, 8, 255, 65535]))), audio(rng, src)),
                                  rf"\b{n} channels \(expected 1 or 2\)"),
    "sample_rate": lambda rng, src: (wav(fmt(rate=(r := rng.choice([0, 1, 3999, 48001, 96000, 0xFFFFFFFF]))),
                                         audio(rng, src)), rf"sample rate {r} Hz"),
    "bits_pcm": lambda rng, src: (wav(fmt(bits=(b := rng.choice([0, 1, 4, 12, 20, 64, 0xFFFF]))), audio(rng, src)),
                                  rf"{b} bits per sample for pcm"),
    "bits_g711": lambda rng, src: (wav(fmt(tag=rng.choice([6, 7]), bits=(b := rng.choice([4, 16, 32]))),
                                       audio(rng, src)), rf"{b} bits per sample for (alaw|ulaw)"),
    "bits_float": lambda rng, src: (wav(fmt(tag=3, bits=(b := rng.choice([8, 16, 64]))), audio(rng, src)),
                                    rf"{b} bits per sample for float"),
    "fmt_size_small": lambda rng, src: (wav(fmt(), audio(rng, src), fmt_size=(n := rng.randint(0, 15))),
                                        rf"'fmt ' chunk too short \({n} bytes"),
    "fmt_size_huge": lambda rng, src: (wav(fmt(), audio(rng, src), fmt_size=rng.choice([0xFFFFFFFF, 0x7FFFFFFF])),
                                       "no 'data' chunk"),
    "data_before_fmt": lambda rng, src: (
        b"RIFF\x00\x00\x00\x00WAVEdata" + struct.pack("<I", len(a := audio(rng, src))) + a + b"fmt \x10\x00\x00\x00"
        + fmt(), "'data' chunk before the 'fmt ' chunk"),
    "no_fmt_chunk": lambda rng, src: (src[:12] + rng.choice([b"FMT ", b"fmt\x00", b"junk"]) + src[16:44]
                                      + audio(rng, src), "'data' chunk before the 'fmt ' chunk"),
    "no_data_chunk": lambda rng, src: (src[:36] + rng.choice([b"DATA", b"dat\x00", b"junk"]) + src[40:44]
                                       + audio(rng, src), "no 'data' chunk"),
    "data_size_zero": lambda rng, src: (wav(fmt(), audio(rng, src), data_size=0), NO_AUDIO),
    "data_size_huge_no_audio": lambda rng, src: (wav(fmt(), rng.choice([b"", b"\x01"]), data_size=0xFFFFFFFF),
                                                 NO_AUDIO),
    "data_shorter_than_a_frame": lambda rng, src: (
        wav(fmt(channels=(c := rng.choice([1, 2]))), b"\x01" * (n := rng.randint(1, 2 * c - 1)), data_size=n),
        NO_AUDIO),
    "huge_chunk_before_fmt": lambda rng, src: (wav(fmt(), audio(rng, src), before=b"LIST" + struct.pack(
        "<I", rng.choice([0xFFFFFFF0, 0x7FFFFFFF, 0x10000000]))), "no 'fmt ' chunk"),
    "odd_chunk_without_pad": lambda rng, src: (wav(fmt(), audio(rng, src), before=b"junk\x03\x00\x00\x00abc"),
                                               "no 'fmt ' chunk"),
    "riff_header_only": lambda rng, src: (b"RIFF" + struct.pack("<I", rng.choice([0, 4, 0xFFFFFFFF])) + b"WAVE",
                                          "no 'fmt ' chunk"),
}


def bad_wavs() -> list[BadWav]:
    """``COUNT`` files, the families in turn, each from a seeded RNG and one of the real recordings."""
    names = list(FAMILIES)
    out = []
    for k in range(COUNT):
        family = names[k % len(names)]
        rng = random.Random(k)
        data, reason = FAMILIES[family](rng, real(k // len(names)))
        out.append(BadWav(f"{k:04d}-{family}", data, reason))
    return out
