"""The grammar's typed shape and the node-level checks that give every error a line.

The schema is written in code (frozen dataclasses) rather than in a JSON-schema file so
that mypy checks the scorer's use of it, and so that each check can point at the YAML
node that broke it: ``file:line: what is wrong``, line 1-based, taken from PyYAML's
composed nodes (values, not the parsed dict, keep their marks).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any, NoReturn

import yaml

from callmon.compliance.cues import CueError, parse_cue

SCALAR_TYPES = {
    "tag:yaml.org,2002:str": "text",
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true/false",
    "tag:yaml.org,2002:null": "nothing (null)",
}


class GrammarError(ValueError):
    """A grammar file that cannot be used; the message is ``file:line: what is wrong``."""


@dataclass(frozen=True)
class Threshold:
    """Minimum similarity (0..1) on characters and on toneless pinyin for a phrase to count."""

    chars: float
    pinyin: float


@dataclass(frozen=True)
class Slot:
    """A ``{name}`` in the greeting: a fixed value, or a pattern the spoken text must fit."""

    name: str
    value: str | None
    pattern: str | None
    optional: bool


@dataclass(frozen=True)
class Greeting:
    templates: tuple[str, ...]
    slots: tuple[Slot, ...]
    within_seconds: float
    must_be_first: bool
    threshold: Threshold
    seed: str


@dataclass(frozen=True)
class Element:
    """One call element: how operators ask for it, and what a caller says when offering it unasked."""

    id: str
    name: str
    asks: tuple[str, ...]
    volunteered: tuple[str, ...]
    threshold: Threshold
    seed: str
    ask_cues: tuple[str, ...] = ()
    volunteered_cues: tuple[str, ...] = ()


@dataclass(frozen=True)
class Response:
    """One expected operator response; any of its phrases or cues keeps it."""

    name: str
    phrases: tuple[str, ...]
    cues: tuple[str, ...] = ()


@dataclass(frozen=True)
class Situation:
    """A rule owed only when the caller channel shows a trigger (and none of the exclusions)."""

    id: str
    name: str
    triggers: tuple[str, ...]
    not_triggers: tuple[str, ...]
    responses: tuple[Response, ...]
    repeat_within_minutes: int | None
    threshold: Threshold
    seed: str
    trigger_cues: tuple[str, ...] = ()
    not_trigger_cues: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProhibitedGroup:
    kind: str
    phrases: tuple[str, ...]
    veto: bool
    cues: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prohibited:
    groups: tuple[ProhibitedGroup, ...]
    threshold: Threshold
    seed: str


@dataclass(frozen=True)
class Rings:
    limit: int
    seed: str


@dataclass(frozen=True)
class CustomItem:
    """A site's own operator phrase (id ``custom.xxx``), scored like an element without caller cues."""

    id: str
    name: str
    phrases: tuple[str, ...]
    threshold: Threshold
    seed: str


@dataclass(frozen=True)
class ItemScore:
    id: str
    budget: int
    deduction: int


@dataclass(frozen=True)
class Veto:
    """A condition that fails the call outright (考核细则 "一票否决")."""

    id: str
    item: str
    when: str  # "found" (e.g. an abusive phrase said) or "missed" (an owed rule not kept)
    group: str | None
    reason: str


@dataclass(frozen=True)
class Scoring:
    total: int
    pass_mark: int
    items: tuple[ItemScore, ...]
    vetoes: tuple[Veto, ...]


ELEMENT_IDS = ("element.when", "element.where", "element.what", "element.who", "element.why",
               "element.objects", "element.outcome", "element.contact")
SITUATION_IDS = ("situation.calming", "situation.repeat_call", "situation.urgent_help", "situation.consultation",
                 "situation.rude_caller", "situation.harassment", "situation.complaint")
FIXED_IDS = ("greeting", *ELEMENT_IDS, *SITUATION_IDS, "prohibited", "rings")

@dataclass(frozen=True)
class Grammar:
    """One site's script and scoring, validated; ``items`` lists every item id in scoring order."""

    path: str
    schema: int
    site: str
    thresholds: Threshold
    greeting: Greeting
    elements: tuple[Element, ...]
    situations: tuple[Situation, ...]
    prohibited: Prohibited
    rings: Rings
    custom: tuple[CustomItem, ...]
    scoring: Scoring
    content_hash: str
    elements_waived_by: tuple[str, ...] = ()  # situations whose trigger means no element is owed
    dispatch_cues: tuple[str, ...] = ()  # operator words showing the call is a report (民警马上过去)

    @property
    def items(self) -> tuple[str, ...]:
        """Fixed ids first in the issue's order, then a site's own ids in file order."""
        extra = [e.id for e in self.elements if e.id not in ELEMENT_IDS]
        extra += [s.id for s in self.situations if s.id not in SITUATION_IDS]
        return (*FIXED_IDS, *extra, *(c.id for c in self.custom))

    def budget(self, item_id: str) -> ItemScore:
        return next(s for s in self.scoring.items if s.id == item_id)

    def element(self, item_id: str) -> Element:
        return next(e for e in self.elements if e.id == item_id)

    def situation(self, item_id: str) -> Situation:
        return next(s for s in self.situations if s.id == item_id)

    def greeting_texts(self) -> tuple[str, ...]:
        """The templates with ``{site}`` and fixed-value slots filled; pattern slots stay as ``{name}``."""
        values = {"site": self.site, **{s.name: s.value for s in self.greeting.slots if s.value is not None}}
        keep = {s.name: "{" + s.name + "}" for s in self.greeting.slots if s.value is None}
        return tuple(t.format(**values, **keep) for t in self.greeting.templates)



