"""The transcription worker: claim a call's job, find its audio, recognise, store.

Several workers (processes, or machines sharing PostgreSQL) run this loop on
one queue.  A missing recording is retried with backoff (MixMonitor may still
be writing it); unreadable audio fails the job at once with the reason; any
other error is retried up to ``max_attempts``.  Pure silence is stored as an
empty transcript marked ``no_speech``, never as invented words.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from callmon.config import Config
from callmon.speech.audio import AudioError, read_wav
from callmon.speech.recordings import RecordingMissing, Source, locate
from callmon.speech.transcribe import channel_parts
from callmon.speech.types import Recognizer, Utterance
from callmon.store.jobs import Claimed, JobQueue
from callmon.store.repository import Store

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def transcribe_sources(sources: list[Source], recognizer: Callable[[], Recognizer], stereo_left: str,
                       low_confidence: float) -> list[dict[str, Any]]:
    """One transcript per channel: separate files, the two sides of a stereo file, or one mixed file.

    Every file is decoded before the model is touched, so bad audio fails fast.
    """
    decoded = [(source, read_wav(source.path)) for source in sources]
    out = []
    for source, audio in decoded:
        # per-direction files hold one voice; a "mixed" file is split when it is stereo
        parts = (channel_parts(audio, "mixed", stereo_left) if source.role == "mixed"
                 else [(source.role, audio.channels[0])])
        for channel, samples in parts:
            engine = recognizer()
            utterances = engine.transcribe(samples, audio.rate, channel)
            out.append(_transcript(source, channel, audio.seconds, utterances, engine, low_confidence))
    return out


def _transcript(source: Source, channel: str, seconds: float, utterances: list[Utterance],
                recognizer: Recognizer, low_confidence: float) -> dict[str, Any]:
    scored = [u.confidence for u in utterances if u.confidence is not None]
    confidence = sum(scored) / len(scored) if scored else None
    return {
        "channel": channel, "file": str(source.path), "engine": recognizer.engine, "model": recognizer.model,
        "audio_seconds": round(seconds, 3), "utterances": [u.to_json() for u in utterances],
        "text": "".join(u.text for u in utterances), "confidence": confidence,
        "low_confidence": confidence is not None and confidence < low_confidence,
        "no_speech": not utterances,
    }


class TranscriptionWorker:
    """Claims and runs transcription jobs until stopped (or, with ``until_idle``, until none are left)."""

    def __init__(self, cfg: Config, store: Store, recognizer: Callable[[], Recognizer],
                 name: str | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.queue = JobQueue(store.engine)
        self._recognizer_factory = recognizer
        self._recognizer: Recognizer | None = None
        self.name = name or worker_name()
        self.stop = threading.Event()
        self.done = 0
        self.failed = 0
        self._grammar: Any = None
        self._grammar_error: str | None = None

    def grammar(self) -> Any:
        """The site grammar, loaded once; a broken grammar is logged once and judging skipped."""
        if self._grammar is None and self._grammar_error is None:
            from callmon.compliance.grammar import load_grammar
            from callmon.compliance.grammar_schema import GrammarError

            try:
                self._grammar = load_grammar(self.cfg.compliance.grammar)
            except GrammarError as exc:
                self._grammar_error = str(exc)
                log.error("calls are transcribed but not judged: %s", exc)
        return self._grammar

    def judge(self, call_id: int, failure: str | None = None) -> None:
        """The checks, as soon as the transcript is stored (or the call cannot be judged)."""
        grammar = self.grammar()
        if grammar is None:
            return
        from callmon.compliance.judge import judge_call

        try:
            judge_call(self.store, grammar, call_id, failure)
        except Exception:
            log.exception("could not judge call %d", call_id)

    def recognizer(self) -> Recognizer:
        if self._recognizer is None:  # load the model once, on the first job that needs it
            self._recognizer = self._recognizer_factory()
        return self._recognizer

    def run(self, until_idle: bool = False, on_job: Callable[[str], None] | None = None) -> None:
        speech = self.cfg.speech
        while not self.stop.is_set():
            job = self.queue.claim(self.name, speech.lease_seconds)
            if job is None:
                if until_idle:
                    return
                self.stop.wait(speech.poll_seconds)
                continue
            state = self.process(job)
            if on_job is not None:
                on_job(state)

    def process(self, job: Claimed) -> str:
        """Run one claimed job to done, pending (retry) or failed."""
        speech = self.cfg.speech
        record = self.store.call_by_id(job.call_id)
        try:
            if record is None:
                raise AudioError(f"call {job.call_id} no longer exists")
            sources = locate(record, self.cfg.recordings)
            with self._lease_kept(job):
                results = transcribe_sources(sources, self.recognizer, speech.stereo_left, speech.low_confidence)
        except RecordingMissing as exc:
            return self._failed(job, str(exc), speech.retry_seconds)
        except AudioError as exc:  # bad audio will not get better by retrying
            return self._failed(job, f"bad audio: {exc}", None)
        except Exception as exc:
            log.exception("transcription of call %s failed (attempt %d)", job.call_id, job.attempts)
            return self._failed(job, f"{type(exc).__name__}: {exc}", speech.retry_seconds)
        if self.queue.complete(job, self.name, results):
            self.done += 1
            self.judge(job.call_id)
            return "done"
        log.warning("job %d was taken over by another worker after its lease ran out", job.id)
        return "lost"

    @contextmanager
    def _lease_kept(self, job: Claimed) -> Iterator[None]:
        """Renew the lease every third of its length while a job runs.

        Why: a recording that takes longer than the lease to recognise (a long call, a slow model,
        a busy machine) would otherwise be claimed again by another worker and recognised twice.
        Only a worker that stops renewing (killed, hung machine) loses its job.
        """
        lease = self.cfg.speech.lease_seconds
        finished = threading.Event()

        def keep() -> None:
            while not finished.wait(lease / 3):
                try:
                    if not self.queue.renew(job, self.name, lease):
                        log.warning("job %d: lease lost before the result was ready", job.id)
                        return
                except Exception:  # a database hiccup: try again at the next beat, before the lease ends
                    log.warning("job %d: could not renew the lease", job.id, exc_info=True)

        beat = threading.Thread(target=keep, name=f"lease-{job.id}", daemon=True)
        beat.start()
        try:
            yield
        finally:
            finished.set()
            beat.join()

    def _failed(self, job: Claimed, error: str, retry_seconds: float | None) -> str:
        state = self.queue.fail(job, self.name, error, retry_seconds, self.cfg.speech.max_attempts)
        if state == "failed":
            self.failed += 1
            log.warning("call %d: transcription failed for good: %s", job.call_id, error)
            self.judge(job.call_id, failure=error)
        else:
            log.info("call %d: transcription will be retried: %s", job.call_id, error)
        return state
