"""Malformed site grammars and config files, each with where and what the error must name.

Why: both files are edited by hand on site, often over SSH at night; a typo must come back as
``file:line: what is wrong``, never as a Python traceback.  Grammar variants are one-edit changes
of the real Changzhou grammar (so each breaks exactly one thing); config variants are small TOML
files.  ``line`` is the 1-based line the message must name (None: any line of the file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHANGZHOU = (ROOT / "grammars" / "changzhou-110.yaml").read_text(encoding="utf-8")


@dataclass(frozen=True)
class BadFile:
    name: str
    data: bytes
    line: int | None
    needle: str  # a piece of the message saying what is wrong
    xfail: str = ""  # a known gap, with the fix it needs


def line_of(text: str, anchor: str) -> int:
    assert text.count(anchor) >= 1, anchor
    return text[: text.index(anchor)].count("\n") + 1


def edit(name: str, old: str, new: str, needle: str, anchor: str | None = "", xfail: str = "") -> BadFile:
    """The Changzhou grammar with ``old`` (which occurs once) replaced; the error is expected on the
    line of ``anchor`` in the edited text ("" = where ``new`` is; None = any line)."""
    assert CHANGZHOU.count(old) == 1, f"{name}: {old!r} must occur once in the Changzhou grammar"
    text = CHANGZHOU.replace(old, new)
    line = None if anchor is None else line_of(text, anchor or new)
    return BadFile(f"grammar-{name}", text.encode("utf-8"), line, needle, xfail)


GRAMMARS = [
    edit("unclosed-quote", "site: 常州\n", "site: \"常州\n", "invalid YAML", None),
    edit("tab-indent", "  chars: 0.80\n  pinyin: 0.85", "  chars: 0.80\n\tpinyin: 0.85", "invalid YAML", "\tpinyin"),
    edit("bad-indent", "  within_seconds: 5\n", "  within_seconds: 5\n     stray: 1\n", "invalid YAML", "     stray"),
    edit("unknown-top-key", "rings:\n", "ringz:\n", "unknown key 'ringz'"),
    edit("unknown-nested-key", "  must_be_first: true\n", "  must_be_frist: true\n", "unknown key 'must_be_frist'"),
    edit("wrong-type-number", "  within_seconds: 5\n", "  within_seconds: five\n", "must be a number, not text"),
    edit("wrong-type-list", "    - 你好，{site}110\n    - 您好", "    - 你好，{site}110\n    - {a: 1}\n    - 您好",
         "must be text, not a mapping", "    - {a: 1}"),
    edit("out-of-range", "  within_seconds: 5\n", "  within_seconds: 500\n", "must be within 0.5..60"),
    edit("threshold-above-1", "  chars: 0.80\n", "  chars: 1.5\n", "must be within 0..1"),
    edit("nan-threshold", "  chars: 0.80\n", "  chars: .nan\n", "must be within 0..1"),
    edit("infinite-seconds", "  within_seconds: 5\n", "  within_seconds: .inf\n", "must be within 0.5..60"),
    edit("schema-2", "schema: 1\n", "schema: 2\n", "schema must be 1"),
    edit("duplicate-key", "site: 常州\n", "site: 常州\nsite: 无锡\n", "duplicate key 'site'", "site: 无锡"),
    edit("bad-id", "  - id: element.when\n", "  - id: Element.When\n", "must look like 'element.name'"),
    edit("missing-fixed-id", "  - id: element.when\n", "  - id: element.when2\n",
         "missing fixed item id(s) element.when", "elements:"),
    edit("budgets-do-not-add-up", "    - {id: rings, budget: 10, deduction: 10}",
         "    - {id: rings, budget: 11, deduction: 10}", "budgets sum to 101, not the total 100", "  items:"),
    edit("pass-mark-above-total", "  pass_mark: 80\n", "  pass_mark: 180\n", "must be within 0..100"),
    edit("bad-regex", "\"[0-9零一二三四五六七八九幺]{1,6}\"", "\"[0-9零一二三四五六七八九幺{1,6}\"",
         "not a valid regular expression"),
    edit("undefined-slot", "    - 你好，{site}110\n", "    - 你好，{city}110\n", "slot '{city}'"),
    edit("bad-template", "    - 你好，{site}110\n", "    - 你好，{site110\n", "bad template"),
    edit("template-conversion", "    - 你好，{site}110\n", "    - 你好，{site!x}110\n", "Unknown conversion specifier"),
    edit("template-format-spec", "    - 你好，{site}110\n", "    - 你好，{site:d}110\n", "Unknown format code"),
    edit("deep-nesting", "site: 常州\n", "site: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deep"),
    edit("huge-integer", "  limit: 3\n", "  limit: 1" + "0" * 5000 + "\n", "cannot read this value"),
    edit("undefined-alias", "  within_seconds: 5\n", "  within_seconds: *five\n", "invalid YAML"),
    edit("python-tag", "  within_seconds: 5\n", "  within_seconds: !!python/object/apply:os.system [true]\n",
         "must be a number"),
    edit("bad-int-tag", "  within_seconds: 5\n", "  within_seconds: !!int 5s\n", "cannot read this value"),
    edit("control-char", "site: 常州\n", "site: 常\x07州\n", "character #x0007 is not allowed"),
    BadFile("grammar-not-utf8", CHANGZHOU.encode("utf-8").replace("site: 常州".encode(), b"site: \xb3\xa3\xd6\xdd"),
            line_of(CHANGZHOU, "site: 常州"), "not UTF-8"),
    BadFile("grammar-utf16", CHANGZHOU.encode("utf-16"), 1, "not UTF-8"),
    BadFile("grammar-empty", b"", 1, "the file is empty"),
    BadFile("grammar-only-comments", b"# nothing yet\n", 1, "the file is empty"),
    BadFile("grammar-a-list", b"- schema: 1\n- site: x\n", 1, "grammar must be a mapping, not a list"),
    BadFile("grammar-alias-bomb", b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            b"e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n", 1, "unknown key 'a'"),
]


def toml(name: str, text: str, needle: str, anchor: str | int | None = "", xfail: str = "") -> BadFile:
    """A config file; the error is expected on the line of ``anchor`` ("" = the file's last line)."""
    line = anchor if isinstance(anchor, int) or anchor is None else (
        line_of(text, anchor) if anchor else text.rstrip("\n").count("\n") + 1)
    return BadFile(f"config-{name}", text.encode("utf-8"), line, needle, xfail)


CONFIGS = [
    toml("unclosed-table", "[site]\nname = \"x\"\n[ami\nport = 5038\n", "invalid TOML", "[ami"),
    toml("unclosed-string", "[site]\nname = \"常州\ntimezone = \"Asia/Shanghai\"\n", "invalid TOML", "name"),
    toml("duplicate-key", "[ami]\nport = 5038\nport = 5039\n", "invalid TOML"),
    toml("duplicate-table", "[ami]\nport = 5038\n[web]\nport = 1\n[ami]\nhost = \"x\"\n", "invalid TOML", 5),
    toml("no-equals", "[ami]\nport 5038\n", "invalid TOML"),
    toml("unknown-section", "[site]\nname = \"x\"\n\n[amii]\nport = 5038\n", "unknown section [amii]", "[amii]"),
    toml("unknown-key", "[ami]\nhost = \"pbx\"\nprot = 5038\n", "unknown key 'prot'"),
    toml("int-as-text", "[ami]\nport = \"5038x\"\n", "expected an integer"),
    toml("bool-as-text", "[speech]\nenabled = \"maybe\"\n", "expected true or false"),
    toml("list-as-int", "[recordings]\ndirs = 5\n", "expected a list of strings"),
    toml("list-of-ints", "[recordings]\ndirs = [1, 2]\n", "expected a list of strings"),
    toml("string-as-table", "[site]\nname = {first = \"a\"}\n", "expected a string"),
    toml("port-out-of-range", "[ami]\nhost = \"pbx\"\nport = 70000\n", "AMI port must be 1-65535"),
    toml("unknown-timezone", "[site]\ntimezone = \"Mars/Olympus_Mons\"\n", "unknown time zone"),
    toml("bad-regex", "[recordings]\npattern = \"(?P<linkedid>\"\n", "invalid regular expression"),
    toml("stereo-left", "[speech]\nstereo_left = \"left\"\n", "expected 'operator' or 'caller'"),
    toml("engine", "[speech]\nengine = \"kaldi\"\n", "expected 'vosk', 'whisper'"),
    toml("ring-cadence", "[rings]\non_ms = 0\n", "on_ms > 0", "[rings]"),
    toml("ring-reading", "[rings]\nlimit = 3\nreading = \"loose\"\n", "lenient' or 'strict", "[rings]"),
    toml("bare-key", "port = 5038\n", "expected a [section] table"),
    toml("serial-protocol", "[serial]\nsources = [\"port=/dev/ttyS0 protocol=morse\"]\n", "protocol 'morse'"),
    toml("serial-pattern-json", "[serial]\npatterns = ['{\"name\": \"nec\",']\n", "expected a JSON object"),
    toml("array-of-tables", "[site]\nname = \"x\"\n\n[[ami]]\nport = 5038\n", "expected a [section] table",
         "[[ami]]"),
    toml("log-level", "[log]\nlevel = \"LOUD\"\n", "level"),
    toml("nan-seconds", "[calls]\nttl_seconds = nan\n", "ttl_seconds"),
    toml("deep-nesting", "[site]\nname = " + "[" * 5000 + "]" * 5000 + "\n", "nest", "name"),
    BadFile("config-not-utf8", b"[site]\nname = \"\xb3\xa3\xd6\xdd\"\n", 2, "UTF-8"),
]
