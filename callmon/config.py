"""One configuration object: defaults, then a TOML file, then the environment.

Every setting lives in a dataclass section below with its default.  A TOML
file (``--config`` or ``CALLMON_CONFIG``) overrides defaults; environment
variables ``CALLMON_<SECTION>_<KEY>`` override the file.  The AMI secret may
also come from a separate file readable only by the service user.  A bad file
is reported as ``file:line: what was expected``.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callmon.calls.rings import RingPolicy


class ConfigError(Exception):
    """A configuration problem, worded for the person editing the file."""


class Secret(str):
    """A string that never shows itself in a repr, a log line or a traceback."""

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"

    def reveal(self) -> str:
        return str.__str__(self)


@dataclass
class SiteConfig:
    """The command center."""

    name: str = "常州"
    timezone: str = "Asia/Shanghai"


@dataclass
class DatabaseConfig:
    """Where calls are stored (any SQLAlchemy URL; SQLite and PostgreSQL are tested)."""

    url: str = "sqlite:///callmon.db"


@dataclass
class AmiConfig:
    """The Asterisk Manager Interface connection."""

    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "callmon"
    secret: Secret = field(default_factory=lambda: Secret(""))
    secret_file: str = ""
    pbx: str = "asterisk"
    connect_timeout: float = 10.0
    ping_interval: float = 20.0
    ping_timeout: float = 10.0
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    queue_log: str = ""  # queue_log file, or <SQLAlchemy URL>#<table>: calls missed on AMI are backfilled from it


@dataclass
class CallsConfig:
    """How events become calls."""

    ttl_seconds: float = 6 * 3600.0
    grace_seconds: float = 30.0


@dataclass
class RingsConfig:
    """Ring cadence and the ring limit (section 2 of the domain notes)."""

    on_ms: int = 1000
    off_ms: int = 4000
    limit: int = 3
    reading: str = "lenient"

    def policy(self) -> RingPolicy:
        return RingPolicy(self.on_ms, self.off_ms, self.limit, self.reading)


@dataclass
class StoreConfig:
    """Batching of writes to the database."""

    batch_events: int = 2000
    flush_seconds: float = 0.5


@dataclass
class SpoolConfig:
    """The local durable spool: AMI items on disk before processing, kept until the database has them."""

    dir: str = ""  # "" = beside the SQLite file (<file>.spool), else ./spool (the service's state directory)
    fsync_seconds: float = 1.0  # at most this much is lost on power loss (a kill -9 loses nothing)
    segment_mb: int = 32


@dataclass
class RecordingsConfig:
    """Where call recordings are found.

    Paths named in the AMI events are tried as they are, then by file name in
    each of ``dirs``; files in ``dirs`` whose name matches ``pattern`` (a regex
    with a ``linkedid`` or ``uniqueid`` group) belong to that call too.
    """

    dirs: list[str] = field(default_factory=list)
    pattern: str = r"(?P<linkedid>\d+\.\d+)(?:-(?P<role>caller|operator))?\.wav$"
    caller_suffix: str = "-caller"
    operator_suffix: str = "-operator"


@dataclass
class SpeechConfig:
    """Recognition: engine and model ("" = the best Mandarin model installed), workers."""

    enabled: bool = True
    engine: str = ""
    model: str = ""
    models_dir: str = ""
    threads: int = 2
    stereo_left: str = "operator"
    max_attempts: int = 5
    retry_seconds: float = 30.0
    lease_seconds: float = 900.0
    poll_seconds: float = 2.0
    low_confidence: float = 0.5


@dataclass
class ComplianceConfig:
    """Which site grammar judges the calls."""

    grammar: str = "grammars/changzhou-110.yaml"


@dataclass
class WebConfig:
    """The review UI and its JSON API: ``callmon web``, or ``callmon run`` when ``enabled``."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8110
    secure_cookies: bool = False  # set behind TLS: the session cookie is then sent over HTTPS only
    idle_minutes: float = 30.0
    dispute_days: float = 7.0
    calibration_percent: float = 2.0
    unmasked_roles: list[str] = field(default_factory=lambda: ["admin", "supervisor"])
    login_max_failures: int = 5
    login_window_minutes: float = 15.0
    page_size: int = 50


@dataclass
class HttpConfig:
    """``callmon run``'s HTTP address: /healthz, /readyz, /metrics, and the review UI when [web] enabled."""

    host: str = "127.0.0.1"
    port: int = 8110
    metrics_token: Secret = field(default_factory=lambda: Secret(""))  # Bearer token for /metrics; "" = off
    metrics_token_file: str = ""
    ready_max_backlog: int = 500  # transcription jobs waiting above which /readyz says not ready


