"""The database tables, as SQLAlchemy 2 models.  Only ``callmon.store`` touches them.

Times are stored as microseconds since the epoch (BigInteger) so they are
exact on SQLite and PostgreSQL alike and month boundaries in any time zone
are plain integer ranges.  Durations are integer milliseconds.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class RawEvent(Base):
    """Every call event exactly as received, written before any call is computed."""

    __tablename__ = "raw_events"
    __table_args__ = (Index("ix_raw_events_call", "pbx", "linkedid", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    pbx: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(64))
    ts_us: Mapped[int] = mapped_column(BigInteger)
    timed_by: Mapped[str] = mapped_column(String(10))
    received_us: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(255))
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    raw: Mapped[str] = mapped_column(Text)


class SpoolMark(Base):
    """The last spool record whose events are in this database (written in the same transaction)."""

    __tablename__ = "spool_marks"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    event_us: Mapped[int | None] = mapped_column(BigInteger)  # the newest event stored with it (Asterisk's clock)
    updated_us: Mapped[int] = mapped_column(BigInteger)


class Call(Base):
    """One call's computed record; rebuilt from ``raw_events`` by recompute."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("pbx", "linkedid", name="uq_calls_pbx_linkedid"),
        Index("ix_calls_offered", "offered_us"),
        Index("ix_calls_operator_offered", "operator", "offered_us"),
        Index("ix_calls_caller_first_event", "caller", "first_event_us"),  # repeat calls from one number
        Index("ix_calls_first_event", "first_event_us", "id"),  # the queue's period and newest-first order (0006)
        # an operator's queue and scorecard, trend included, read from the index alone (0006; was
        # ix_calls_operator_first_event of 0005)
        Index("ix_calls_operator_card", "operator", "first_event_us", "outcome", "within_limit", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    pbx: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(255))
    caller: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(128))
    operator: Mapped[str | None] = mapped_column(String(128))
    operator_interface: Mapped[str | None] = mapped_column(String(255))
    offered_us: Mapped[int | None] = mapped_column(BigInteger)
    answered_us: Mapped[int | None] = mapped_column(BigInteger)
    ended_us: Mapped[int | None] = mapped_column(BigInteger)
    first_event_us: Mapped[int | None] = mapped_column(BigInteger)
    ring_ms: Mapped[int | None] = mapped_column(BigInteger)
    wait_ms: Mapped[int | None] = mapped_column(BigInteger)
    rings: Mapped[int | None] = mapped_column(BigInteger)
    within_limit: Mapped[bool | None] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(16))
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    abandoned_after_ms: Mapped[int | None] = mapped_column(BigInteger)
    transferred: Mapped[bool] = mapped_column(Boolean, default=False)
    transfer_target: Mapped[str | None] = mapped_column(String(255))
    talk_ms: Mapped[int | None] = mapped_column(BigInteger)
    hangup_cause: Mapped[str | None] = mapped_column(String(128))
    incomplete: Mapped[bool] = mapped_column(Boolean, default=False)
    incomplete_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    timed_by: Mapped[str] = mapped_column(String(10))
    recordings: Mapped[list[str]] = mapped_column(JSON, default=list)
    recording_roles: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    ring_policy: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    computed_us: Mapped[int] = mapped_column(BigInteger)
    witness: Mapped[str | None] = mapped_column(String(255))  # the other source's record of this call (0009)
    witness_rings: Mapped[int | None] = mapped_column(BigInteger)
    # when ``callmon purge`` removed this call's audio / transcripts under [retention] (0011); None = never
    recordings_purged_us: Mapped[int | None] = mapped_column(BigInteger)
    transcripts_purged_us: Mapped[int | None] = mapped_column(BigInteger)

    rings_list: Mapped[list[OperatorRingRow]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="OperatorRingRow.rung_us"
    )


class OperatorRingRow(Base):
    """One operator rung for one call: who, how long, and how it ended."""

    __tablename__ = "operator_rings"
    __table_args__ = (Index("ix_operator_rings_operator", "operator", "rung_us"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    operator: Mapped[str] = mapped_column(String(128))
    interface: Mapped[str | None] = mapped_column(String(255))
    dest_uniqueid: Mapped[str] = mapped_column(String(64))
    rung_us: Mapped[int] = mapped_column(BigInteger)
    ended_us: Mapped[int | None] = mapped_column(BigInteger)
    ring_ms: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(16))
    rings: Mapped[int | None] = mapped_column(BigInteger)
    within_limit: Mapped[bool | None] = mapped_column(Boolean)

    call: Mapped[Call] = relationship(back_populates="rings_list")


class Job(Base):
    """Work on one call that outlives any process: claimed with a lease, retried, given up on."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("kind", "call_id", name="uq_jobs_kind_call"),
        Index("ix_jobs_claim", "kind", "state", "run_after_us"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))  # pending | running | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after_us: Mapped[int] = mapped_column(BigInteger)
    lease_until_us: Mapped[int | None] = mapped_column(BigInteger)
    worker: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_us: Mapped[int] = mapped_column(BigInteger)
    updated_us: Mapped[int] = mapped_column(BigInteger)
    finished_us: Mapped[int | None] = mapped_column(BigInteger)


class Transcript(Base):
    """What was said on one channel of one call, as timed utterances (the shape of ``transcribe --json``)."""

    __tablename__ = "transcripts"
    __table_args__ = (UniqueConstraint("call_id", "channel", name="uq_transcripts_call_channel"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # operator | caller | mixed
    file: Mapped[str] = mapped_column(String(1024))
    engine: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(64))
    audio_seconds: Mapped[float] = mapped_column(Float)
    utterances: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    text: Mapped[str] = mapped_column(Text, default="")  # all utterances' normalised text, for search
    confidence: Mapped[float | None] = mapped_column(Float)
    low_confidence: Mapped[bool] = mapped_column(Boolean, default=False)
    no_speech: Mapped[bool] = mapped_column(Boolean, default=False)
    created_us: Mapped[int] = mapped_column(BigInteger)


class Score(Base):
    """One call judged against one grammar version: the verdict and every item's evidence."""

    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("call_id", name="uq_scores_call"),
                      # the flagged queue with its state and score filters, without reading the rows
                      # (0006; was ix_scores_flagged_call of 0005 and ix_scores_flagged of 0003)
                      Index("ix_scores_flagged_verdict", "flagged", "call_id", "review_state", "score",
                            "reviewed_score"),
                      # a scorecard's sums, joined from the calls, without reading the rows (0006)
                      Index("ix_scores_call_verdict", "call_id", "flagged", "score", "reviewed_score", "passed",
                            "reviewed_passed", "review_state"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    grammar_hash: Mapped[str] = mapped_column(String(64))
    score: Mapped[int | None] = mapped_column(Integer)  # None: could not be judged
    passed: Mapped[bool | None] = mapped_column(Boolean)
    flagged: Mapped[bool] = mapped_column(Boolean)
    flag_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    items: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    computed_us: Mapped[int] = mapped_column(BigInteger)
    first_scored_us: Mapped[int | None] = mapped_column(BigInteger)  # the dispute window counts from here (0008)
    # a person's verdict beside the automatic one (migration 0005); exports and scorecards use it when set
    review_state: Mapped[str] = mapped_column(String(16), default="unreviewed",
                                              server_default="unreviewed")  # unreviewed|reviewed|disputed
    reviewed_score: Mapped[int | None] = mapped_column(Integer)
    reviewed_passed: Mapped[bool | None] = mapped_column(Boolean)
    reviewed_items: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_us: Mapped[int | None] = mapped_column(BigInteger)
