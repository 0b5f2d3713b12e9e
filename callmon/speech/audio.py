"""Reading telephone WAV files into float samples, without ``audioop``.

Asterisk's MixMonitor writes 8 kHz (sometimes 16 kHz) WAV as 16-bit PCM,
G.711 µ-law or A-law; mono, or stereo with one direction per channel.  The
RIFF chunks are read here directly (the stdlib ``wave`` module knows no
G.711) and G.711 is expanded with numpy lookup tables.  Any problem becomes
an ``AudioError`` naming the file, the byte offset and what was expected.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callmon.speech.types import Samples

PCM, IEEE_FLOAT, ALAW, MULAW, EXTENSIBLE = 1, 3, 6, 7, 0xFFFE
FORMAT_NAMES = {PCM: "pcm", IEEE_FLOAT: "float", ALAW: "alaw", MULAW: "ulaw"}
MAX_SECONDS = 6 * 3600  # a call longer than six hours is a broken header, not a call


class AudioError(Exception):
    """A recording that cannot be read, worded for the person looking at it."""


@dataclass(slots=True)
class Audio:
    """Decoded audio: one float32 array per channel, all at ``rate`` Hz."""

    rate: int
    channels: list[Samples]
    encoding: str
    note: str | None = None  # e.g. a header that claims more audio than the file holds

    @property
    def seconds(self) -> float:
        return len(self.channels[0]) / self.rate if self.channels else 0.0


def _ulaw_table() -> Samples:
    codes = np.arange(256, dtype=np.int32)
    inverted = ~codes & 0xFF
    sign = inverted & 0x80
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    magnitude = ((mantissa << 3) + 0x84) << exponent
    value = np.where(sign != 0, 0x84 - magnitude, magnitude - 0x84)
    return (value / 32768.0).astype(np.float32)


def _alaw_table() -> Samples:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    value = np.where(sign != 0, magnitude, -magnitude)
    return (value / 32768.0).astype(np.float32)


ULAW = _ulaw_table()
ALAW_TABLE = _alaw_table()


def read_wav(path: Path) -> Audio:
    """Every channel of a WAV file as float32 in [-1, 1]."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AudioError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_wav(data, str(path))


