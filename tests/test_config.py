"""Configuration: defaults, TOML file, environment, secret file, errors with file:line."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from callmon.config import ConfigError, Secret, describe, load_config
from callmon.logs import register_secret, scrub
from tests.test_cli import callmon


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callmon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_file_then_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite:///from-file.db"\n\n[ami]\nhost = "10.0.0.5"\nport = 5039\n'
                           'secret = "s3cret-file"\n\n[rings]\nreading = "strict"\n')
    cfg = load_config(path, env={})
    assert cfg.database.url == "sqlite:///from-file.db"
    assert (cfg.ami.host, cfg.ami.port, cfg.ami.username) == ("10.0.0.5", 5039, "callmon")
    assert cfg.rings.policy().limit_ms == 11000
    env = {"CALLMON_DATABASE_URL": "postgresql+psycopg://x@h/db", "CALLMON_AMI_PORT": "6000",
           "CALLMON_AMI_USERNAME": "mon", "CALLMON_AMI_SECRET": "from-env", "CALLMON_AMI_PING_INTERVAL": "5"}
    cfg = load_config(path, env=env)
    assert cfg.database.url == "postgresql+psycopg://x@h/db"
    assert (cfg.ami.port, cfg.ami.username, cfg.ami.secret, cfg.ami.ping_interval) == (6000, "mon", "from-env", 5.0)
    cfg = load_config(None, env={"CALLMON_CONFIG": str(path)})
    assert cfg.ami.host == "10.0.0.5"


def test_secret_from_a_separate_file_and_never_shown(tmp_path: Path) -> None:
    secret_file = tmp_path / "ami.secret"
    secret_file.write_text("monitor110\n", encoding="utf-8")
    cfg = load_config(write(tmp_path, f'[ami]\nsecret_file = "{secret_file}"\n'), env={})
    assert cfg.ami.secret.reveal() == "monitor110"
    assert "monitor110" not in repr(cfg) and "monitor110" not in str(describe(cfg))
    assert isinstance(cfg.ami.secret, Secret)


def test_secrets_are_scrubbed_from_logs(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("hunter2-secret")
    assert scrub("login with hunter2-secret failed") == "login with *** failed"


@pytest.mark.parametrize(("text", "line", "words"), [
    ('[ami]\nport = "abc"\n', 2, "expected an integer"),
    ('[ami]\nhost = "x"\nbogus = 1\n', 3, "unknown key 'bogus' in [ami]"),
    ('[database]\nurl = "a"\n\n[nope]\nx = 1\n', 4, "unknown section [nope]"),
    ('[ami]\nport = \n', 2, "invalid TOML"),
    ('[rings]\nreading = "loose"\n', 1, "ring reading must be"),
    ('[site]\ntimezone = "Mars/Olympus"\n', 2, "unknown time zone"),
    ('[ami]\nport = 70000\n', 2, "AMI port must be 1-65535"),
    ('top = 1\n', 1, "expected a [section] table"),
])
def test_bad_config_file_names_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert words in str(info.value)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="environment variable CALLMON_AMI_PORT: \\[ami\\] port: expected an integer"):
        load_config(None, env={"CALLMON_AMI_PORT": "five"})


def test_cli_exits_non_zero_on_bad_config(tmp_path: Path) -> None:
    path = write(tmp_path, '[ami]\nport = "abc"\n')
    result = callmon("--config", str(path), "stats")
    assert result.returncode == 2
    assert f"{path}:2: [ami] port: expected an integer" in result.stderr
    missing = callmon("--config", str(tmp_path / "nope.toml"), "stats")
    assert missing.returncode == 2 and "no such config file" in missing.stderr


def test_config_command_masks_the_secret(tmp_path: Path) -> None:
    result = callmon("config", env={"CALLMON_AMI_SECRET": "very-secret-word"})
    assert result.returncode == 0
    assert "very-secret-word" not in result.stdout + result.stderr
    assert '"secret": "***"' in result.stdout


def test_log_level_from_config(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[log]\nlevel = "DEBUG"\n'), env={})
    assert logging.getLevelName(cfg.log.level) == logging.DEBUG


def test_the_shipped_example_config_is_valid() -> None:
    example = Path(__file__).parents[1] / "systemd" / "callmon.toml.example"
    cfg = load_config(example, env={"CALLMON_AMI_SECRET": "x"})  # the secret file exists only when installed
    assert cfg.database.url == "sqlite:////var/lib/callmon/callmon.db"
    assert cfg.rings.policy().limit_ms == 15000


def test_the_example_config_lists_every_key() -> None:
    """Every setting of the config object appears in the shipped example, so it cannot drift."""
    from dataclasses import fields

    from callmon.config import Config

    text = (Path(__file__).parents[1] / "systemd" / "callmon.toml.example").read_text(encoding="utf-8")
    missing = [f"[{section.name}] {key.name}" for section in fields(Config) if section.name != "source_file"
               for key in fields(getattr(Config(), section.name))
               if not re.search(rf"^{key.name}\s*=|# or {key.name} = ", text, re.M)]  # the secret: named, not set
    assert not missing, missing


def test_the_shown_config_never_holds_a_urls_password() -> None:
    from callmon.config import describe

    cfg = load_config(None, env={"CALLMON_DATABASE_URL": "postgresql+psycopg://callmon:db-pw@db/callmon",
                                 "CALLMON_ALERTS_WEBHOOK_URL": "https://hook:hook-pw@alerts.example/110",
                                 "CALLMON_AMI_QUEUE_LOG": "mysql+pymysql://ast:ql-pw@pbx/asterisk#queue_log"})
    shown = repr(describe(cfg))
    assert "db-pw" not in shown and "hook-pw" not in shown and "ql-pw" not in shown
    assert "postgresql+psycopg://callmon:***@db/callmon" in shown
