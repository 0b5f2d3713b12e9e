"""A city-sized day of 110 calls, stamped out from the real captures (pure: no I/O, no sockets).

Why: sizing, soak and reconnect/backfill tests need a day's worth of calls that look to
callmon exactly like Asterisk's, with a known truth for every call.

Each generated call is one captured call (a ``Scenario``) picked by weight, starting at a
Poisson arrival (``profile``), with everything that identifies it made fresh and
consistent within the call:
* Uniqueid-like values (``Uniqueid``, ``Linkedid``, ``DestUniqueid``, ``LocalOneUniqueid``,
  ids inside variable values and recording names): ``<epoch>.<seq>`` with the epoch moved
  by the call's shift and ``seq`` one day-wide counter, in the captured creation order, so
  the Linkedid stays the first channel's Uniqueid;
* Local channel numbers (``Local/110@incoming-0000002a;1``): a day-wide hex counter;
* bridge ids: fresh UUIDs (version 4, from the seed);
* caller numbers: 11-digit mobile numbers from the seed (a few repeat callers);
* times: every ``Timestamp`` moved by the call's shift (intra-call timing exact to the µs),
  epoch values (``LastCall``, ``LoginTime``, ``MEMBERLASTCALL``) and recording-name dates
  moved the same way;
* operators (optional): each captured operator is mapped to one of a pool (``op1001`` ..
  ``op1012``); member names, interfaces, ``Custom:`` devices, Local channels, recording
  names follow.  Assignment: round robin over the operators free at the moment the
  captured operator's part of the call starts (free = not busy with another generated
  call, from the first to the last event that names them).  When all are busy the one
  that frees up first is taken anyway and counted in ``operator_conflicts``: real
  Asterisk would have held the caller in the queue, which a replayed capture cannot do.
  Everything else (queue positions, ``CallsTaken``, Asterisk's own HoldTime) stays as captured.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from callmon.loadgen.profile import DIURNAL_110, arrival_offsets
from callmon.loadgen.scenarios import Scenario

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
DEFAULT_OPERATORS = tuple(f"op{1000 + n}" for n in range(1, 13))
KIND_WEIGHTS: dict[str, float] = {"within": 0.78, "slow": 0.08, "ringnoanswer": 0.05, "abandoned": 0.07,
                                  "transfer": 0.02}
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
                   "155", "156", "157", "158", "159", "177", "180", "181", "182", "183", "185", "186", "187",
                   "188", "189", "199")
DEFAULT_START = datetime(2026, 11, 23, tzinfo=ZoneInfo("Asia/Shanghai"))


@dataclass(slots=True)
class TruthCall:
    """What one generated call is, in its generated names."""

    linkedid: str
    queue_uniqueid: str | None  # the channel in QueueCallerJoin (queue_log's callid)
    caller: str | None
    scenario: str  # "<capture>/<tag>"
    capture: str
    source_linkedid: str
    kind: str
    start: float  # epoch seconds of the first event
    end: float  # of the last event
    offered_at: float | None  # QueueCallerJoin
    operator: str | None  # who answered
    operators_rung: list[str]
    ring_no_answer: list[dict[str, Any]]  # {operator, ring_ms}
    outcome: str  # answered | abandoned | unanswered
    ring_seconds: float | None
    wait_seconds: float | None
    talk_seconds: float | None
    abandon_wait_seconds: float | None
    transferred_to: str | None
    truth_source: str  # scenarios.json | events
    frames: int


@dataclass(slots=True)
class Day:
    """The generated day: frames in time order, the truth per call, and how it was made."""

    frames: list[bytes]
    truth: list[TruthCall]
    start: float
    hours: float
    operator_conflicts: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def raw(self) -> bytes:
        """Banner + frames: what FakeAmiServer(capture=...) and ``callmon replay`` read."""
        return BANNER + b"".join(self.frames)

    def truth_json(self) -> dict[str, Any]:
        outcomes: dict[str, int] = {}
        for t in self.truth:
            outcomes[t.outcome] = outcomes.get(t.outcome, 0) + 1
        return {"params": self.params, "start": self.start, "hours": self.hours, "calls": len(self.truth),
                "frames": len(self.frames), "outcomes": outcomes, "operator_conflicts": self.operator_conflicts,
                "truth": [asdict(t) for t in self.truth]}


class _Ids:
    """Day-wide counters and the seeded source of numbers and UUIDs."""

    def __init__(self, rng: random.Random, seq: int, repeat_rate: float) -> None:
        self.rng, self.seq, self.local = rng, seq, 0
        self.repeat_rate = repeat_rate
        self.callers: list[str] = []
        self.used: set[str] = set()

    def number(self) -> str:
        while True:
            n = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10 ** 8):08d}"
            if n not in self.used:
                self.used.add(n)
                return n

    def caller(self) -> str:
        if self.callers and self.rng.random() < self.repeat_rate:
            return self.rng.choice(self.callers)
        self.callers.append(self.number())
        return self.callers[-1]


class _Operators:
    """Round robin over the operators free at a moment (see the module doc)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.free_at = dict.fromkeys(self.names, -(1 << 62))
        self.next = 0
        self.conflicts = 0

    def assign(self, scenario: Scenario, start_us: int) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for span in scenario.spans:
            begin, end = start_us + span.first_us, start_us + span.last_us
            order = self.names[self.next:] + self.names[:self.next]
            choice = next((n for n in order if n not in mapping.values() and self.free_at[n] <= begin), None)
            if choice is None:
                self.conflicts += 1
                choice = min((n for n in order if n not in mapping.values()), key=self.free_at.__getitem__,
                             default=order[0])
            mapping[span.name] = choice
            self.free_at[choice] = max(self.free_at[choice], end)
            self.next = (self.names.index(choice) + 1) % len(self.names)
        return mapping


