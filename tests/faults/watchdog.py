"""A per-example hang guard for the fuzz tests.

Why: Hypothesis's ``deadline`` only judges an example once it returns, so an infinite loop would
stall CI instead of failing.  SIGALRM interrupts the example (between bytecodes) and fails it with
what was running.  Main thread only, POSIX only, which is where CI runs.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Hang(BaseException):
    """Not an ``Exception``: no ``except Exception`` in the code under test may swallow it."""


@contextmanager
def hang_guard(seconds: float, what: str) -> Iterator[None]:
    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"{what}: still running after {seconds:g} s (a hang)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
