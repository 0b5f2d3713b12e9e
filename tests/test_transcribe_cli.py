"""``callmon transcribe`` and ``callmon models`` from the command line: keys, messages, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callmon.cli import build_parser
from callmon.config import Config
from callmon.speech.audio import read_wav, write_wav
from callmon.speech.transcribe import transcribe_file
from callmon.speech.types import Recognizer
from tests.conftest import ASTERISK
from tests.test_engines import recorded_calls, scripted, speech_models

TOP_KEYS = ["file", "engine", "model", "utterances"]
UTTERANCE_KEYS = ["channel", "start", "end", "text", "raw_text", "confidence", "words"]
WORD_KEYS = ["text", "start", "end", "confidence"]
BASE07 = next(b for c, _, b in recorded_calls() if c == "ring07-noncompliant")
OPERATOR07 = ASTERISK / "recordings" / f"{BASE07}-operator.wav"


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speech_models(tmp_path_factory)


def run(argv: list[str], capsys: pytest.CaptureFixture[str], cfg: Any = None) -> tuple[int, str, str]:
    args = build_parser().parse_args(argv)
    code = args.func(cfg if cfg is not None else Config(), args)
    out, err = capsys.readouterr()
    return code, out, err


def check_shape(result: dict[str, Any]) -> None:
    assert list(result) == TOP_KEYS
    for u in result["utterances"]:
        assert list(u) == UTTERANCE_KEYS
        assert all(list(w) == WORD_KEYS for w in u["words"])


def test_transcribe_json_has_exactly_the_documented_keys(models_root: Path, capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\0\0\0\0WAVEjunk")
    code, out, err = run(["transcribe", "--json", "--models-dir", str(models_root), str(bad), str(OPERATOR07)],
                         capsys)
    assert code == 1  # one file failed, the other was still transcribed
    assert "using whisper-base (default: best Mandarin model installed)" in err
    assert f"{bad}: byte 12" in err and "1 of 2 file(s) could not be read" in err
    lines = out.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    check_shape(result)
    assert result["file"] == str(OPERATOR07) and (result["engine"], result["model"]) == ("whisper", "whisper-base")
    assert [u["channel"] for u in result["utterances"]] == ["operator", "operator"]


def test_transcribe_listing_and_settings(models_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = Config()
    cfg.speech.engine, cfg.speech.model, cfg.speech.models_dir = "vosk", "vosk-ko", str(models_root)
    code, out, err = run(["transcribe", "--channel", "caller", str(OPERATOR07)], capsys, cfg)
    assert code == 0 and "using vosk-ko (config speech.model)" in err
    assert out.startswith(f"{OPERATOR07}  (vosk vosk-ko)\n") and "caller" in out
    code, out, err = run(["transcribe", "--model", "whisper-base", "--models-dir", str(models_root),
                          str(OPERATOR07)], capsys, cfg)  # the flags win over the config
    assert code == 0 and "using whisper-base (--model)" in err
    assert "知道了等着吧" in out and "operator" in out


def test_a_missing_model_is_a_configuration_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["transcribe", "--models-dir", str(tmp_path), str(OPERATOR07)], capsys)
    assert code == 2 and out == ""
    assert "`callmon models install whisper-base`" in err
    code, _, err = run(["transcribe", "--model", "whisper-large-v3", "--models-dir", str(tmp_path),
                        str(OPERATOR07)], capsys)
    assert code == 2 and "`callmon models install whisper-large-v3`" in err and "--from PATH" in err


def test_stereo_files_carry_both_sides(models_root: Path, tmp_path: Path) -> None:
    from callmon.speech.transcribe import load_recognizer

    whisper: Recognizer = load_recognizer("whisper", "whisper-base", models_root)
    operator, caller = (read_wav(ASTERISK / "recordings" / f"{BASE07}-{side}.wav").channels[0]
                        for side in ("operator", "caller"))
    stereo = tmp_path / "stereo.wav"
    write_wav(stereo, [operator, caller], 8000)
    result = transcribe_file(stereo, whisper)
    starts = [u["start"] for u in result["utterances"]]
    assert starts == sorted(starts)
    expected = sorted((u["start_s"], u["speaker"]) for u in scripted("noncompliant", "operator")
                      + scripted("noncompliant", "caller"))
    assert [u["channel"] for u in result["utterances"]] == [speaker for _, speaker in expected]
    assert all(abs(u["start"] - s) < 1.0 for u, (s, _) in zip(result["utterances"], expected, strict=True))
    swapped = transcribe_file(stereo, whisper, stereo_left="caller")
    flip = {"operator": "caller", "caller": "operator"}
    assert [u["channel"] for u in swapped["utterances"]] == [flip[c] for _, c in expected]
    assert [u["text"] for u in swapped["utterances"]] == [u["text"] for u in result["utterances"]]


def test_models_list_and_install_from_a_directory(models_root: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "site"
    code, out, _ = run(["models", "list", "--json", "--models-dir", str(root)], capsys)
    listed = json.loads(out)
    assert code == 0 and listed["models_dir"] == str(root)
    assert not any(m["installed"] or m["default"] for m in listed["models"])
    code, out, err = run(["models", "install", "whisper-base", "--from", str(models_root / "whisper-base"),
                          "--models-dir", str(root)], capsys)
    assert code == 0 and out.strip() == f"installed whisper-base in {root / 'whisper-base'}"
    code, out, _ = run(["models", "list", "--models-dir", str(root)], capsys)
    assert code == 0
    row = next(line for line in out.splitlines() if line.split()[:1] == ["whisper-base"])
    assert row.split()[:5] == ["whisper-base", "whisper", "zh", "yes", "148"] and row.endswith("<- default")
    code, _, err = run(["models", "install", "vosk-cn", "--from", str(models_root / "whisper-base"),
                        "--models-dir", str(root)], capsys)
    assert code == 1 and "not a vosk model: missing am/final.mdl, conf, graph" in err


def test_python_m_callmon_transcribe_json(models_root: Path, tmp_path: Path) -> None:
    silence = tmp_path / "silence.wav"
    write_wav(silence, [np.zeros(8000 * 3, dtype=np.float32)], 8000)
    env = {**os.environ, "CALLMON_MODELS_DIR": str(models_root), "CALLMON_CONFIG": ""}
    done = subprocess.run([sys.executable, "-m", "callmon", "transcribe", "--json", str(OPERATOR07), str(silence)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert "using whisper-base (default: best Mandarin model installed)" in done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    for result in results:
        check_shape(result)
    assert [len(r["utterances"]) for r in results] == [2, 0]