class Nodes:
    """Reads composed YAML nodes for one file, raising ``GrammarError`` at the node's line."""

    def __init__(self, file: str, loader: yaml.SafeLoader) -> None:
        self.file = file
        self.loader = loader

    def fail(self, node: yaml.Node, message: str) -> NoReturn:
        raise GrammarError(f"{self.file}:{node.start_mark.line + 1}: {message}")

    def kind(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        return SCALAR_TYPES.get(str(node.tag), str(node.tag))

    def mapping(self, node: yaml.Node, where: str, required: tuple[str, ...],
                optional: tuple[str, ...] | None = ()) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Keys to (key node, value node); unknown (unless ``optional`` is None), duplicate and missing
        keys are errors."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{where} must be a mapping, not {self.kind(node)}")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        allowed = required + (optional or ())
        for key_node, value_node in node.value:
            key = self.value(key_node)
            if not isinstance(key, str):
                hint = " (quote it: YAML reads on/off/yes/no as true/false)" if isinstance(key, bool) else ""
                self.fail(key_node, f"{where}: keys must be text, not {self.kind(key_node)}{hint}")
            if optional is not None and key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                self.fail(key_node, f"{where}: unknown key '{key}' ({hint}allowed: {', '.join(allowed)})")
            if key in out:
                self.fail(key_node, f"{where}: duplicate key '{key}'")
            out[key] = (key_node, value_node)
        for key in required:
            if key not in out:
                self.fail(node, f"{where}: missing required key '{key}'")
        return out

    def value(self, node: yaml.Node) -> Any:
        """The node's Python value; an unknown tag or a bad ``!!int`` is an error at its line."""
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self.fail(node, f"cannot read this value: {problem}")
        except RecursionError:
            self.fail(node, "cannot read this value: lists or mappings nested too deep")

    def text(self, node: yaml.Node, where: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            self.fail(node, f"{where} must be text, not {self.kind(node)}")
        value = str(self.value(node)).strip()
        if not value:
            self.fail(node, f"{where} must not be empty")
        return value

    def ident(self, node: yaml.Node, where: str, prefix: str) -> str:
        value = self.text(node, where)
        if not re.fullmatch(rf"{re.escape(prefix)}\.[a-z][a-z0-9_]*", value):
            self.fail(node, f"{where}: id '{value}' must look like '{prefix}.name' (lowercase letters, digits, _)")
        return value

    def number(self, node: yaml.Node, where: str, low: float, high: float | None = None) -> float:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in (
                "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            self.fail(node, f"{where} must be a number, not {self.kind(node)}")
        try:
            value = float(self.value(node))
        except OverflowError:  # an integer too large for a float: out of any range below
            value = math.inf
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            bound = f"{low:g}..{high:g}" if high is not None else f">= {low:g}"
            self.fail(node, f"{where} must be within {bound}, not {value:g}")
        return value

    def integer(self, node: yaml.Node, where: str, low: int, high: int | None = None) -> int:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:int":
            self.fail(node, f"{where} must be an integer, not {self.kind(node)}")
        return int(self.number(node, where, low, high))

    def boolean(self, node: yaml.Node, where: str) -> bool:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:bool":
            self.fail(node, f"{where} must be true or false, not {self.kind(node)}")
        return bool(self.value(node))

    def items(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, f"{where} must be a list, not {self.kind(node)}")
        if not node.value:
            self.fail(node, f"{where} must not be an empty list")
        return list(node.value)

    def phrases(self, node: yaml.Node, where: str) -> tuple[str, ...]:
        """A non-empty list of distinct, non-empty phrases."""
        out: list[str] = []
        for item in self.items(node, where):
            phrase = self.text(item, f"{where} entry")
            if phrase in out:
                self.fail(item, f"{where}: duplicate phrase '{phrase}'")
            out.append(phrase)
        return tuple(out)

    def cues(self, node: yaml.Node, where: str) -> tuple[str, ...]:
        """A non-empty list of distinct cues, each one usable (see ``callmon/compliance/cues.py``)."""
        out: list[str] = []
        for item in self.items(node, where):
            cue = self.text(item, f"{where} entry")
            if cue in out:
                self.fail(item, f"{where}: duplicate cue '{cue}'")
            try:
                parse_cue(cue)
            except CueError as exc:
                self.fail(item, f"{where}: cue '{cue}': {exc}")
            out.append(cue)
        return tuple(out)

    def threshold(self, node: yaml.Node | None, where: str, default: Threshold) -> Threshold:
        if node is None:
            return default
        keys = self.mapping(node, where, (), ("chars", "pinyin"))
        chars = self.number(keys["chars"][1], f"{where}.chars", 0, 1) if "chars" in keys else default.chars
        pinyin = self.number(keys["pinyin"][1], f"{where}.pinyin", 0, 1) if "pinyin" in keys else default.pinyin
        return Threshold(chars, pinyin)
