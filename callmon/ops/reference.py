"""The configuration reference in docs/operations.md, generated so it cannot drift from the code.

Keys, defaults and environment variables come from the config object; what each key means comes
from the comments of ``systemd/callmon.toml.example`` (a test checks every key is there).
``callmon config --reference`` prints it; a test compares it with the document.
"""

from __future__ import annotations

import json
import re
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from callmon.config import Config, Secret

EXAMPLE = Path(__file__).resolve().parents[2] / "systemd" / "callmon.toml.example"
BEGIN, END = "<!-- config-reference: begin (callmon config --reference) -->", "<!-- config-reference: end -->"


def _comments(text: str) -> dict[tuple[str, str], str]:
    """(section, key) -> the comment after the key's line in the example file."""
    out: dict[tuple[str, str], str] = {}
    section = ""
    for line in text.splitlines():
        head = re.match(r"^\[(\w+)\]", line)
        if head:
            section = head.group(1)
            continue
        key = re.match(r"^(?:#\s*)?(\w+)\s*=\s*(?:\"(?:[^\"\\]|\\.)*\"|[^#])*#\s*(.*)$", line)
        if key and (section, key.group(1)) not in out:
            out[(section, key.group(1))] = key.group(2).strip()
    return out


def _default(f: Any) -> str:
    value = f.default if f.default is not MISSING else f.default_factory()
    if isinstance(value, Secret):
        return '""'
    return json.dumps(value, ensure_ascii=False)


def reference(example: Path = EXAMPLE) -> str:
    comments = _comments(example.read_text(encoding="utf-8") if example.exists() else "")
    lines = [BEGIN, "", "| key | default | environment | meaning |", "|---|---|---|---|"]
    for section, obj in Config().sections().items():
        for f in fields(obj):
            env = f"CALLMON_{section.upper()}_{f.name.upper()}"
            meaning = comments.get((section, f.name), "").replace("|", "\\|")
            lines.append(f"| `[{section}] {f.name}` | `{_default(f)}` | `{env}` | {meaning} |")
    lines += ["", END]
    return "\n".join(lines)
