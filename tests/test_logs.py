"""Log lines: secrets never, phone numbers masked from INFO up (call ids intact), JSON on request."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from callmon.masking import mask_phones


@pytest.mark.parametrize(("text", "shown"), [
    ("caller 13951000007 on 1795357820.12", "caller 139****0007 on 1795357820.12"),
    ("number 02586541234.", "number 025****1234."),
    ("uniqueid 1795357820.0 and 1795357821.15", "uniqueid 1795357820.0 and 1795357821.15"),
    ("short 110 and 5038", "short 110 and 5038"),
    ("already 139****0007", "already 139****0007"),
])
def test_mask_phones(text: str, shown: str) -> None:
    assert mask_phones(text) == shown


def _run(level: str, as_json: bool) -> str:
    code = (
        "import logging\n"
        "from callmon.logs import register_secret, setup_logging\n"
        f"setup_logging({level!r}, {as_json!r})\n"
        "register_secret('hunter2-secret')\n"
        "log = logging.getLogger('callmon.test')\n"
        "log.info('call from 13951000007 (linkedid 1795357820.12) with secret hunter2-secret')\n"
        "log.debug('debug: 13951000007')\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr


def test_info_lines_mask_numbers_and_secrets_debug_keeps_numbers() -> None:
    out = _run("DEBUG", False)
    info, debug = out.splitlines()
    assert "139****0007" in info and "1795357820.12" in info and "13951000007" not in info
    assert "hunter2-secret" not in out and "***" in info
    assert debug.endswith("debug: 13951000007")


def test_json_lines() -> None:
    out = _run("INFO", True)
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 1  # DEBUG not shown at INFO
    entry = lines[0]
    assert set(entry) == {"time", "level", "logger", "message"}
    assert entry["level"] == "INFO" and entry["logger"] == "callmon.test"
    assert "139****0007" in entry["message"] and "hunter2-secret" not in entry["message"]
    assert logging.getLevelName(entry["level"]) == logging.INFO


@pytest.mark.parametrize("as_json", [False, True])
def test_secrets_with_quotes_are_scrubbed_in_every_spelling(as_json: bool) -> None:
    """A quote or backslash changes under JSON, repr and URL encoding; each spelling is scrubbed."""
    secret = 'p"w\\d%@/:密'
    code = (
        "import logging, json\n"
        "from urllib.parse import quote\n"
        "from callmon.logs import register_secret, setup_logging\n"
        f"setup_logging('INFO', {as_json!r})\n"
        f"secret = {secret!r}\n"
        "register_secret(secret)\n"
        "log = logging.getLogger('callmon.test')\n"
        "log.info('plain %s repr %r url %s json %s', secret, secret, quote(secret, safe=''), json.dumps(secret))\n"
        "try:\n"
        "    raise ValueError(secret)\n"
        "except ValueError:\n"
        "    log.exception('failed')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    from urllib.parse import quote

    for spelling in (secret, repr(secret)[1:-1], quote(secret, safe=""), json.dumps(secret)[1:-1],
                     json.dumps(secret, ensure_ascii=False)[1:-1]):
        assert spelling not in out, (spelling, out)
    assert out.count("***") >= 5