def _stamp(t_us: int) -> str:
    return f"{t_us // 1_000_000}.{t_us % 1_000_000:06d}"


def _values(s: Scenario, call_us: int, ids: _Ids, caller: str, ops: Mapping[str, str]) -> list[str]:
    """The generated value of every slot of a scenario, for one call."""
    shift_us = call_us - s.t0_us
    values = [""] * len(s.slots)
    uids = sorted((i for i, (k, _) in enumerate(s.slots) if k == "uid"),
                  key=lambda i: int(s.slots[i][1].split(".")[1]))
    for i in uids:
        captured = int(s.slots[i][1].split(".")[0])
        created = s.t0_us + s.slot_first_us[i]  # the channel's first event, close to its creation
        epoch = call_us + s.slot_first_us[i] if created // 1_000_000 == captured else captured * 1_000_000 + shift_us
        values[i] = f"{epoch // 1_000_000}.{ids.seq}"
        ids.seq += 1
    for i in sorted((i for i, (k, _) in enumerate(s.slots) if k == "lseq"), key=lambda i: int(s.slots[i][1], 16)):
        values[i] = f"{ids.local:08x}"
        ids.local += 1
    for i, (kind, old) in enumerate(s.slots):
        if kind == "uuid":
            values[i] = str(uuid.UUID(int=ids.rng.getrandbits(128), version=4))
        elif kind == "epoch":
            values[i] = str((int(old) * 1_000_000 + shift_us) // 1_000_000)
        elif kind == "num":
            values[i] = caller if old == s.facts.caller else ids.number()
        elif kind == "op":
            values[i] = ops.get(old, old)
        elif kind == "dt":
            moved = datetime.strptime(old, "%Y%m%d-%H%M%S") + timedelta(microseconds=shift_us)
            values[i] = moved.strftime("%Y%m%d-%H%M%S")
    return values


def _weights(scenarios: Sequence[Scenario], weights: Mapping[str, float] | None) -> list[float]:
    chosen = {**KIND_WEIGHTS, **(weights or {})}
    per_kind: dict[str, int] = {}
    for s in scenarios:
        per_kind[s.kind] = per_kind.get(s.kind, 0) + 1
    return [chosen[s.name] if s.name in chosen else chosen.get(s.kind, 0.0) / per_kind[s.kind] for s in scenarios]


def generate_day(scenarios: Sequence[Scenario], *, calls_per_day: float = 3000, seed: int = 1,
                 hours: float = 24.0, start: datetime = DEFAULT_START,
                 operators: Sequence[str] | None = DEFAULT_OPERATORS, weights: Mapping[str, float] | None = None,
                 profile: Sequence[float] = DIURNAL_110, exact: bool = False, lean: bool = False,
                 repeat_caller_rate: float = 0.03, id_seq_start: int = 0) -> Day:
    """Generate the calls of ``hours`` from ``start`` (aware datetime; its local clock drives the profile).

    ``weights``: per kind (within, slow, ringnoanswer, abandoned, transfer) or per scenario
    name; a kind's weight is shared by its scenarios.  ``operators=None`` keeps the captured
    operators.  ``lean`` drops VarSet/Newexten frames the pipeline never reads (recording
    names kept), about 70 % fewer frames.  Same arguments, same bytes.
    """
    if not scenarios:
        raise ValueError("no scenarios")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (its local hours drive the profile)")
    rng = random.Random(seed)
    start_minute = start.hour * 60 + start.minute
    offsets = arrival_offsets(calls_per_day, rng, hours, start_minute, profile, exact)
    cum = list(_cumulative(_weights(scenarios, weights)))
    ids = _Ids(rng, id_seq_start, repeat_caller_rate)
    pool = _Operators(operators) if operators else None
    start_us = int(start.timestamp()) * 1_000_000
    timed: list[tuple[int, int, int, bytes]] = []
    truth: list[TruthCall] = []
    for n, offset in enumerate(offsets):
        s = rng.choices(scenarios, cum_weights=cum)[0]
        call_us = start_us + int(offset * 1_000_000)
        ops = pool.assign(s, call_us) if pool else {}
        values = _values(s, call_us, ids, ids.caller(), ops)
        frames = 0
        for i, (fmt, off) in enumerate(zip(s.formats, s.offsets_us, strict=True)):
            if lean and not s.lean[i]:
                continue
            timed.append((call_us + off, n, i, fmt.format(*values, t=_stamp(call_us + off)).encode()))
            frames += 1
        truth.append(_truth(s, values, call_us, ops, frames))
    timed.sort(key=lambda item: (item[0], item[1], item[2]))
    params = {"calls_per_day": calls_per_day, "seed": seed, "hours": hours, "start": start.isoformat(),
              "operators": list(operators or []), "exact": exact, "lean": lean, "scenarios": len(scenarios)}
    return Day([f for _, _, _, f in timed], truth, start.timestamp(), hours,
               pool.conflicts if pool else 0, params)


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    if total <= 0:
        raise ValueError("all scenario weights are zero")
    return out


def _truth(s: Scenario, values: list[str], call_us: int, ops: Mapping[str, str], frames: int) -> TruthCall:
    index = {slot: i for i, slot in enumerate(s.slots)}
    f = s.facts

    def uid(old: str | None) -> str | None:
        return None if old is None else values[index[("uid", old)]] if ("uid", old) in index else old

    def op(old: str | None) -> str | None:
        return None if old is None else ops.get(old, old)

    caller = values[index[("num", f.caller)]] if f.caller is not None and ("num", f.caller) in index else f.caller
    return TruthCall(
        linkedid=uid(f.linkedid) or "", queue_uniqueid=uid(f.queue_uniqueid), caller=caller, scenario=s.name,
        capture=s.capture, source_linkedid=f.linkedid, kind=s.kind, start=call_us / 1e6,
        end=(call_us + s.duration_us) / 1e6,
        offered_at=None if f.offered_us is None else (call_us + f.offered_us) / 1e6,
        operator=op(f.operator), operators_rung=[op(o) or "" for o in f.operators_rung],
        ring_no_answer=[{"operator": op(o), "ring_ms": ms} for o, ms in f.ring_no_answer], outcome=f.outcome,
        ring_seconds=f.ring_seconds, wait_seconds=f.wait_seconds, talk_seconds=f.talk_seconds,
        abandon_wait_seconds=f.abandon_wait_seconds, transferred_to=f.transferred_to, truth_source=f.source,
        frames=frames)


def local_time(epoch: float, tz: str = "Asia/Shanghai") -> datetime:
    """An epoch as the site's local time (for progress lines and reports)."""
    return datetime.fromtimestamp(epoch, UTC).astimezone(ZoneInfo(tz))
