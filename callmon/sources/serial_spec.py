"""A serial source as one line of configuration: ``port=/dev/ttyUSB0 protocol=modem baud=1200
framing=8N1 map=1:op1001,2:op1002`` (``[serial] sources``, one string per device); and the PBX
record formats a site adds, as JSON objects ``{"name": …, "regex": …, "date_format": …}``
(``[serial] patterns``), usable as a protocol by name."""

from __future__ import annotations

from dataclasses import dataclass, field

from callmon.sources.serial_lines import PROTOCOLS

KEYS = ("port", "protocol", "baud", "framing", "map")


@dataclass
class SourceSpec:
    port: str
    protocol: str
    baud: int = 9600
    framing: str = "8N1"
    operators: dict[str, str] = field(default_factory=dict)


def parse_map(pairs: list[str], sep: str) -> dict[str, str]:
    """``1001=op1001`` (``--map``) or ``1:op1001`` (a spec's ``map=``) pairs -> line or extension -> operator."""
    out = {}
    for pair in pairs:
        key, found, value = pair.partition(sep)
        if not found or not key.strip() or not value.strip():
            raise ValueError(f"map {pair!r}: expected EXTENSION{sep}OPERATOR, e.g. 1001{sep}op1001")
        out[key.strip()] = value.strip()
    return out


def parse_patterns(texts: list[str]) -> dict[str, tuple[str, str]]:
    """``[serial] patterns`` -> {name: (regex, date_format)}, or ValueError naming what is wrong."""
    import json
    import re

    out: dict[str, tuple[str, str]] = {}
    for k, text in enumerate(texts, start=1):
        try:
            pattern = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"pattern {k}: expected a JSON object, {exc}") from None
        if not isinstance(pattern, dict) or not all(isinstance(pattern.get(f), str) and pattern.get(f)
                                                    for f in ("name", "regex", "date_format")):
            raise ValueError(f"pattern {k}: expected name, regex and date_format strings")
        if pattern["name"] in PROTOCOLS:
            raise ValueError(f"pattern {k}: {pattern['name']!r} is a built-in protocol's name")
        try:
            groups = re.compile(pattern["regex"]).groupindex
        except re.error as exc:
            raise ValueError(f"pattern {k} ({pattern['name']}): invalid regular expression: {exc}") from None
        if "start" not in groups:
            raise ValueError(f"pattern {k} ({pattern['name']}): the regex needs a (?P<start>...) group")
        out[pattern["name"]] = (pattern["regex"], pattern["date_format"])
    return out


def parse_spec(text: str, custom: tuple[str, ...] = ()) -> SourceSpec:
    """The spec, or ValueError naming what is wrong (``custom``: the configured pattern names)."""
    values: dict[str, str] = {}
    for part in text.split():
        key, sep, value = part.partition("=")
        if not sep or key not in KEYS:
            raise ValueError(f"{part!r}: expected key=value with a key of {', '.join(KEYS)}")
        values[key] = value
    if "port" not in values or "protocol" not in values:
        raise ValueError(f"{text!r}: port= and protocol= are required")
    if values["protocol"] not in PROTOCOLS + custom:
        raise ValueError(f"protocol {values['protocol']!r}: expected one of {', '.join(PROTOCOLS + custom)}")
    operators = parse_map([p for p in values.get("map", "").split(",") if p], ":")
    try:
        baud = int(values.get("baud", "9600"))
    except ValueError:
        raise ValueError(f"baud {values['baud']!r}: expected a number, e.g. 9600") from None
    from callmon.sources.serial_reader import framing

    framing(values.get("framing", "8N1"))
    return SourceSpec(values["port"], values["protocol"], baud, values.get("framing", "8N1"), operators)
