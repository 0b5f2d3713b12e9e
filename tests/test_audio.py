"""Reading telephone WAV files: PCM, G.711 µ-law / A-law, stereo, resampling, malformed files.

The files in tests/fixtures/audio are made by scripts/make_test_audio.py from the first
12 s of one real call's channel recordings (tests/fixtures/asterisk/recordings).
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from callmon.speech import audio
from callmon.speech.audio import ALAW_TABLE, ULAW, Audio, AudioError, parse_wav, read_wav, resample, write_wav

ROOT = Path(__file__).resolve().parent.parent
AUDIO = ROOT / "tests" / "fixtures" / "audio"
CALL = ROOT / "tests" / "fixtures" / "asterisk" / "recordings" / "110-20261122-142935-13951000002-op1001-1795357773.0"
CROP = 12 * 8000


def _ints(samples: np.ndarray) -> np.ndarray:
    """Float samples back to the 16-bit values they came from."""
    return np.round(samples.astype(np.float64) * 32768.0).astype(np.int64)


def _one(name: str) -> Audio:
    return read_wav(AUDIO / name)


@pytest.fixture(scope="module")
def operator() -> np.ndarray:
    return _one("call-operator-pcm8k.wav").channels[0]


@pytest.fixture(scope="module")
def caller() -> np.ndarray:
    return _one("call-caller-pcm8k.wav").channels[0]


# -- G.711 tables -------------------------------------------------------------------


def _sun_ulaw2linear(code: int) -> int:
    """g711.c (Sun Microsystems, public domain), one code at a time."""
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def _sun_alaw2linear(code: int) -> int:
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = t + 8 if seg == 0 else (t + 0x108) << max(seg - 1, 0)
    return t if a & 0x80 else -t


@pytest.mark.parametrize(("code", "value"), [(0x00, -32124), (0x80, 32124), (0xFF, 0), (0x7F, 0),
                                             (0x7E, -8), (0xFE, 8), (0x0F, -16764), (0x70, -120)])
def test_ulaw_code_points(code: int, value: int) -> None:
    assert round(float(ULAW[code]) * 32768) == value


@pytest.mark.parametrize(("code", "value"), [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256),
                                             (0xD4, 24), (0xC5, 264), (0x80, 5504)])
def test_alaw_code_points(code: int, value: int) -> None:
    assert round(float(ALAW_TABLE[code]) * 32768) == value


def test_tables_match_the_reference_decoder() -> None:
    assert [round(float(v) * 32768) for v in ULAW] == [_sun_ulaw2linear(c) for c in range(256)]
    assert [round(float(v) * 32768) for v in ALAW_TABLE] == [_sun_alaw2linear(c) for c in range(256)]
    assert ULAW.dtype == ALAW_TABLE.dtype == np.float32


# -- the converted fixture files ------------------------------------------------------


def test_pcm_fixture_is_the_real_recording(operator: np.ndarray, caller: np.ndarray) -> None:
    for role, samples in (("operator", operator), ("caller", caller)):
        source = read_wav(Path(f"{CALL}-{role}.wav"))
        assert (source.rate, len(source.channels), source.encoding) == (8000, 1, "pcm")
        np.testing.assert_array_equal(samples, source.channels[0][:CROP])
    assert np.abs(operator).max() > 0.5  # speech, not silence


def _codec_tolerance(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Largest error of a nearest-code G.711 encoder at each value: half the gap between
    the two codes around it (outside the table's range: the distance to its end)."""
    levels = np.unique(np.round(table.astype(np.float64) * 32768).astype(np.int64))
    idx = np.clip(np.searchsorted(levels, values), 1, len(levels) - 1)
    half_gap = (levels[idx] - levels[idx - 1]) / 2
    beyond = np.maximum(values - levels[-1], levels[0] - values)
    tolerance: np.ndarray = np.maximum(half_gap, beyond) + 0.5
    return tolerance


@pytest.mark.parametrize(("name", "encoding", "table", "min_snr_db"),
                         [("call-operator-ulaw8k.wav", "ulaw", ULAW, 35.0),
                          ("call-operator-alaw8k.wav", "alaw", ALAW_TABLE, 35.0)])