@dataclass
class SerialConfig:
    """Serial devices ``callmon run`` reads beside AMI, one spec string each (see docs/operations.md)."""

    sources: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)  # JSON objects: {"name", "regex", "date_format"}
    gap_seconds: float = 0.0  # rings stopped this long with no answer: abandoned (0 = twice the ring period)
    match_seconds: float = 10.0  # an AMI record and a serial record of one caller this close are one call


@dataclass
class AlertsConfig:
    """Where a ring passing the limit is announced besides the wallboard (rate-limited)."""

    webhook_url: str = ""  # POSTed one JSON object per call that passed the limit
    command: str = ""  # run with the same JSON on stdin
    max_per_minute: int = 30
    timeout_seconds: float = 3.0


@dataclass
class ExportConfig:
    """The monthly compliance report (``callmon export``, the export timer, the web download)."""

    dir: str = "exports"
    formats: list[str] = field(default_factory=lambda: ["xlsx", "csv", "pdf"])
    mask_numbers: bool = True  # caller numbers in the detail sheets as 138****5678
    font: str = ""  # a CJK TrueType font for the PDF; "" = WenQuanYi Zen Hei from Debian


@dataclass
class RetentionConfig:
    """How long call evidence is kept (``callmon purge`` and its daily timer); 0 days = forever.

    Call records, raw events and scores are never purged: the figures and verdicts stay checkable.
    """

    recordings_days: int = 0
    transcripts_days: int = 0
    hold_open_reviews: bool = True  # flagged-unreviewed, disputed or still disputable calls keep their evidence


@dataclass
class LogConfig:
    """Logging to stderr (journald): one line per event of note."""

    level: str = "INFO"
    json: bool = False  # one JSON object per line (time, level, logger, message) for log shippers


