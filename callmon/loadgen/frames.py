"""Cutting a capture (one AMI session) into its calls.

Why: a capture may hold many overlapping calls plus session and queue-wide frames; the
load generator needs each call's own frames to stamp it out again.

Which frames belong to a call (the capture is one AMI session, possibly many calls):
* a frame with ``Linkedid`` (or a linked id: ``DestLinkedid``, ``LocalOneLinkedid``,
  ``TransfererLinkedid`` ...) belongs to that call, as for callmon's tracker;
* else one naming a bridge or a Uniqueid of a call belongs to it (``BridgeCreate``/
  ``BridgeDestroy``, a global ``VarSet`` named after a Uniqueid);
* else an operator's status (``QueueMemberStatus``, ``DeviceStateChange`` of
  ``Custom:opN`` / ``Local/opN@...``) belongs to the call that had that operator's phone
  at that moment (the first mention of the operator in the call 0.5 s before to the last
  one 1 s after), so the wallboard still sees ringing/talking/idle per generated call;
* dropped: session frames (``FullyBooted``, ``SuccessfulAuth``), ``OriginateResponse``
  (the capture harness's Originate that simulated the caller: a real 110 call arrives on
  a trunk) and queue-wide device states (``Queue:110``, ``Queue:110_avail``,
  ``Local/110@incoming``), which describe the whole queue and cannot be cut per call.
"""

from __future__ import annotations

import re

TERM = b"\r\n\r\n"
DROPPED_EVENTS = frozenset({"FullyBooted", "SuccessfulAuth", "OriginateResponse"})
LINK_KEYS = ("DestLinkedid", "TransfereeLinkedid", "TransfererLinkedid", "OrigTransfererLinkedid",
             "SecondTransfererLinkedid", "LocalOneLinkedid", "LocalTwoLinkedid")
SPAN_BEFORE_US, SPAN_AFTER_US = 500_000, 1_000_000
_UID = re.compile(r"(?<![\d.])(\d{9,10}\.\d+)(?!\d)")


def us(stamp: str) -> int:
    """A Timestamp header value as integer microseconds (exact, no float rounding)."""
    whole, _, frac = stamp.partition(".")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


def fields(text: str) -> dict[str, str]:
    """Header map of one frame's text (the first of a repeated key wins)."""
    out: dict[str, str] = {}
    for line in text.split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep and key not in out:
            out[key] = value
    return out


def split_frames(data: bytes) -> list[bytes]:
    """Event frames of a capture (banner, login Response and Goodbye dropped), CRLFCRLF kept."""
    frames = [part + TERM for part in data.split(TERM) if part.strip()]
    if frames and b":" not in frames[0].split(b"\r\n", 1)[0]:
        frames[0] = frames[0].split(b"\r\n", 1)[1]
    return [f for f in frames if f.startswith(b"Event:")]


def operator_names(heads: list[dict[str, str]]) -> list[str]:
    names = {h["MemberName"] for h in heads if h.get("MemberName")}
    return sorted(names, key=len, reverse=True)


def op_regex(names: list[str]) -> re.Pattern[str] | None:
    if not names:
        return None
    return re.compile(r"(?<![\w])(" + "|".join(map(re.escape, names)) + r")(?![\w])")


def group_calls(frames: list[bytes]) -> dict[str, list[int]]:
    """Frame indexes of each call (by Linkedid, in capture order); see the module doc."""
    texts = [f.decode("utf-8", "replace") for f in frames]
    heads = [fields(t) for t in texts]
    owner: list[str | None] = [None] * len(frames)
    by_uid: dict[str, str] = {}
    by_bridge: dict[str, str] = {}
    for i, h in enumerate(heads):
        if h.get("Event") in DROPPED_EVENTS:
            continue
        lid = h.get("Linkedid") or next((h[k] for k in LINK_KEYS if h.get(k)), None)
        if lid:
            owner[i] = lid
            for key, value in h.items():
                if key == "BridgeUniqueid":
                    by_bridge.setdefault(value, lid)
                elif key.endswith("Uniqueid"):
                    by_uid.setdefault(value, lid)
    ops = op_regex(operator_names(heads))
    spans: dict[tuple[str, str], list[int]] = {}
    for i, h in enumerate(heads):
        if h.get("Event") in DROPPED_EVENTS or owner[i] is not None:
            continue
        owner[i] = by_bridge.get(h.get("BridgeUniqueid", "")) or next(
            (by_uid[u] for u in _UID.findall(texts[i]) if u in by_uid), None)
    if ops is not None:
        for i, lid in enumerate(owner):
            if lid is not None and "Timestamp" in heads[i]:
                for name in set(ops.findall(texts[i])):
                    span = spans.setdefault((lid, name), [us(heads[i]["Timestamp"])] * 2)
                    span[1] = us(heads[i]["Timestamp"])
        for i, h in enumerate(heads):
            if owner[i] is None and h.get("Event") in ("QueueMemberStatus", "DeviceStateChange") and "Timestamp" in h:
                found = ops.search(h.get("MemberName") or h.get("Device") or "")
                if found:
                    owner[i] = _span_owner(spans, found.group(1), us(h["Timestamp"]))
    calls: dict[str, list[int]] = {}
    for i, lid in enumerate(owner):
        if lid is not None:
            calls.setdefault(lid, []).append(i)
    return calls


def _span_owner(spans: dict[tuple[str, str], list[int]], name: str, t: int) -> str | None:
    best: tuple[int, str] | None = None
    for (lid, op), (first, last) in spans.items():
        if op == name and first - SPAN_BEFORE_US <= t <= last + SPAN_AFTER_US and (best is None or first > best[0]):
            best = (first, lid)
    return best[1] if best else None