def test_g711_matches_pcm_within_the_codec_step(operator: np.ndarray, name: str, encoding: str,
                                                table: np.ndarray, min_snr_db: float) -> None:
    decoded = _one(name)
    assert (decoded.rate, len(decoded.channels), decoded.encoding) == (8000, 1, encoding)
    assert len(decoded.channels[0]) == len(operator) == CROP
    got, want = _ints(decoded.channels[0]), _ints(operator)
    error = np.abs(got - want)
    tolerance = _codec_tolerance(table, want)
    assert (error <= tolerance).all(), f"{int((error > tolerance).sum())} samples outside the codec step"
    # and every decoded value is a G.711 level
    assert np.isin(got, np.round(table.astype(np.float64) * 32768)).all()
    snr = 10 * np.log10(np.sum(want.astype(np.float64) ** 2) / np.sum((got - want).astype(np.float64) ** 2))
    assert snr > min_snr_db


def test_pcm_16k_file(operator: np.ndarray) -> None:
    decoded = _one("call-operator-pcm16k.wav")
    assert (decoded.rate, len(decoded.channels), decoded.encoding) == (16000, 1, "pcm")
    assert decoded.seconds == pytest.approx(12.0)
    expected = resample(operator, 8000, 16000)
    assert len(decoded.channels[0]) == len(expected) == 2 * CROP
    # only 16-bit quantisation between them
    assert np.abs(decoded.channels[0] - expected).max() <= 0.5 / 32768 + 1e-7


def test_stereo_channels_are_the_two_mono_files(operator: np.ndarray, caller: np.ndarray) -> None:
    decoded = _one("call-stereo-pcm8k.wav")
    assert (decoded.rate, len(decoded.channels), decoded.encoding) == (8000, 2, "pcm")
    np.testing.assert_array_equal(decoded.channels[0], operator)
    np.testing.assert_array_equal(decoded.channels[1], caller)
    assert all(ch.flags["C_CONTIGUOUS"] and ch.dtype == np.float32 for ch in decoded.channels)
    assert not np.array_equal(operator, caller)


def test_silence() -> None:
    decoded = _one("silence-5s-pcm8k.wav")
    assert (decoded.rate, len(decoded.channels), decoded.seconds) == (8000, 1, 5.0)
    assert not decoded.channels[0].any()


