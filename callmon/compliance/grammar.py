"""Load and validate a site grammar (``grammars/*.yaml``): every phrase and weight lives there.

``load_grammar(path)`` returns a typed ``Grammar`` or raises ``GrammarError`` whose message
is ``file:line: what is wrong``; a bad file never ends in a traceback. Each score stores
``Grammar.content_hash`` so a result can be reproduced and re-scored after an edit.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import asdict, replace
from pathlib import Path

import yaml

from callmon.compliance.grammar_schema import (
    ELEMENT_IDS,
    FIXED_IDS,
    SITUATION_IDS,
    CustomItem,
    Element,
    Grammar,
    GrammarError,
    Greeting,
    ItemScore,
    Nodes,
    Prohibited,
    ProhibitedGroup,
    Response,
    Rings,
    Scoring,
    Situation,
    Slot,
    Threshold,
    Veto,
)

__all__ = ["ELEMENT_IDS", "FIXED_IDS", "SITUATION_IDS", "Grammar", "GrammarError", "content_hash", "load_grammar",
           "parse_grammar"]

SCHEMA_VERSION = 1
TOP = ("schema", "site", "greeting", "elements", "situations", "prohibited", "rings", "scoring")
OPTIONAL_TOP = ("thresholds", "custom", "elements_waived_by", "dispatch_cues")


def load_grammar(path: str | Path) -> Grammar:
    """Read, validate and hash one grammar file."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise GrammarError(f"{name}:1: cannot read: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise GrammarError(f"{name}:{line}: cannot read: not UTF-8 text, byte 0x{data[exc.start]:02x} "
                           f"at offset {exc.start} (save the file as UTF-8)") from None
    return parse_grammar(text, name)