@dataclass
class Config:
    site: SiteConfig = field(default_factory=SiteConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    ami: AmiConfig = field(default_factory=AmiConfig)
    calls: CallsConfig = field(default_factory=CallsConfig)
    rings: RingsConfig = field(default_factory=RingsConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    recordings: RecordingsConfig = field(default_factory=RecordingsConfig)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    compliance: ComplianceConfig = field(default_factory=ComplianceConfig)
    web: WebConfig = field(default_factory=WebConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    serial: SerialConfig = field(default_factory=SerialConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    log: LogConfig = field(default_factory=LogConfig)
    source_file: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)

    def sections(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source_file"}


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SECTION_NAMES = [f.name for f in fields(Config) if f.name != "source_file"]


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """Convert a TOML or environment value to the setting's type, or explain."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return number
    if kind == list[str]:
        if isinstance(value, str) and value.strip().startswith("["):  # an environment variable holding a JSON list
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{where}: expected a JSON list of strings: {exc}") from None
        elif isinstance(value, str):
            return [part for part in value.split(",") if part] if "," in value or value else []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return list(value)
    if kind is Secret:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string")
        return Secret(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _line_of(text: str, section: str, key: str | None) -> int:
    """Line of ``key`` inside ``[section]`` (or of the section header) in TOML text."""
    current = None
    header = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]")
    for number, line in enumerate(text.splitlines(), 1):
        match = header.match(line)
        if match:
            current = match.group(1)
            if key is None and current == section:
                return number
            continue
        if current == section and key and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return number
    return 1


def _apply(cfg: Config, section: str, key: str, value: Any, where: str) -> None:
    if section not in SECTION_NAMES:
        raise ConfigError(f"{where}: unknown section [{section}]; expected one of {', '.join(SECTION_NAMES)}")
    target = getattr(cfg, section)
    hints = get_type_hints(type(target))
    names = [f.name for f in fields(target)]
    if key not in names:
        raise ConfigError(f"{where}: unknown key {key!r} in [{section}]; expected one of {', '.join(names)}")
    setattr(target, key, _coerce(value, hints[key], f"{where}: [{section}] {key}"))


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Config:
    """Defaults, then the TOML file (if any), then ``CALLMON_*`` variables."""
    env = dict(os.environ if env is None else env)
    cfg = Config()
    path = path or env.get("CALLMON_CONFIG") or None
    if path:
        _load_file(cfg, Path(path))
    _load_env(cfg, env)
    _finish(cfg, env)
    return cfg


def _load_file(cfg: Config, path: Path) -> None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{bad_line}: not UTF-8 text, byte 0x{raw[exc.start]:02x} at offset {exc.start}") \
            from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        line = match.group(1) if match else "1"
        raise ConfigError(f"{path}:{line}: invalid TOML: {exc}") from None
    except RecursionError:
        deep = next((n for n, ln in enumerate(text.splitlines(), 1) if "[[[[" in ln.replace(" ", "")), 1)
        raise ConfigError(f"{path}:{deep}: invalid TOML: arrays or tables nested too deep") from None
    cfg.source_file = str(path)
    for section, values in data.items():
        if not isinstance(values, dict):
            where = f"{path}:{_find_top_key(text, section)}"
            raise ConfigError(f"{where}: expected a [section] table, found a bare key {section!r}")
        for key, value in values.items():
            where = f"{path}:{_line_of(text, section, key)}"
            if section not in SECTION_NAMES:
                where = f"{path}:{_line_of(text, section, None)}"
            _apply(cfg, section, key, value, where)


def _find_top_key(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"^\s*(?:{re.escape(key)}\s*[=.]|\[\[\s*{re.escape(key)}\s*\]\])", line):
            return number
    return 1


def _load_env(cfg: Config, env: dict[str, str]) -> None:
    for name, value in sorted(env.items()):
        if not name.startswith("CALLMON_") or name in ("CALLMON_CONFIG",) or name.startswith("CALLMON_TEST_"):
            continue
        rest = name[len("CALLMON_"):].lower()
        section = next((s for s in SECTION_NAMES if rest.startswith(s + "_")), None)
        if section is None:
            continue
        _apply(cfg, section, rest[len(section) + 1:], value, f"environment variable {name}")


def _finish(cfg: Config, env: dict[str, str]) -> None:
    """Cross-field checks and the secret file."""
    if cfg.ami.secret_file and not cfg.ami.secret:
        try:
            cfg.ami.secret = Secret(Path(cfg.ami.secret_file).read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"{cfg.ami.secret_file}: cannot read the AMI secret file: {exc.strerror}") from None
    if cfg.http.metrics_token_file and not cfg.http.metrics_token:
        try:
            cfg.http.metrics_token = Secret(Path(cfg.http.metrics_token_file).read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"{cfg.http.metrics_token_file}: cannot read the metrics token file: "
                              f"{exc.strerror}") from None
    from callmon.sources.serial_spec import parse_patterns, parse_spec

    try:
        custom = tuple(parse_patterns(cfg.serial.patterns))
    except ValueError as exc:
        raise ConfigError(f"{_where(cfg, 'serial', 'patterns')}: {exc}") from None
    for k, spec in enumerate(cfg.serial.sources):
        try:
            parse_spec(spec, custom)
        except ValueError as exc:
            raise ConfigError(f"{_where(cfg, 'serial', 'sources')}: source {k + 1}: {exc}") from None
    try:
        ZoneInfo(cfg.site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{_where(cfg, 'site', 'timezone')}: unknown time zone {cfg.site.timezone!r}") from None
    try:
        re.compile(cfg.recordings.pattern)
    except re.error as exc:
        raise ConfigError(f"{_where(cfg, 'recordings', 'pattern')}: invalid regular expression: {exc}") from None
    if cfg.speech.stereo_left not in ("operator", "caller"):
        raise ConfigError(f"{_where(cfg, 'speech', 'stereo_left')}: expected 'operator' or 'caller'")
    if cfg.speech.engine not in ("", "vosk", "whisper"):
        raise ConfigError(f"{_where(cfg, 'speech', 'engine')}: "
                          "expected 'vosk', 'whisper' or empty (the best installed)")
    try:
        cfg.rings.policy()
    except ValueError as exc:
        raise ConfigError(f"{_where(cfg, 'rings', None)}: {exc}") from None
    if cfg.log.level.upper() not in LOG_LEVELS:
        raise ConfigError(f"{_where(cfg, 'log', 'level')}: expected a log level ({', '.join(LOG_LEVELS)}), "
                          f"got {cfg.log.level!r}")
    if not 0 < cfg.ami.port < 65536:
        raise ConfigError(f"{_where(cfg, 'ami', 'port')}: AMI port must be 1-65535, got {cfg.ami.port}")


def _where(cfg: Config, section: str, key: str | None) -> str:
    if cfg.source_file:
        text = Path(cfg.source_file).read_text(encoding="utf-8")
        return f"{cfg.source_file}:{_line_of(text, section, key)}"
    return f"[{section}]" + (f" {key}" if key else "")


def describe(cfg: Config) -> dict[str, dict[str, Any]]:
    """The effective settings, secrets masked, for ``callmon config``."""
    out: dict[str, dict[str, Any]] = {}
    for section, obj in cfg.sections().items():
        out[section] = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            out[section][f.name] = ("***" if value else "") if isinstance(value, Secret) else value
    out["database"]["url"] = _hide_password(cfg.database.url)  # as secret as the AMI one
    out["alerts"]["webhook_url"] = _hide_password(cfg.alerts.webhook_url)
    out["ami"]["queue_log"] = _hide_password(cfg.ami.queue_log)
    return out


def _hide_password(url: str) -> str:
    """``scheme://user:***@host/…``: a URL's password never shown, whatever the scheme."""
    return re.sub(r"(://[^/:@\s]*:)[^@/\s]*@", r"\1***@", url)
