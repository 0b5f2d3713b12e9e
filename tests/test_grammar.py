"""Site grammars: the Changzhou file, the content hash, and `file:line:` errors for bad files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callmon.cli import build_parser
from callmon.compliance.grammar import ELEMENT_IDS, FIXED_IDS, SITUATION_IDS, GrammarError, load_grammar

ROOT = Path(__file__).resolve().parent.parent
CHANGZHOU = ROOT / "grammars" / "changzhou-110.yaml"
BAD = Path(__file__).resolve().parent / "fixtures" / "grammars"
TEXT = CHANGZHOU.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str, name: str = "g.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def mutate(old: str, new: str) -> str:
    assert TEXT.count(old) == 1, f"{old!r} must occur once in the Changzhou grammar"
    return TEXT.replace(old, new)


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing ``needle``."""
    hits = [k for k, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


# --- the Changzhou grammar ---------------------------------------------------------------

def test_changzhou_loads_with_every_fixed_id_in_order() -> None:
    g = load_grammar(CHANGZHOU)
    assert g.site == "常州"
    assert g.items == FIXED_IDS
    assert tuple(e.id for e in g.elements) == ELEMENT_IDS
    assert tuple(s.id for s in g.situations) == SITUATION_IDS
    assert tuple(i.id for i in g.scoring.items) == FIXED_IDS
    assert sum(i.budget for i in g.scoring.items) == g.scoring.total == 100
    assert g.scoring.pass_mark == 80
    assert g.rings.limit == 3


def test_changzhou_greeting_is_first_within_five_seconds_with_optional_badge() -> None:
    g = load_grammar(CHANGZHOU).greeting
    assert "你好，{site}110" in g.templates
    assert g.must_be_first and g.within_seconds == 5
    badge = next(s for s in g.slots if s.name == "badge")
    assert badge.optional and badge.pattern
    texts = load_grammar(CHANGZHOU).greeting_texts()
    assert texts[0] == "你好，常州110"
    assert "您好，常州110，{badge}号接警员" in texts


def test_a_fixed_slot_value_is_filled_in(tmp_path: Path) -> None:
    text = mutate("    - 你好，{site}110\n", "    - 你好，{site}110\n    - 您好，{site}110，{badge}号接警员，{unit}\n")
    text = text.replace("    badge:\n", "    unit:\n      value: 指挥中心\n    badge:\n", 1)
    g = load_grammar(write(tmp_path, text))
    assert "您好，常州110，{badge}号接警员，指挥中心" in g.greeting_texts()


def test_changzhou_elements_have_many_paraphrases_and_caller_cues() -> None:
    g = load_grammar(CHANGZHOU)
    for e in g.elements:
        assert len(e.asks) >= 8, e.id
        assert len(e.ask_cues) >= 6, e.id
        assert len(e.volunteered) + len(e.volunteered_cues) >= 6, e.id
    assert "请说出具体的位置" in g.element("element.where").asks
    assert "请留下你的联系方式" in g.element("element.contact").asks


def test_changzhou_situations_carry_the_seed_responses() -> None:
    g = load_grammar(CHANGZHOU)
    seed = {
        "situation.calming": "请别紧张，慢慢讲清楚",
        "situation.repeat_call": "我们已经通知民警来了，我们再催一下",
        "situation.urgent_help": "请不要着急，我们马上派民警来",
        "situation.rude_caller": "请注意语言文明",
        "situation.harassment": "这里工作繁忙，请不要妨碍我们工作",
        "situation.complaint": "我们一定会在三个工作日内给你一个答复",
    }
    for item_id, phrase in seed.items():
        s = g.situation(item_id)
        assert any(phrase in r.phrases for r in s.responses), item_id
        assert s.triggers, item_id
    assert len(g.situation("situation.complaint").responses) == 4


def test_complaint_triggers_are_about_the_police_not_neighbours() -> None:
    s = load_grammar(CHANGZHOU).situation("situation.complaint")
    police = ("民警", "警察", "派出所", "出警", "你们")
    assert all(any(word in t for word in police) for t in s.triggers)
    assert all(any(word in t for word in police) for t in s.trigger_cues if t.startswith("投诉"))
    assert {"投诉邻居", "噪音"} <= set(s.not_trigger_cues)


def test_changzhou_prohibited_and_vetoes() -> None:
    g = load_grammar(CHANGZHOU)
    phrases = [p for grp in g.prohibited.groups for p in grp.phrases]
    assert {"你烦不烦", "这点小事也打110", "少废话", "你有病吧"} <= set(phrases)
    vetoes = {v.id: v for v in g.scoring.vetoes}
    assert vetoes["veto.abusive"].item == "prohibited" and vetoes["veto.abusive"].when == "found"
    abusive = next(grp for grp in g.prohibited.groups if grp.kind == vetoes["veto.abusive"].group)
    assert abusive.veto and "你有病吧" in abusive.phrases


# --- content hash ------------------------------------------------------------------------

def test_hash_ignores_comments_whitespace_quoting_and_path(tmp_path: Path) -> None:
    base = load_grammar(CHANGZHOU).content_hash
    assert len(base) == 64
    edited = ("# a new leading comment\n\n" + TEXT.replace("site: 常州", "site: \"常州\"   # quoted now")
              .replace("    - {id: rings, budget: 10, deduction: 10}", "    - id: rings\n      budget: 10\n"
                       "      deduction: 10\n").replace("\n\n", "\n\n\n"))
    assert edited != TEXT
    assert load_grammar(write(tmp_path, edited, "other-name.yaml")).content_hash == base


def test_hash_changes_when_a_phrase_or_weight_changes(tmp_path: Path) -> None:
    base = load_grammar(CHANGZHOU).content_hash
    phrase = mutate("      - 在哪个小区\n", "      - 在哪一个小区\n")
    weight = mutate("{id: prohibited, budget: 15, deduction: 5}", "{id: prohibited, budget: 15, deduction: 4}")
    assert load_grammar(write(tmp_path, phrase, "a.yaml")).content_hash != base
    assert load_grammar(write(tmp_path, weight, "b.yaml")).content_hash != base


# --- a site's own items ------------------------------------------------------------------

CUSTOM = ("custom:\n  - id: custom.farewell\n    name: 结束语\n    phrases: [再见, 感谢你的来电]\n")


def test_custom_items_are_allowed_after_the_fixed_ones(tmp_path: Path) -> None:
    text = CUSTOM + TEXT.replace("    - {id: rings, budget: 10, deduction: 10}",
                                 "    - {id: rings, budget: 8, deduction: 8}\n"
                                 "    - {id: custom.farewell, budget: 2, deduction: 2}")
    g = load_grammar(write(tmp_path, text))
    assert g.items == (*FIXED_IDS, "custom.farewell")
    assert g.custom[0].phrases == ("再见", "感谢你的来电")


# --- bad files ---------------------------------------------------------------------------

FIXTURES = [
    ("bad_syntax.yaml", 7, "invalid YAML: found unexpected end of stream "
                           "(while scanning a quoted scalar, which began at line 5)"),
    ("bad_unknown_top_key.yaml", 4, "grammar: unknown key 'greting' (did you mean 'greeting'? allowed: schema, "
                                    "site, greeting, elements, situations, prohibited, rings, scoring, thresholds, "
                                    "custom, elements_waived_by, dispatch_cues)"),
    ("bad_not_a_mapping.yaml", 2, "grammar must be a mapping, not a list"),
    ("bad_empty.yaml", 1, "the file is empty"),
]


@pytest.mark.parametrize(("name", "line", "message"), FIXTURES, ids=[f[0] for f in FIXTURES])
def test_bad_fixture_files(name: str, line: int, message: str) -> None:
    path = BAD / name
    with pytest.raises(GrammarError) as err:
        load_grammar(path)
    assert str(err.value) == f"{path}:{line}: {message}"


ABUSIVE = "".join(f"        - {p}\n" for p in ("你有病吧", "神经病", "滚蛋", "你脑子有问题", "活该", "去死", "你有毛病",
                                                 "白痴", "蠢货", "笨蛋"))
# (old, new, needle whose line the error must name, nth occurrence, message)
MUTATIONS: list[tuple[str, str, str, str, int, str]] = [
    ("unknown key", "    name: 何时\n", "    name: 何时\n    weight: 3\n", "weight: 3", 1,
     "elements entry: unknown key 'weight' (allowed: id, name, asks, ask_cues, volunteered, volunteered_cues, "
     "threshold, seed)"),
    ("wrong type", "  within_seconds: 5\n", "  within_seconds: five\n", "within_seconds: five", 1,
     "greeting.within_seconds must be a number, not text"),
    ("missing key", "    name: 何地\n", "", "- id: element.where", 1,
     "elements entry: missing required key 'name'"),
    ("threshold above 1", "  chars: 0.80\n", "  chars: 1.5\n", "chars: 1.5", 1,
     "thresholds.chars must be within 0..1, not 1.5"),
    ("negative threshold", "    chars: 0.85\n", "    chars: -0.1\n", "chars: -0.1", 1,
     "prohibited.threshold.chars must be within 0..1, not -0.1"),
    ("budgets not 100", "{id: rings, budget: 10,", "{id: rings, budget: 12,", "  items:", 1,
     "scoring.items: budgets sum to 102, not the total 100"),
    ("duplicate element id", "  - id: element.why\n", "  - id: element.who\n", "- id: element.who", 2,
     "elements: duplicate item id 'element.who'"),
    ("duplicate budget id", "{id: element.why, budget", "{id: element.who, budget", "{id: element.who,", 2,
     "scoring.items: duplicate item id 'element.who'"),
    ("undefined slot", "    - 您好，{site}110，{badge}号接警员\n", "    - 您好，{city}110，{badge}号接警员\n",
     "{city}", 1,
     "greeting.templates: slot '{city}' in '您好，{city}110，{badge}号接警员' is not defined (defined: badge, site)"),
    ("empty phrase list", "      phrases:\n" + ABUSIVE, "      phrases: []\n", "phrases: []", 1,
     "prohibited.辱骂.phrases must not be an empty list"),
    ("missing fixed id", "  - id: element.objects\n", "  - id: element.things\n", "elements:", 1,
     "elements: missing fixed item id(s) element.objects"),
    ("bad id format", "  - id: element.why\n", "  - id: Element.Why\n", "Element.Why", 1,
     "elements entry: id 'Element.Why' must look like 'element.name' (lowercase letters, digits, _)"),
    ("phrase not text", "      - 在哪个小区\n", "      - 110\n", "      - 110", 1,
     "element.where.asks entry must be text, not an integer"),
    ("duplicate phrase", "      - 在哪个小区\n", "      - 你现在在哪里\n", "      - 你现在在哪里", 2,
     "element.where.asks: duplicate phrase '你现在在哪里'"),
    ("bad regular expression cue", "'re:[0-9]{7,}'", "'re:[0-9{7,}'", "re:[0-9{7,}", 1,
     "element.contact.volunteered_cues: cue 're:[0-9{7,}': not a valid regular expression: unterminated character "
     "set at position 0"),
    ("cue with an empty part", "民警…态度,", "民警……态度,", "民警……态度", 1,
     "situation.complaint.trigger_cues: cue '民警……态度': every part of a cue needs at least one character (after "
     "removing punctuation)"),
    ("waiver naming no situation", "elements_waived_by: [situation.consultation,",
     "elements_waived_by: [situation.consult,", "elements_waived_by:", 1,
     "elements_waived_by: 'situation.consult' is not a situation id (known: situation.calming, situation.repeat_call, "
     "situation.urgent_help, situation.consultation, situation.rude_caller, situation.harassment, "
     "situation.complaint)"),
    ("deduction above budget", "{id: prohibited, budget: 15, deduction: 5}",
     "{id: prohibited, budget: 15, deduction: 20}", "deduction: 20", 1,
     "scoring.prohibited.deduction (20) exceeds its budget (15)"),
    ("pass mark above total", "  pass_mark: 80\n", "  pass_mark: 180\n", "pass_mark: 180", 1,
     "scoring.pass_mark must be within 0..100, not 180"),
    ("unknown veto group", "      group: 辱骂\n", "      group: 骂人\n", "group: 骂人", 1,
     "veto.abusive.group: '骂人' is not a kind of prohibited.groups"),
    ("veto on an unknown item", "      item: situation.urgent_help\n", "      item: situation.urgent\n",
     "item: situation.urgent", 1, "veto.urgent_refused.item: unknown item id 'situation.urgent'"),
    ("duplicate yaml key", "site: 常州\n", "site: 常州\nsite: 无锡\n", "site: 无锡", 1,
     "grammar: duplicate key 'site'"),
    ("budget for an unknown item", "    - {id: rings, budget: 10, deduction: 10}\n",
     "    - {id: rings, budget: 10, deduction: 10}\n    - {id: custom.extra, budget: 0, deduction: 0}\n",
     "custom.extra", 1, "scoring.items: unknown item id 'custom.extra'"),
    ("site redefined as slot", "    badge:\n", "    site:\n      value: 无锡\n    badge:\n", "    site:", 1,
     "greeting.slots: 'site' is filled from the top-level site and cannot be redefined"),
    ("schema version", "schema: 1\n", "schema: 2\n", "schema: 2", 1, "schema must be 1, not 2"),
    ("missing top-level key", "schema: 1\n", "", "site: 常州", 1, "grammar: missing required key 'schema'"),
    ("greeting too late", "  within_seconds: 5\n", "  within_seconds: 90\n", "within_seconds: 90", 1,
     "greeting.within_seconds must be within 0.5..60, not 90"),
    ("rings not an integer", "  limit: 3\n", "  limit: 3.5\n", "limit: 3.5", 1,
     "rings.limit must be an integer, not a number"),
    ("unquoted yes/no key", "      when: found\n", "      on: found\n", "on: found", 1,
     "scoring.vetoes entry: keys must be text, not true/false (quote it: YAML reads on/off/yes/no as true/false)"),
    # found by tests/faults: these passed `grammar check` (nan) or ended in a traceback (the others)
    ("nan threshold", "  chars: 0.80\n", "  chars: .nan\n", "chars: .nan", 1,
     "thresholds.chars must be within 0..1, not nan"),
    ("integer too large for a float", "  limit: 3\n", "  limit: 1" + "0" * 400 + "\n", "limit: 1000", 1,
     "rings.limit must be within >= 1, not inf"),
    ("template conversion", "    - 你好，{site}110\n", "    - 你好，{site!x}110\n", "{site!x}", 1,
     "greeting.templates: bad template '你好，{site!x}110': Unknown conversion specifier x"),
    ("template format spec", "    - 你好，{site}110\n", "    - 你好，{site:d}110\n", "{site:d}", 1,
     "greeting.templates: bad template '你好，{site:d}110': Unknown format code 'd' for object of type 'str'"),
    ("nested too deep", "site: 常州\n", "site: " + "[" * 3000 + "]" * 3000 + "\n", "site: [[[", 1,
     "invalid YAML: lists or mappings nested too deep"),
]


@pytest.mark.parametrize(("case", "old", "new", "needle", "nth", "message"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_bad_grammar_names_file_line_and_problem(tmp_path: Path, case: str, old: str, new: str, needle: str,
                                                 nth: int, message: str) -> None:
    text = mutate(old, new)
    path = write(tmp_path, text)
    with pytest.raises(GrammarError) as err:
        load_grammar(path)
    assert str(err.value) == f"{path}:{line_of(text, needle, nth)}: {message}"


def test_unreadable_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(GrammarError, match=r":1: cannot read"):
        load_grammar(tmp_path / "missing.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("site: caf\xe9\n".encode("latin-1"))
    with pytest.raises(GrammarError, match=r"latin1.yaml:1: cannot read"):
        load_grammar(bad)
    bad.write_bytes("schema: 1\n\nsite: caf\xe9\n".encode("latin-1"))  # the line of the first bad byte
    with pytest.raises(GrammarError, match=r"latin1.yaml:3: cannot read: not UTF-8 text, byte 0xe9 at offset 20 "):
        load_grammar(bad)


# --- the command -------------------------------------------------------------------------

def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    args = build_parser().parse_args(argv)
    code = args.func(None, args)
    out, err = capsys.readouterr()
    return int(code), out, err


def test_grammar_check_prints_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["grammar", "check", str(CHANGZHOU)], capsys)
    assert code == 0 and err == ""
    g = load_grammar(CHANGZHOU)
    assert "site: 常州" in out
    assert "你好，{site}110" in out
    for item in g.scoring.items:
        assert any(line.split()[:3] == [item.id, str(item.budget), str(item.deduction)]
                   for line in out.splitlines() if line.strip()), item.id
    where = g.element("element.where")
    assert any(line.split()[:3] == ["element.where", f"{len(where.asks)}+{len(where.ask_cues)}",
                                    f"{len(where.volunteered)}+{len(where.volunteered_cues)}"]
               for line in out.splitlines())
    assert "elements not owed when triggered: situation.consultation, situation.harassment" in out
    total = sum(len(p.phrases) for p in g.prohibited.groups)
    assert "situation.complaint" in out and f"prohibited: {total} phrases" in out
    assert "pass mark: 80 of 100" in out
    assert f"content hash: {g.content_hash}" in out


def test_grammar_check_bad_file_exits_2_with_file_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD / "bad_unknown_top_key.yaml"
    code, out, err = run(["grammar", "check", str(path)], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"callmon: {path}:4: grammar: unknown key 'greting'")


def test_custom_item_id_must_be_custom_dot_name(tmp_path: Path) -> None:
    text = CUSTOM.replace("custom.farewell", "farewell") + TEXT
    path = write(tmp_path, text)
    with pytest.raises(GrammarError) as err:
        load_grammar(path)
    assert str(err.value) == (f"{path}:2: custom entry: id 'farewell' must look like 'custom.name' "
                              "(lowercase letters, digits, _)")


@pytest.mark.parametrize(("spec", "message"), [
    ("      value: \"7\"\n      pattern: '[0-9]+'\n", "greeting.slots.badge: give exactly one of 'value' or 'pattern'"),
    ("      pattern: '[0-9'\n", "greeting.slots.badge.pattern is not a valid regular expression: "
                                "unterminated character set at position 0"),
    ("      pattern: !custom '[0-9]'\n", "greeting.slots.badge.pattern must be text, not !custom"),
])
def test_bad_slot_definitions(tmp_path: Path, spec: str, message: str) -> None:
    old = "    badge:\n      pattern: \"[0-9零一二三四五六七八九幺]{1,6}\"\n"
    text = mutate(old, "    badge:\n" + spec)
    path = write(tmp_path, text)
    with pytest.raises(GrammarError) as err:
        load_grammar(path)
    assert str(err.value).startswith(f"{path}:")
    assert str(err.value).split(": ", 1)[1] == message


def test_unknown_tag_on_a_key_is_reported_not_raised(tmp_path: Path) -> None:
    text = mutate("site: 常州\n", "!weird site: 常州\n")
    path = write(tmp_path, text)
    with pytest.raises(GrammarError, match=rf"^{path}:{line_of(text, '!weird')}: cannot read this value"):
        load_grammar(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(0, len(TEXT)), length=st.integers(0, 40), junk=st.text(max_size=6))
def test_any_damaged_file_gives_a_grammar_or_a_file_line_error(tmp_path: Path, start: int, length: int,
                                                               junk: str) -> None:
    text = TEXT[:start] + junk + TEXT[start + length:]
    path = write(tmp_path, text)
    try:
        load_grammar(path)
    except GrammarError as exc:
        assert re.match(rf"{re.escape(str(path))}:\d+: \S", str(exc)), str(exc)


def test_control_character_names_its_line(tmp_path: Path) -> None:
    text = mutate("site: 常州\n", "site: 常\x07州\n")
    path = write(tmp_path, text)
    with pytest.raises(GrammarError) as err:
        load_grammar(path)
    assert str(err.value) == f"{path}:{line_of(text, 'site: ')}: invalid YAML: character #x0007 is not allowed"
