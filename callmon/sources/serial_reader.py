"""Reading a serial device with pyserial: lines out, whatever the port does.

The port is any pyserial URL: a device path (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``),
``loop://``, ``socket://host:port`` or ``rfc2217://host:port`` for terminal servers.  Lines end
at CR, LF or CRLF; a partial line waits for its end.  When the port disappears (the device
unplugged, the terminal server dropping) the reader logs once, waits with backoff (interruptible)
and opens it again; lines already received were handed on as they arrived, so nothing is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import serial

log = logging.getLogger(__name__)
MAX_LINE = 4096  # longer than any device's line: a run of noise without line ends is cut here

PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD, "M": serial.PARITY_MARK,
          "S": serial.PARITY_SPACE}


def framing(text: str) -> tuple[int, str, float]:
    """``8N1``, ``7E2``, ``8N1.5`` -> (bytesize, parity, stopbits)."""
    text = text.strip().upper()
    if len(text) < 3 or text[0] not in "5678" or text[1] not in PARITY or text[2:] not in ("1", "1.5", "2"):
        raise ValueError(f"framing {text!r}: expected data bits 5-8, parity N/E/O/M/S, stop bits 1/1.5/2 (e.g. 8N1)")
    return int(text[0]), PARITY[text[1]], float(text[2:])


class LineSplitter:
    """Bytes in, complete lines out (CR, LF and CRLF all end a line; empty lines are dropped)."""

    def __init__(self) -> None:
        self.partial = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        out = []
        for byte in data:
            if byte in (10, 13):
                if self.partial:
                    out.append(bytes(self.partial))
                    self.partial.clear()
            else:
                self.partial.append(byte)
                if len(self.partial) >= MAX_LINE:
                    out.append(bytes(self.partial))
                    self.partial.clear()
        return out


Sink = Callable[[bytes, float], None]


class SerialSource:
    """Reads ``url`` until ``stop`` is set, handing each line and its arrival time to ``sink``."""

    def __init__(self, url: str, baud: int = 9600, frame: str = "8N1", *, sink: Sink,
                 stop: threading.Event, backoff_min: float = 0.5, backoff_max: float = 30.0) -> None:
        self.url, self.baud, self.frame, self.sink, self.stop = url, baud, framing(frame), sink, stop
        self.backoff_min, self.backoff_max = backoff_min, backoff_max
        self.outages = 0
        self.connected = threading.Event()

    def _open(self) -> serial.SerialBase:
        bytesize, parity, stopbits = self.frame
        return serial.serial_for_url(self.url, baudrate=self.baud, bytesize=bytesize, parity=parity,
                                     stopbits=stopbits, timeout=0.2)

    def run(self) -> None:
        delay, down_since = self.backoff_min, None
        while not self.stop.is_set():
            try:
                port = self._open()
            except (serial.SerialException, OSError, ValueError) as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    self.outages += 1
                    log.warning("serial port %s unavailable: %s; retrying with backoff up to %g s",
                                self.url, exc, self.backoff_max)
                self.stop.wait(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            if down_since is not None:
                log.info("serial port %s back after %.0f s", self.url, time.monotonic() - down_since)
            else:
                log.info("serial port %s open (%d baud)", self.url, self.baud)
            delay, down_since = self.backoff_min, None
            self.connected.set()
            try:
                self._read(port)
            except (serial.SerialException, OSError) as exc:
                down_since = time.monotonic()
                self.outages += 1
                log.warning("serial port %s lost: %s; reopening", self.url, exc)
            finally:
                self.connected.clear()
                port.close()

    def _read(self, port: serial.SerialBase) -> None:
        splitter = LineSplitter()
        while not self.stop.is_set():
            data = port.read(max(1, port.in_waiting or 1))
            if not data:
                continue
            now = time.time()
            for line in splitter.feed(data):
                self.sink(line, now)