def parse_wav(data: bytes, name: str = "<bytes>") -> Audio:
    if len(data) < 12:
        raise AudioError(f"{name}: byte 0: expected a RIFF/WAVE header, the file has only {len(data)} bytes")
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(f"{name}: byte 0: expected 'RIFF....WAVE', found {data[:12]!r}")
    fmt: tuple[int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt = _read_fmt(data, body, size, name)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError(f"{name}: byte {pos}: 'data' chunk before the 'fmt ' chunk "
                                 "(expected 'fmt ' first)")
            return _decode(data[body:body + size], fmt, name, body, declared=size, have=len(data) - body)
        pos = body + size + (size & 1)
    if fmt is None:
        raise AudioError(f"{name}: byte {pos}: no 'fmt ' chunk (expected one before the audio)")
    raise AudioError(f"{name}: byte {pos}: no 'data' chunk (expected the audio after 'fmt '; file truncated?)")


def _read_fmt(data: bytes, body: int, size: int, name: str) -> tuple[int, int, int, int]:
    if size < 16 or body + 16 > len(data):
        raise AudioError(f"{name}: byte {body}: 'fmt ' chunk too short ({size} bytes, expected 16 or more)")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
    if tag == EXTENSIBLE:
        if size < 26 or body + 26 > len(data):
            raise AudioError(f"{name}: byte {body}: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk too short "
                             "(expected 40 bytes with the sub-format)")
        tag = struct.unpack_from("<H", data, body + 24)[0]
    if tag not in FORMAT_NAMES:
        raise AudioError(f"{name}: byte {body}: audio format {tag} not supported "
                         "(expected PCM, IEEE float, µ-law or A-law)")
    if not 1 <= channels <= 2:
        raise AudioError(f"{name}: byte {body + 2}: {channels} channels (expected 1 or 2)")
    if not 4000 <= rate <= 48000:
        raise AudioError(f"{name}: byte {body + 4}: sample rate {rate} Hz (expected 8000 to 48000)")
    expected_bits = {PCM: (8, 16, 24, 32), IEEE_FLOAT: (32,), ALAW: (8,), MULAW: (8,)}[tag]
    if bits not in expected_bits:
        raise AudioError(f"{name}: byte {body + 14}: {bits} bits per sample for {FORMAT_NAMES[tag]} "
                         f"(expected {' or '.join(map(str, expected_bits))})")
    return tag, channels, rate, bits


def _decode(raw: bytes, fmt: tuple[int, int, int, int], name: str, offset: int,
            declared: int, have: int) -> Audio:
    tag, channels, rate, bits = fmt
    width = bits // 8
    frame = width * channels
    note = None
    if declared > have:
        # MixMonitor fixes the sizes only when it closes the file: a recording still being written, or
        # cut off by a crash, claims more than it holds.  Keep the audio that is there, and say so.
        raw = raw[: have - have % frame]
        note = (f"{name}: byte {offset - 4}: header claims {declared} bytes of audio, the file holds {have}: "
                "truncated or still being written; transcribed what is there")
    if len(raw) / frame / rate > MAX_SECONDS:
        raise AudioError(f"{name}: byte {offset}: {len(raw)} bytes of audio is over {MAX_SECONDS // 3600} h "
                         "(expected one call)")
    raw = raw[: len(raw) - len(raw) % frame]
    if not raw:  # also a chunk shorter than one sample frame: nothing to decode, not "no speech"
        raise AudioError(f"{name}: byte {offset}: the 'data' chunk holds no audio (expected samples)")
    if tag == MULAW:
        samples = ULAW[np.frombuffer(raw, dtype=np.uint8)]
    elif tag == ALAW:
        samples = ALAW_TABLE[np.frombuffer(raw, dtype=np.uint8)]
    elif tag == IEEE_FLOAT:
        samples = np.clip(np.nan_to_num(np.frombuffer(raw, dtype="<f4")), -1.0, 1.0).astype(np.float32)
    elif bits == 8:
        samples = ((np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0)
    elif bits == 16:
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8
        samples = (ints / 8388608.0).astype(np.float32)
    else:
        samples = (np.frombuffer(raw, dtype="<i4") / 2147483648.0).astype(np.float32)
    per_channel = [np.ascontiguousarray(samples[i::channels]) for i in range(channels)]
    return Audio(rate, per_channel, FORMAT_NAMES[tag], note)


def resample(samples: Samples, src: int, dst: int) -> Samples:
    """Band-limited resampling (windowed-sinc interpolation) between telephone rates."""
    if src == dst or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    n_out = round(len(samples) * dst / src)
    cutoff = min(src, dst) / 2 * 0.95
    half = 16  # taps either side, in input samples
    t = np.arange(n_out, dtype=np.float64) * src / dst
    base = np.floor(t).astype(np.int64)
    out = np.zeros(n_out, dtype=np.float64)
    padded = np.concatenate([np.zeros(half), samples.astype(np.float64), np.zeros(half + 1)])
    for k in range(-half + 1, half + 1):
        idx = base + k
        x = t - idx
        window = 0.5 + 0.5 * np.cos(np.pi * x / half)
        out += padded[idx + half] * (2 * cutoff / src) * np.sinc(2 * cutoff / src * x) * window
    return out.astype(np.float32)


def write_wav(path: Path, channels: list[Samples], rate: int, encoding: str = "pcm") -> None:
    """Write 16-bit PCM (or G.711) WAV; used by tests and by sites converting recordings."""
    stacked = np.stack(channels, axis=1).reshape(-1) if len(channels) > 1 else channels[0]
    ints = np.clip(np.round(stacked * 32768.0), -32768, 32767).astype("<i2")
    if encoding == "pcm":
        tag, bits, payload = PCM, 16, ints.tobytes()
    else:
        table = ULAW if encoding == "ulaw" else ALAW_TABLE
        order = np.argsort(table, kind="stable")
        ordered = table[order]
        idx = np.clip(np.searchsorted(ordered, stacked), 1, 255)
        nearer_left = np.abs(stacked - ordered[idx - 1]) <= np.abs(ordered[idx] - stacked)
        codes = order[np.where(nearer_left, idx - 1, idx)].astype(np.uint8)  # the nearest code value
        tag, bits, payload = (MULAW if encoding == "ulaw" else ALAW), 8, codes.tobytes()
    n = len(channels)
    fmt = struct.pack("<HHIIHH", tag, n, rate, rate * n * bits // 8, n * bits // 8, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(payload))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(payload)) + body + payload)