def test_white_noise_at_minus_30_dbfs() -> None:
    decoded = _one("noise-30dbfs-5s-pcm8k.wav")
    assert (decoded.rate, decoded.seconds) == (8000, 5.0)
    samples = decoded.channels[0].astype(np.float64)
    rms_db = 20 * np.log10(np.sqrt(np.mean(samples**2)))
    assert rms_db == pytest.approx(-30.0, abs=0.05)
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    low, high = spectrum[1:len(spectrum) // 2].mean(), spectrum[len(spectrum) // 2:].mean()
    assert 0.8 < low / high < 1.25  # white: as much energy above 2 kHz as below


def test_generator_reproduces_the_fixtures(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_test_audio.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in AUDIO.glob("*.wav"))
    for name in made:
        assert (tmp_path / name).read_bytes() == (AUDIO / name).read_bytes(), name
    assert sum((AUDIO / n).stat().st_size for n in made) < 3_000_000


# -- resampling -----------------------------------------------------------------------


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


def test_resample_keeps_a_1khz_tone() -> None:
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    up = resample(tone, 8000, 16000)
    assert up.dtype == np.float32 and len(up) == 16000
    assert _peak_hz(up, 16000) == 1000.0
    middle = up[1000:-1000]
    assert np.sqrt(2 * np.mean(middle.astype(np.float64) ** 2)) == pytest.approx(0.5, abs=0.005)
    # the 7 kHz image of upsampling is filtered out
    spectrum = np.abs(np.fft.rfft(up * np.hanning(len(up))))
    freqs = np.fft.rfftfreq(len(up), 1 / 16000)
    assert spectrum[np.abs(freqs - 7000) < 50].max() < spectrum.max() * 1e-3
    down = resample(up, 16000, 8000)
    assert len(down) == 8000 and _peak_hz(down, 8000) == 1000.0
    assert np.abs(down[200:-200] - tone[200:-200]).max() < 1e-3


@pytest.mark.parametrize("n", [1, 2, 3, 101, 8001])
def test_resample_lengths(n: int) -> None:
    samples = np.zeros(n, dtype=np.float32)
    assert len(resample(samples, 8000, 16000)) == 2 * n
    assert len(resample(samples, 8000, 8000)) == n
    assert len(resample(np.zeros(0, dtype=np.float32), 8000, 16000)) == 0


# -- malformed files --------------------------------------------------------------------

BAD = [
    "bad-empty.wav",
    "bad-not-riff.wav",
    "bad-format-tag.wav",
    "bad-zero-channels.wav",
    "bad-mp3-like.wav",
]


@pytest.mark.parametrize("name", ["bad-truncated.wav", "bad-huge-data-size.wav"])
def test_a_header_claiming_more_than_the_file_holds_is_read_and_noted(name: str) -> None:
    """MixMonitor writes the sizes at close: a file still being written (or cut off) keeps its audio, noted."""
    path = AUDIO / name
    decoded = read_wav(path)
    assert decoded.seconds > 0
    assert decoded.note is not None and decoded.note.startswith(f"{path}: byte ")
    assert "truncated or still being written" in decoded.note


@pytest.mark.parametrize("name", BAD)
def test_malformed_file_raises_audio_error(name: str) -> None:
    path = AUDIO / name
    try:
        decoded = read_wav(path)
    except AudioError as exc:
        message = str(exc)
    else:
        raise AssertionError(f"{name} was read as {decoded.seconds:.3f} s of {decoded.encoding}, not refused")
    assert message.startswith(f"{path}: byte "), message
    assert re.match(re.escape(str(path)) + r": byte \d+: ", message), message
    assert "expected" in message, message


@pytest.mark.parametrize(("name", "offset"), [("bad-empty.wav", 0), ("bad-not-riff.wav", 0),
                                              ("bad-mp3-like.wav", 0), ("bad-format-tag.wav", 20),
                                              ("bad-zero-channels.wav", 22)])
def test_malformed_file_names_the_right_byte(name: str, offset: int) -> None:
    with pytest.raises(AudioError, match=rf": byte {offset}: "):
        read_wav(AUDIO / name)


def test_unreadable_path_raises_audio_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.wav"
    with pytest.raises(AudioError, match=rf"^{re.escape(str(missing))}: "):
        read_wav(missing)
    with pytest.raises(AudioError, match=rf"^{re.escape(str(tmp_path))}: "):
        read_wav(tmp_path)  # a directory


def _fmt(tag: int, channels: int = 1, rate: int = 8000, bits: int = 16, size: int = 16, extra: bytes = b"") -> bytes:
    block = channels * bits // 8
    body = struct.pack("<HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits) + extra
    return b"RIFF" + struct.pack("<I", 4 + 8 + len(body)) + b"WAVE" + b"fmt " + struct.pack("<I", size) + body


def test_extensible_fmt_cut_short() -> None:
    data = _fmt(audio.EXTENSIBLE, size=40)  # claims 40 bytes, the file ends after 16
    with pytest.raises(AudioError, match=r"^cut\.wav: byte \d+: .*expected"):
        parse_wav(data, "cut.wav")


def test_float_samples_are_finite() -> None:
    payload = np.array([np.nan, np.inf, -np.inf, 0.25], dtype="<f4").tobytes()
    data = _fmt(audio.IEEE_FLOAT, bits=32) + b"data" + struct.pack("<I", len(payload)) + payload
    decoded = parse_wav(data, "nan.wav")
    assert np.isfinite(decoded.channels[0]).all()


def test_g711_encoding_memory_is_linear_and_small(tmp_path: Path) -> None:
    samples = (np.random.default_rng(1).standard_normal(16000) * 0.1).astype(np.float32)  # 2 s
    tracemalloc.start()
    try:
        write_wav(tmp_path / "x.wav", [samples], 8000, "ulaw")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, f"peak {peak / 1e6:.1f} MB to encode 2 s"


def test_well_formed_edge_cases() -> None:
    with pytest.raises(AudioError, match=r"^e.wav: byte \d+: the 'data' chunk holds no audio"):
        parse_wav(_fmt(audio.PCM) + b"data" + struct.pack("<I", 0), "e.wav")
    pcm8 = parse_wav(_fmt(audio.PCM, bits=8) + b"data" + struct.pack("<I", 3) + bytes([0, 128, 255]), "u8.wav")
    np.testing.assert_allclose(pcm8.channels[0], [-1.0, 0.0, 127 / 128])
    pcm24 = parse_wav(_fmt(audio.PCM, bits=24) + b"data" + struct.pack("<I", 6) + b"\x00\x00\x80\xff\xff\x7f",
                      "s24.wav")
    np.testing.assert_allclose(pcm24.channels[0], [-1.0, 8388607 / 8388608])
    with pytest.raises(AudioError, match=r"^x\.wav: byte 36: "):
        parse_wav(_fmt(audio.PCM), "x.wav")  # no 'data' chunk



@pytest.mark.parametrize(("channels", "size"), [(1, 1), (2, 3)])
def test_a_data_chunk_shorter_than_one_sample_frame_holds_no_audio(channels: int, size: int) -> None:
    """Found by tests/faults: it decoded to zero samples, which the worker would have stored as "no speech"."""
    data = _fmt(audio.PCM, channels=channels) + b"data" + struct.pack("<I", size) + b"\x01" * size
    with pytest.raises(AudioError, match=r"^s\.wav: byte 44: the 'data' chunk holds no audio"):
        parse_wav(data, "s.wav")

# -- property tests ---------------------------------------------------------------------

REAL_HEADERS = [(AUDIO / n).read_bytes()[:44 + 400] for n in
                ("call-operator-pcm8k.wav", "call-operator-ulaw8k.wav", "call-stereo-pcm8k.wav",
                 "call-operator-alaw8k.wav", "call-operator-pcm16k.wav")]


def _parses_or_refuses(data: bytes) -> None:
    try:
        decoded = parse_wav(data, "p.wav")
    except AudioError as exc:
        assert str(exc).startswith("p.wav: "), str(exc)
        return
    assert isinstance(decoded, Audio)
    assert decoded.rate > 0 and 1 <= len(decoded.channels) <= 2
    assert len({len(ch) for ch in decoded.channels}) == 1
    assert all(ch.dtype == np.float32 for ch in decoded.channels)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    _parses_or_refuses(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_bytes_after_a_riff_header(tail: bytes) -> None:
    _parses_or_refuses(b"RIFF" + struct.pack("<I", len(tail) + 4) + b"WAVE" + tail)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL_HEADERS),
       st.lists(st.tuples(st.integers(0, 43), st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(0, 44 + 400))
def test_corrupted_real_headers(original: bytes, changes: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(original)
    for offset, value in changes:
        data[offset] = value
    _parses_or_refuses(bytes(data))
    _parses_or_refuses(bytes(data[:cut]))


@settings(max_examples=500, deadline=None)
@given(tag=st.sampled_from([audio.PCM, audio.IEEE_FLOAT, audio.ALAW, audio.MULAW, audio.EXTENSIBLE, 2, 0, 0x55]),
       channels=st.integers(0, 3), rate=st.sampled_from([0, 3999, 8000, 16000, 48000, 48001, 0xFFFFFFFF]),
       bits=st.sampled_from([0, 4, 8, 12, 16, 24, 32, 64]), fmt_size=st.sampled_from([0, 14, 16, 18, 40, 0xFFFFFFF0]),
       extra=st.binary(max_size=30), data_size=st.sampled_from([0, 1, 3, 7, 100, 0xFFFFFFF0]),
       payload=st.binary(max_size=64), cut=st.integers(0, 90))
@example(tag=audio.PCM, channels=1, rate=8000, bits=16, fmt_size=16, extra=b"", data_size=7, payload=b"\x01" * 7,
         cut=200)
def test_structured_headers(tag: int, channels: int, rate: int, bits: int, fmt_size: int, extra: bytes,
                            data_size: int, payload: bytes, cut: int) -> None:
    data = (_fmt(tag, channels, rate & 0xFFFFFFFF, bits, fmt_size, extra)
            + b"data" + struct.pack("<I", data_size) + payload)[:cut]
    _parses_or_refuses(data)