def parse_grammar(text: str, name: str = "<grammar>") -> Grammar:
    """Validate grammar text; ``name`` is the file name used in error messages."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
    except yaml.reader.ReaderError as exc:  # a control character: position is a character offset
        line = text[:exc.position].count("\n") + 1
        raise GrammarError(f"{name}:{line}: invalid YAML: character #x{exc.character:04x} is not allowed") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        where = ""
        if exc.context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
            where = f" ({exc.context}, which began at line {exc.context_mark.line + 1})"
        raise GrammarError(f"{name}:{line}: invalid YAML: {exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise GrammarError(f"{name}:1: invalid YAML: {exc}") from None
    except RecursionError:  # PyYAML composes nested lists and mappings recursively
        line = loader.get_mark().line + 1 if loader is not None else 1
        raise GrammarError(f"{name}:{line}: invalid YAML: lists or mappings nested too deep") from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        raise GrammarError(f"{name}:1: the file is empty")
    assert loader is not None
    return _build(Nodes(name, loader), root)


def _build(n: Nodes, root: yaml.Node) -> Grammar:
    top = n.mapping(root, "grammar", TOP, OPTIONAL_TOP)
    version = n.integer(top["schema"][1], "schema", 1)
    if version != SCHEMA_VERSION:
        n.fail(top["schema"][1], f"schema must be {SCHEMA_VERSION}, not {version}")
    site = n.text(top["site"][1], "site")
    default = n.threshold(top.get("thresholds", (None, None))[1], "thresholds", Threshold(0.8, 0.85))
    greeting = _greeting(n, top["greeting"][1], default)
    elements = tuple(_element(n, node, default) for node in n.items(top["elements"][1], "elements"))
    situations = tuple(_situation(n, node, default) for node in n.items(top["situations"][1], "situations"))
    prohibited = _prohibited(n, top["prohibited"][1], default)
    rings_keys = n.mapping(top["rings"][1], "rings", ("limit",), ("seed",))
    rings = Rings(n.integer(rings_keys["limit"][1], "rings.limit", 1), _seed(n, rings_keys, "rings"))
    custom = tuple(_custom(n, node, default) for node in n.items(top["custom"][1], "custom")) \
        if "custom" in top else ()
    _check_ids(n, top, elements, situations, custom)
    waived_by = _waived_by(n, top, situations)
    draft = Grammar(n.file, version, site, default, greeting, elements, situations, prohibited, rings, custom,
                    Scoring(0, 0, (), ()), "", waived_by, _optional(n, top, "dispatch_cues", "grammar", cues=True))
    scoring = _scoring(n, top["scoring"][1], list(draft.items), prohibited)
    grammar = replace(draft, scoring=scoring)
    return replace(grammar, content_hash=content_hash(grammar))


def content_hash(grammar: Grammar) -> str:
    """sha256 of the validated grammar dumped as sorted, compact JSON (path and hash left out).

    Hashing the validated data, not the bytes, means comments, whitespace, key order and
    quoting do not change it, while any phrase, threshold or weight does (defaults included).
    """
    data = asdict(grammar)
    data.pop("path")
    data.pop("content_hash")
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _seed(n: Nodes, keys: dict[str, tuple[yaml.Node, yaml.Node]], where: str) -> str:
    return n.text(keys["seed"][1], f"{where}.seed") if "seed" in keys else ""


def _greeting(n: Nodes, node: yaml.Node, default: Threshold) -> Greeting:
    keys = n.mapping(node, "greeting", ("templates", "within_seconds"),
                     ("must_be_first", "slots", "threshold", "seed"))
    slots: list[Slot] = []
    if "slots" in keys:
        slot_map = n.mapping(keys["slots"][1], "greeting.slots", (), None)
        for slot_name, (key_node, value_node) in slot_map.items():
            if slot_name == "site":
                n.fail(key_node, "greeting.slots: 'site' is filled from the top-level site and cannot be redefined")
            if not re.fullmatch(r"[a-z][a-z0-9_]*", slot_name):
                n.fail(key_node, f"greeting.slots: slot name '{slot_name}' must be lowercase letters, digits, _")
            where = f"greeting.slots.{slot_name}"
            spec = n.mapping(value_node, where, (), ("value", "pattern", "optional"))
            value = n.text(spec["value"][1], f"{where}.value") if "value" in spec else None
            pattern = n.text(spec["pattern"][1], f"{where}.pattern") if "pattern" in spec else None
            if (value is None) == (pattern is None):
                n.fail(value_node, f"{where}: give exactly one of 'value' or 'pattern'")
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    n.fail(spec["pattern"][1], f"{where}.pattern is not a valid regular expression: {exc}")
            optional = n.boolean(spec["optional"][1], f"{where}.optional") if "optional" in spec else False
            slots.append(Slot(slot_name, value, pattern, optional))
    defined = {"site", *(s.name for s in slots)}
    templates = n.phrases(keys["templates"][1], "greeting.templates")
    for tnode, template in zip(keys["templates"][1].value, templates, strict=True):
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            n.fail(tnode, f"greeting.templates: bad template '{template}': {exc}")
        for slot_name in names:
            if slot_name not in defined:
                n.fail(tnode, f"greeting.templates: slot '{{{slot_name}}}' in '{template}' is not defined "
                              f"(defined: {', '.join(sorted(defined))})")
        try:  # what Grammar.greeting_texts does with it: a conversion or format spec ({site!x}, {site:d}) fails here
            template.format(**dict.fromkeys(defined, ""))
        except (ValueError, IndexError, KeyError, AttributeError) as exc:
            n.fail(tnode, f"greeting.templates: bad template '{template}': {exc}")
    within = n.number(keys["within_seconds"][1], "greeting.within_seconds", 0.5, 60)
    first = n.boolean(keys["must_be_first"][1], "greeting.must_be_first") if "must_be_first" in keys else True
    threshold = n.threshold(keys.get("threshold", (None, None))[1], "greeting.threshold", default)
    return Greeting(templates, tuple(slots), within, first, threshold, _seed(n, keys, "greeting"))


def _optional(n: Nodes, keys: dict[str, tuple[yaml.Node, yaml.Node]], key: str, where: str,
              cues: bool = False) -> tuple[str, ...]:
    if key not in keys:
        return ()
    return n.cues(keys[key][1], f"{where}.{key}") if cues else n.phrases(keys[key][1], f"{where}.{key}")


def _element(n: Nodes, node: yaml.Node, default: Threshold) -> Element:
    keys = n.mapping(node, "elements entry", ("id", "name", "asks"),
                     ("ask_cues", "volunteered", "volunteered_cues", "threshold", "seed"))
    item_id = n.ident(keys["id"][1], "elements entry", "element")
    where = item_id
    return Element(item_id, n.text(keys["name"][1], f"{where}.name"), n.phrases(keys["asks"][1], f"{where}.asks"),
                   _optional(n, keys, "volunteered", where),
                   n.threshold(keys.get("threshold", (None, None))[1], f"{where}.threshold", default),
                   _seed(n, keys, where), _optional(n, keys, "ask_cues", where, cues=True),
                   _optional(n, keys, "volunteered_cues", where, cues=True))


def _situation(n: Nodes, node: yaml.Node, default: Threshold) -> Situation:
    keys = n.mapping(node, "situations entry", ("id", "name", "responses"),
                     ("triggers", "trigger_cues", "not_triggers", "not_trigger_cues", "repeat_within_minutes",
                      "threshold", "seed"))
    item_id = n.ident(keys["id"][1], "situations entry", "situation")
    if "triggers" not in keys and "trigger_cues" not in keys:
        n.fail(node, f"{item_id}: give 'triggers' or 'trigger_cues' (or both): what the caller says that makes "
                     "this rule owed")
    responses = []
    for rnode in n.items(keys["responses"][1], f"{item_id}.responses"):
        rkeys = n.mapping(rnode, f"{item_id}.responses entry", ("name", "phrases"), ("cues",))
        rname = n.text(rkeys["name"][1], f"{item_id}.responses entry name")
        responses.append(Response(rname, n.phrases(rkeys["phrases"][1], f"{item_id}.responses.{rname}"),
                                  _optional(n, rkeys, "cues", f"{item_id}.responses.{rname}", cues=True)))
    repeat = (n.integer(keys["repeat_within_minutes"][1], f"{item_id}.repeat_within_minutes", 1, 24 * 60)
              if "repeat_within_minutes" in keys else None)
    return Situation(item_id, n.text(keys["name"][1], f"{item_id}.name"),
                     _optional(n, keys, "triggers", item_id), _optional(n, keys, "not_triggers", item_id),
                     tuple(responses), repeat,
                     n.threshold(keys.get("threshold", (None, None))[1], f"{item_id}.threshold", default),
                     _seed(n, keys, item_id), _optional(n, keys, "trigger_cues", item_id, cues=True),
                     _optional(n, keys, "not_trigger_cues", item_id, cues=True))


def _prohibited(n: Nodes, node: yaml.Node, default: Threshold) -> Prohibited:
    keys = n.mapping(node, "prohibited", ("groups",), ("threshold", "seed"))
    groups: list[ProhibitedGroup] = []
    for gnode in n.items(keys["groups"][1], "prohibited.groups"):
        gkeys = n.mapping(gnode, "prohibited.groups entry", ("kind", "phrases"), ("veto", "cues"))
        kind = n.text(gkeys["kind"][1], "prohibited.groups entry kind")
        if any(g.kind == kind for g in groups):
            n.fail(gkeys["kind"][1], f"prohibited.groups: duplicate kind '{kind}'")
        veto = n.boolean(gkeys["veto"][1], f"prohibited.{kind}.veto") if "veto" in gkeys else False
        groups.append(ProhibitedGroup(kind, n.phrases(gkeys["phrases"][1], f"prohibited.{kind}.phrases"), veto,
                                      _optional(n, gkeys, "cues", f"prohibited.{kind}", cues=True)))
    return Prohibited(tuple(groups), n.threshold(keys.get("threshold", (None, None))[1], "prohibited.threshold",
                                                 default), _seed(n, keys, "prohibited"))


def _custom(n: Nodes, node: yaml.Node, default: Threshold) -> CustomItem:
    keys = n.mapping(node, "custom entry", ("id", "name", "phrases"), ("threshold", "seed"))
    item_id = n.ident(keys["id"][1], "custom entry", "custom")
    return CustomItem(item_id, n.text(keys["name"][1], f"{item_id}.name"),
                      n.phrases(keys["phrases"][1], f"{item_id}.phrases"),
                      n.threshold(keys.get("threshold", (None, None))[1], f"{item_id}.threshold", default),
                      _seed(n, keys, item_id))


def _waived_by(n: Nodes, top: dict[str, tuple[yaml.Node, yaml.Node]],
               situations: tuple[Situation, ...]) -> tuple[str, ...]:
    """Situation ids whose trigger means the call is no incident report, so no element is owed."""
    if "elements_waived_by" not in top:
        return ()
    ids = n.phrases(top["elements_waived_by"][1], "elements_waived_by")
    known = [s.id for s in situations]
    for node, item_id in zip(top["elements_waived_by"][1].value, ids, strict=True):
        if item_id not in known:
            n.fail(node, f"elements_waived_by: '{item_id}' is not a situation id (known: {', '.join(known)})")
    return ids


def _check_ids(n: Nodes, top: dict[str, tuple[yaml.Node, yaml.Node]], elements: tuple[Element, ...],
               situations: tuple[Situation, ...], custom: tuple[CustomItem, ...]) -> None:
    """Every fixed id present, none twice."""
    sections: tuple[tuple[str, tuple[str, ...], tuple[Element | Situation | CustomItem, ...]], ...] = (
        ("elements", ELEMENT_IDS, elements), ("situations", SITUATION_IDS, situations), ("custom", (), custom))
    for section, fixed, found in sections:
        if section not in top:
            continue
        seen: set[str] = set()
        for node, item in zip(top[section][1].value, found, strict=True):
            if item.id in seen:
                n.fail(node, f"{section}: duplicate item id '{item.id}'")
            seen.add(item.id)
        missing = [i for i in fixed if i not in seen]
        if missing:
            n.fail(top[section][0], f"{section}: missing fixed item id(s) {', '.join(missing)}")


def _scoring(n: Nodes, node: yaml.Node, item_ids: list[str], prohibited: Prohibited) -> Scoring:
    keys = n.mapping(node, "scoring", ("total", "pass_mark", "items"), ("vetoes",))
    total = n.integer(keys["total"][1], "scoring.total", 1)
    pass_mark = n.integer(keys["pass_mark"][1], "scoring.pass_mark", 0, total)
    items: list[ItemScore] = []
    for inode in n.items(keys["items"][1], "scoring.items"):
        ikeys = n.mapping(inode, "scoring.items entry", ("id", "budget", "deduction"))
        item_id = n.text(ikeys["id"][1], "scoring.items entry id")
        if item_id not in item_ids:
            n.fail(ikeys["id"][1], f"scoring.items: unknown item id '{item_id}'")
        if any(i.id == item_id for i in items):
            n.fail(ikeys["id"][1], f"scoring.items: duplicate item id '{item_id}'")
        budget = n.integer(ikeys["budget"][1], f"scoring.{item_id}.budget", 0)
        deduction = n.integer(ikeys["deduction"][1], f"scoring.{item_id}.deduction", 0)
        if deduction > budget:
            n.fail(ikeys["deduction"][1], f"scoring.{item_id}.deduction ({deduction}) exceeds its budget ({budget})")
        items.append(ItemScore(item_id, budget, deduction))
    missing = [i for i in item_ids if all(s.id != i for s in items)]
    if missing:
        n.fail(keys["items"][0], f"scoring.items: no budget for {', '.join(missing)}")
    budgets = sum(i.budget for i in items)
    if budgets != total:
        n.fail(keys["items"][0], f"scoring.items: budgets sum to {budgets}, not the total {total}")
    order = {item_id: k for k, item_id in enumerate(item_ids)}
    vetoes: list[Veto] = []
    for vnode in n.items(keys["vetoes"][1], "scoring.vetoes") if "vetoes" in keys else []:
        vkeys = n.mapping(vnode, "scoring.vetoes entry", ("id", "item", "when", "reason"), ("group",))
        veto_id = n.ident(vkeys["id"][1], "scoring.vetoes entry", "veto")
        if any(v.id == veto_id for v in vetoes):
            n.fail(vkeys["id"][1], f"scoring.vetoes: duplicate id '{veto_id}'")
        item = n.text(vkeys["item"][1], f"{veto_id}.item")
        if item not in order:
            n.fail(vkeys["item"][1], f"{veto_id}.item: unknown item id '{item}'")
        when = n.text(vkeys["when"][1], f"{veto_id}.when")
        if when not in ("found", "missed"):
            n.fail(vkeys["when"][1], f"{veto_id}.when must be 'found' or 'missed', not '{when}'")
        group = n.text(vkeys["group"][1], f"{veto_id}.group") if "group" in vkeys else None
        if group is not None and (item != "prohibited" or all(g.kind != group for g in prohibited.groups)):
            n.fail(vkeys["group"][1], f"{veto_id}.group: '{group}' is not a kind of prohibited.groups")
        vetoes.append(Veto(veto_id, item, when, group, n.text(vkeys["reason"][1], f"{veto_id}.reason")))
    items.sort(key=lambda s: order[s.id])
    return Scoring(total, pass_mark, tuple(items), tuple(vetoes))
