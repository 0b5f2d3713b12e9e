"""A serial source as one line of configuration: ``port=/dev/ttyUSB0 protocol=modem baud=1200
framing=8N1 map=1:op1001,2:op1002`` (``[serial] sources``, one string per device)."""

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


def parse_spec(text: str) -> SourceSpec:
    """The spec, or ValueError naming what is wrong."""
    values: dict[str, str] = {}
    for part in text.split():
        key, sep, value = part.partition("=")
        if not sep or key not in KEYS:
            raise ValueError(f"{part!r}: expected key=value with a key of {', '.join(KEYS)}")
        values[key] = value
    if "port" not in values or "protocol" not in values:
        raise ValueError(f"{text!r}: port= and protocol= are required")
    if values["protocol"] not in PROTOCOLS:
        raise ValueError(f"protocol {values['protocol']!r}: expected one of {', '.join(PROTOCOLS)}")
    operators = {}
    for pair in filter(None, values.get("map", "").split(",")):
        ext, sep, op = pair.partition(":")
        if not sep or not ext or not op:
            raise ValueError(f"map {pair!r}: expected LINE:OPERATOR, e.g. 1:op1001")
        operators[ext] = op
    try:
        baud = int(values.get("baud", "9600"))
    except ValueError:
        raise ValueError(f"baud {values['baud']!r}: expected a number, e.g. 9600") from None
    from callmon.sources.serial_reader import framing

    framing(values.get("framing", "8N1"))
    return SourceSpec(values["port"], values["protocol"], baud, values.get("framing", "8N1"), operators)
