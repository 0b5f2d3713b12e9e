"""Real captures cut into per-call templates that can be stamped out again with fresh ids.

Why: a generated call must be byte for byte what Asterisk sent for the captured call,
except for what identifies it (ids, caller, operators, times).  Each call's frames are
compiled once into ``str.format`` templates whose fields are those identifying tokens, so
stamping out thousands of calls is a string format per frame.

How a capture is cut into calls (and which frames are dropped): ``callmon.loadgen.frames``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callmon.loadgen.frames import fields, group_calls, op_regex, operator_names, split_frames, us

__all__ = ["CallFacts", "OperatorSpan", "Scenario", "fields", "load_scenarios", "split_frames", "us"]
_EPOCH_SLACK_S = 2 * 86400


@dataclass(frozen=True, slots=True)
class OperatorSpan:
    """When a captured operator was busy with the call (µs after the call's first frame)."""

    name: str
    first_us: int
    last_us: int


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the captured call was, in the capture's own names (ground truth for copies)."""

    linkedid: str
    queue_uniqueid: str | None
    caller: str | None
    queue: str | None
    outcome: str  # answered | abandoned | unanswered
    operator: str | None
    operators_rung: tuple[str, ...]
    ring_no_answer: tuple[tuple[str, int], ...]  # (operator, RingTime ms)
    ring_seconds: float | None  # answering operator's AgentCalled -> AgentConnect
    wait_seconds: float | None  # QueueCallerJoin -> AgentConnect
    talk_seconds: float | None
    abandon_wait_seconds: float | None
    transferred_to: str | None
    offered_us: int | None  # QueueCallerJoin, after the first frame
    source: str  # scenarios.json | events


@dataclass(frozen=True, slots=True)
class Scenario:
    """One captured call, compiled."""

    name: str  # "<capture>/<tag>", e.g. "ring02-compliant/s01"
    capture: str  # file name
    kind: str  # within | slow | ringnoanswer | abandoned | transfer
    t0_us: int  # the first frame's Timestamp in the capture
    offsets_us: tuple[int, ...]  # each frame's time after the first
    formats: tuple[str, ...]  # str.format templates: {t} = Timestamp, {N} = slots[N]
    lean: tuple[bool, ...]  # frame kept in lean mode
    slots: tuple[tuple[str, str], ...]  # (kind, captured value): uid uuid lseq epoch num op dt
    slot_first_us: tuple[int, ...]  # when each slot's value first appears (a channel's creation)
    spans: tuple[OperatorSpan, ...]
    facts: CallFacts

    @property
    def duration_us(self) -> int:
        return self.offsets_us[-1] if self.offsets_us else 0


def _master(ops: list[str]) -> re.Pattern[str]:
    parts = [
        r"(?m)^Timestamp: (?P<ts>\d+\.\d+)(?=\r$)",
        r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
        r"(?<=-)(?P<lseq>[0-9a-f]{8})(?=;[12](?!\d))",
        r"(?<![\d.])(?P<uid>\d{9,10}\.\d+)(?!\d)",
        r"(?<![\w.])(?P<epoch>1\d{9})(?![\w.])",
        r"(?<!\d)(?P<num>1[3-9]\d{9})(?!\d)",
        r"(?<!\d)(?P<dt>20\d{6}-\d{6})(?!\d)",
    ]
    if ops:
        parts.append(r"(?<![\w])(?P<op>" + "|".join(map(re.escape, ops)) + r")(?![\w])")
    return re.compile("|".join(parts))


def _esc(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _lean_keep(h: dict[str, str]) -> bool:
    """Lean mode: drop dialplan chatter the pipeline never reads (VarSet, Newexten) but keep recordings."""
    event = h.get("Event")
    if event == "VarSet":
        return h.get("Variable") == "MIXMONITOR_FILENAME"
    if event == "Newexten":
        return (h.get("Application") or "").lower() == "mixmonitor"
    return True


def compile_call(name: str, capture: str, linkedid: str, texts: list[str], uids: set[str], ops: list[str],
                 window: tuple[int, int], truth: dict[str, Any] | None) -> Scenario:
    """One call's frames as templates plus its facts."""
    master = _master(ops)
    heads = [fields(t) for t in texts]
    stamps = [us(h["Timestamp"]) if "Timestamp" in h else None for h in heads]
    t0 = next((s for s in stamps if s is not None), 0)
    slots: dict[tuple[str, str], int] = {}
    first: list[int] = []
    offsets: list[int] = []
    formats: list[str] = []
    last = 0
    for text, stamp in zip(texts, stamps, strict=True):
        last = stamp - t0 if stamp is not None else last
        offsets.append(last)
        out: list[str] = []
        pos = 0
        for m in master.finditer(text):
            kind = m.lastgroup or ""
            value = m.group(kind)
            if kind == "uid" and value not in uids:
                continue
            if kind == "epoch" and not window[0] - _EPOCH_SLACK_S <= int(value) <= window[1] + _EPOCH_SLACK_S:
                continue
            start, end = m.span(kind)
            out.append(_esc(text[pos:start]))
            if kind != "ts" and (kind, value) not in slots:
                slots[(kind, value)] = len(slots)
                first.append(last)
            out.append("{t}" if kind == "ts" else f"{{{slots[(kind, value)]}}}")
            pos = end
        out.append(_esc(text[pos:]))
        formats.append("".join(out))
    facts = call_facts(linkedid, heads, stamps, t0, truth)
    return Scenario(name, capture, kind_of(facts), t0, tuple(offsets), tuple(formats),
                    tuple(_lean_keep(h) for h in heads), tuple(slots), tuple(first), _spans(texts, offsets, ops), facts)


def _spans(texts: list[str], offsets: list[int], ops: list[str]) -> tuple[OperatorSpan, ...]:
    found: dict[str, list[int]] = {}
    regex = op_regex(ops)
    if regex is None:
        return ()
    for text, off in zip(texts, offsets, strict=True):
        for name in set(regex.findall(text)):
            span = found.setdefault(name, [off, off])
            span[1] = off
    return tuple(sorted((OperatorSpan(n, a, b) for n, (a, b) in found.items()), key=lambda s: s.first_us))


def call_facts(linkedid: str, heads: list[dict[str, str]], stamps: list[int | None], t0: int,
               truth: dict[str, Any] | None) -> CallFacts:
    """The call's outcome and timings from its events; scenarios.json's measured values win where given."""
    join = connect = complete = abandon = None
    called: dict[str, int] = {}
    rung: list[str] = []
    rna: list[tuple[str, int]] = []
    transfer: str | None = None
    for h, t in zip(heads, stamps, strict=True):
        event = h.get("Event")
        if event == "QueueCallerJoin" and join is None:
            join = (h, t)
        elif event == "AgentCalled" and t is not None:
            called[h.get("MemberName", "")] = t
            if h.get("MemberName", "") not in rung:
                rung.append(h.get("MemberName", ""))
        elif event == "AgentRingNoAnswer":
            rna.append((h.get("MemberName", ""), int(h.get("RingTime", "0"))))
        elif event == "AgentConnect":
            connect = (h, t)
        elif event == "AgentComplete":
            complete = (h, t)
        elif event == "QueueCallerAbandon":
            abandon = (h, t)
        elif event == "BlindTransfer" and h.get("Extension"):
            transfer = f"{h['Extension']}@{h.get('Context', '')}"

    def secs(a: int | None, b: int | None) -> float | None:
        return None if a is None or b is None else round((b - a) / 1e6, 3)

    join_t = join[1] if join else None
    operator = connect[0].get("MemberName") if connect else None
    connect_t = connect[1] if connect else None
    facts = dict(
        ring_seconds=secs(called.get(operator or ""), connect_t), wait_seconds=secs(join_t, connect_t),
        talk_seconds=secs(connect_t, complete[1] if complete else None),
        abandon_wait_seconds=secs(join_t, abandon[1] if abandon else None))
    source = "events"
    if truth is not None:
        measured = truth["measured_from_timestamps"]
        facts = dict(ring_seconds=measured["ring_s (AgentCalled->AgentConnect)"],
                     wait_seconds=measured["wait_s (QueueCallerJoin->AgentConnect)"],
                     talk_seconds=measured["talk_s (AgentConnect->AgentComplete)"],
                     abandon_wait_seconds=measured["abandon_wait_s (QueueCallerJoin->QueueCallerAbandon)"])
        transfer, source = truth.get("transferred_to"), "scenarios.json"
    outcome = "answered" if connect else "abandoned" if abandon else "unanswered"
    return CallFacts(
        linkedid=linkedid, queue_uniqueid=join[0].get("Uniqueid") if join else None,
        caller=join[0].get("CallerIDNum") if join else (truth or {}).get("caller_number"),
        queue=join[0].get("Queue") if join else None, outcome=outcome, operator=operator,
        operators_rung=tuple(rung), ring_no_answer=tuple(rna), transferred_to=transfer,
        offered_us=None if join_t is None else join_t - t0, source=source, **facts)


def kind_of(facts: CallFacts, limit_s: float = 15.0) -> str:
    """Weighting class: abandoned, ringnoanswer, transfer, slow (rang >= the 3-ring limit) or within."""
    if facts.outcome != "answered":
        return "abandoned"
    if facts.ring_no_answer:
        return "ringnoanswer"
    if facts.transferred_to:
        return "transfer"
    return "slow" if (facts.ring_seconds or 0) >= limit_s else "within"


def load_scenarios(capture_dir: Path, scenarios_json: Path | None = None) -> list[Scenario]:
    """Every call of every ``ami-capture-*.raw`` in a directory, with scenarios.json's truth."""
    truth_path = scenarios_json or capture_dir / "scenarios.json"
    truth: dict[str, tuple[str, dict[str, Any]]] = {}
    if truth_path.exists():
        data = json.loads(truth_path.read_text(encoding="utf-8"))
        for key, cap in data.get("captures", {}).items():
            for call in cap.get("calls", []):
                truth[call["ami"]["Linkedid"]] = (f"{key}/{call['tag']}", call)
    out: list[Scenario] = []
    for path in sorted(capture_dir.glob("ami-capture-*.raw")):
        out += scenarios_from_capture(path.name, path.read_bytes(), truth)
    return out


def scenarios_from_capture(name: str, data: bytes,
                           truth: dict[str, tuple[str, dict[str, Any]]] | None = None) -> list[Scenario]:
    """The compiled calls of one capture (calls without a QueueCallerJoin are skipped)."""
    frames = split_frames(data)
    texts = [f.decode("utf-8", "replace") for f in frames]
    heads = [fields(t) for t in texts]
    uids = {v for h in heads for k, v in h.items() if k.endswith(("Uniqueid", "Linkedid")) and k != "BridgeUniqueid"}
    stamps = [int(us(h["Timestamp"]) // 1_000_000) for h in heads if "Timestamp" in h]
    window = (min(stamps, default=0), max(stamps, default=0))
    ops = operator_names(heads)
    stem = name.removeprefix("ami-capture-").removesuffix(".raw")
    out = []
    for lid, indexes in group_calls(frames).items():
        label, call_truth = (truth or {}).get(lid, (f"{stem}/{lid}", None))
        if not any(heads[i].get("Event") == "QueueCallerJoin" for i in indexes):
            continue
        out.append(compile_call(label, name, lid, [texts[i] for i in indexes], uids, ops, window, call_truth))
    return out
