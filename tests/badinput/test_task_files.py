"""Bad task files: every one gets a plain error naming the file and the key, never a
traceback or an unbounded message, and the other task files in the folder still load."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from jira_esm_connector.config import load_task_dir
from jira_esm_connector.config.errors import TaskFileError
from jira_esm_connector.config.event import EventTask
from jira_esm_connector.config.scheduled import ScheduledTask
from jira_esm_connector.pipeline.staging import run_dir

from .conftest import MAX_MESSAGE
from .tally import record

REPO_ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = REPO_ROOT / "include" / "mappings"
GOOD_FILE = "import_1_users_to_persons.yaml"  # the bystander that must keep loading
BASES = {
    "scheduled": MAPPINGS / "import_3_issues_to_incidents.yaml",
    "event": MAPPINGS / "event_create_issue.yaml",
}
ALLOWED = {
    "scheduled": {f.alias or n for n, f in ScheduledTask.model_fields.items()},
    "event": {f.alias or n for n, f in EventTask.model_fields.items()},
}


def _base(kind: str) -> dict[str, Any]:
    return yaml.safe_load(BASES[kind].read_text(encoding="utf-8"))


def _folder(tmp: Path, bad_name: str, bad: bytes | str) -> Path:
    """A task folder with the bystander (a good file) and one bad file."""
    for old in tmp.glob("*.yaml"):
        old.unlink()
    (tmp / GOOD_FILE).write_bytes((MAPPINGS / GOOD_FILE).read_bytes())
    path = tmp / bad_name
    path.write_bytes(bad if isinstance(bad, bytes) else bad.encode("utf-8"))
    return tmp


def _good_name() -> str:
    return yaml.safe_load((MAPPINGS / GOOD_FILE).read_text())["name"]


def _load(folder: Path, bad_name: str) -> tuple[TaskFileError | None, Any]:
    """Load the folder; the bystander must be there; return the bad file's error (or None)."""
    result = load_task_dir(folder)  # a raw exception here fails the test: that is the point
    assert _good_name() in result.tasks, f"the good file was affected: {[str(e) for e in result.errors]}"
    errors = [e for e in result.errors if e.file == bad_name]
    assert len(result.errors) == len(errors), f"errors about other files: {[str(e) for e in result.errors]}"
    assert len(errors) <= 1
    return (errors[0] if errors else None), result


def _assert_clear(err: TaskFileError, bad_name: str, key: str | None, *, bounded: bool = True) -> None:
    text = str(err)
    assert text.startswith(f"{bad_name}:"), text
    assert "Traceback" not in text and "pydantic" not in text.lower() and "For further information" not in text, text
    if key is not None:
        keys = [k or "" for k, _ in err.problems]
        named = any(k == key or k.startswith((key + ".", key + "[")) for k in keys) or f"'{key}'" in text
        named = named or (len(key) > 60 and f"'{key[:40]}" in text)  # a huge key, shown cut short
        assert named, (
            f"the error does not name key {key!r}: {text[:500]}"
        )
    if bounded:
        assert len(text) < MAX_MESSAGE, f"unbounded message ({len(text)} characters)"


# ---- wrong types, missing keys, unknown keys ----------------------------------------------------

SMALL_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10**6, 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.sampled_from(["a", "from", "value", "x"]), st.integers(), max_size=2),
)
UNKNOWN_KEYS = st.from_regex(r"\A[a-z][a-z_]{0,15}\Z", fullmatch=True)


@st.composite
def broken_task(draw) -> tuple[str, dict[str, Any], str, str]:
    kind = draw(st.sampled_from(sorted(BASES)))
    doc = _base(kind)
    change = draw(st.sampled_from(["wrong type", "missing key", "unknown key", "misspelt key"]))
    if change == "wrong type":
        key = draw(st.sampled_from(sorted(doc)))
        doc[key] = draw(SMALL_VALUES.filter(lambda v, old=doc[key]: v != old))
    elif change == "missing key":
        key = draw(st.sampled_from(sorted(doc)))
        del doc[key]
    elif change == "unknown key":
        key = draw(UNKNOWN_KEYS.filter(lambda k: k not in ALLOWED[kind]))
        doc[key] = draw(SMALL_VALUES)
    else:  # a typo of a real key: the error should say "did you mean"
        real = draw(st.sampled_from(sorted(doc)))
        pos = draw(st.integers(0, len(real) - 1))
        key = real[:pos] + real[pos + 1 :] if len(real) > 3 else real + "x"
        if key in ALLOWED[kind]:
            key = real + "s"
        doc[key] = doc.pop(real)
    return kind, doc, change, key


@given(case=broken_task())
def test_broken_task_files_name_file_and_key(case, tmp_path_factory) -> None:
    kind, doc, change, key = case
    folder = tmp_path_factory.mktemp("tasks", numbered=True)
    bad_name = f"bad_{kind}.yaml"
    err, _ = _load(_folder(folder, bad_name, yaml.safe_dump(doc, allow_unicode=True)), bad_name)
    if err is None:
        # e.g. an optional key removed, or a value of another type that still means something
        assert change in ("wrong type", "missing key"), f"{change} {key!r} was accepted"
        record(f"task file: {change}", "inert")
        return
    if change == "missing key" or (change == "wrong type" and doc.get(key, 0) in (None, {}, [], "")):
        # null or empty: as if absent -- the error may surface where the value is used
        # a required key is named; an optional one (e.g. payload) may show up where it is used
        _assert_clear(err, bad_name, None)
        assert err.key is not None or key in str(err), str(err)
    else:
        _assert_clear(err, bad_name, key)
    if change == "misspelt key":
        assert "did you mean" in str(err) or "allowed keys" in str(err), str(err)
    record(f"task file: {change}", "refused")


# ---- bytes that are not UTF-8 text, control characters -----------------------------------------

@given(
    junk=st.one_of(
        st.binary(min_size=1, max_size=8).filter(lambda b: _not_utf8(b)),
        st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xe2\x82", b"caf\xe9", b"\x80"]),
    ),
    where=st.sampled_from(["in a value", "in a key", "at the start", "at the end"]),
)
def test_non_utf8_bytes_are_refused(junk: bytes, where: str, tmp_path_factory) -> None:
    text = (MAPPINGS / "import_3_issues_to_incidents.yaml").read_bytes()
    if where == "in a value":
        text = text.replace(b"template: incident", b"template: incident" + junk, 1)
    elif where == "in a key":
        text = text.replace(b"\nfolder:", b"\nfol" + junk + b"der:", 1)
    elif where == "at the start":
        text = junk + text
    else:
        text = text + junk
    folder = tmp_path_factory.mktemp("tasks", numbered=True)
    err, _ = _load(_folder(folder, "latin.yaml", text), "latin.yaml")
    assert err is not None, "bytes that are not UTF-8 were accepted"
    _assert_clear(err, "latin.yaml", None)
    assert "UTF-8" in str(err), str(err)
    record("task file: non-UTF-8 bytes", "refused")


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@given(ch=st.sampled_from([c for c in map(chr, range(32)) if c not in "\t\n\r"] + ["\x7f", "\ufffe"]))
def test_control_characters_are_refused_with_a_line(ch: str, tmp_path_factory) -> None:
    text = (MAPPINGS / "import_3_issues_to_incidents.yaml").read_text(encoding="utf-8")
    text = text.replace("template: incident", f'template: "inci{ch}dent"', 1)
    folder = tmp_path_factory.mktemp("tasks", numbered=True)
    err, _ = _load(_folder(folder, "ctrl.yaml", text), "ctrl.yaml")
    if err is None:  # DEL is printable to YAML; it must then arrive as data, unchanged
        record("task file: control characters", "inert")
        return
    _assert_clear(err, "ctrl.yaml", None)
    assert err.line is not None or err.key is not None, str(err)
    record("task file: control characters", "refused")


# ---- names that collide ---------------------------------------------------------------------

def _named(name: str) -> str:
    doc = _base("scheduled")
    doc["name"] = name
    return yaml.safe_dump(doc)


def test_two_files_with_the_same_name(tmp_path: Path) -> None:
    name = _base("scheduled")["name"]
    folder = _folder(tmp_path, "a_first.yaml", _named(name))
    (folder / "b_second.yaml").write_text(_named(name))
    result = load_task_dir(folder)
    assert _good_name() in result.tasks and name in result.tasks
    assert result.files[name].name == "a_first.yaml"
    [err] = result.errors
    _assert_clear(err, "b_second.yaml", "name")
    assert "a_first.yaml" in str(err)
    record("task file: name collision", "refused")


VARIANTS = [
    ("jira_issues", "Jira_Issues"),
    ("jira_issues", "JIRA_ISSUES"),
    ("jira_issues", "_jira_issues"),
    ("jira_issues", "jira_issues_"),
    ("jira_issues", ".jira_issues"),
    ("jira_issues", "jira_issues."),
    ("jira_issues", "__jira_issues.."),
]


@pytest.mark.parametrize("first, second", VARIANTS)
def test_names_differing_in_case_or_dots_do_not_share_a_staging_folder(first: str, second: str, tmp_path: Path) -> None:
    """Either the loader refuses the second name (naming the file and key ``name``), or the
    two tasks get different staging folders (also on case-insensitive file systems)."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    _folder(folder, "a.yaml", _named(first))
    (folder / "b.yaml").write_text(_named(second))
    result = load_task_dir(folder)
    if second not in result.tasks:
        [err] = [e for e in result.errors if e.file == "b.yaml"]
        _assert_clear(err, "b.yaml", "name")
        record("task file: name collision", "refused")
        return
    a = run_dir(tmp_path / "staging", first, "run_1")
    b = run_dir(tmp_path / "staging", second, "run_1")
    assert str(a).casefold() != str(b).casefold(), f"{first!r} and {second!r} share the staging folder {a}"
    record("task file: name collision", "inert")


# ---- huge values, YAML alias bombs, huge files (fixed by the parallel issue-8 work) -------------

HUGE = 200_000


@pytest.mark.parametrize(
    "key, value",
    [
        ("name", list(range(HUGE // 5))),
        ("jira_conn_id", {"a": "b" * HUGE}),
        ("tags", [{"x": "y" * HUGE}]),
        ("schedule", ["*"] * (HUGE // 5)),  # under the file-size cap: the key itself must be named
        ("x" * HUGE, 1),
    ],
    ids=["name-list", "conn-id-mapping", "tags-mapping", "schedule-list", "huge-unknown-key"],
)
def test_huge_values_give_bounded_messages(key: str, value: Any, tmp_path: Path) -> None:
    doc = _base("scheduled")
    doc[key] = value
    err, _ = _load(_folder(tmp_path, "huge.yaml", yaml.safe_dump(doc)), "huge.yaml")
    assert err is not None
    _assert_clear(err, "huge.yaml", key, bounded=False)
    assert len(str(err)) < MAX_MESSAGE, f"unbounded message ({len(str(err))} characters)"
    record("task file: huge values", "refused")


def test_huge_values_that_fit_are_refused_or_inert(tmp_path: Path) -> None:
    """Huge text where text belongs: refused with a short message, or kept as data."""
    for key in ("jql", "description", "mode", "template"):
        doc = _base("scheduled")
        doc[key] = "x" * HUGE
        err, result = _load(_folder(tmp_path, "big.yaml", yaml.safe_dump(doc, width=HUGE * 2)), "big.yaml")
        if err is None:
            assert getattr(result.tasks[doc["name"]], key) == "x" * HUGE
            record("task file: huge values", "inert")
        else:
            _assert_clear(err, "big.yaml", key)
            record("task file: huge values", "refused")


def _alias_bomb(levels: int) -> str:
    """A 'billion laughs' document: ``levels`` anchors, each ten aliases of the previous."""
    base = (MAPPINGS / "import_3_issues_to_incidents.yaml").read_text(encoding="utf-8")
    base = "\n".join(line for line in base.splitlines() if not line.startswith("description:"))
    lines = ["description:", "  - &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels + 1)]
    return base + "\n" + "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    started = time.monotonic()
    err, _ = _load(_folder(tmp_path, "bomb.yaml", _alias_bomb(6)), "bomb.yaml")  # 10**7 'lol's expanded
    took = time.monotonic() - started
    assert err is not None
    _assert_clear(err, "bomb.yaml", None)
    record("task file: YAML aliases", "refused")
    assert took < 1.0, f"took {took:.1f} s: aliases are expanded before the file is refused"


def test_small_yaml_anchors_are_refused_or_inert(tmp_path: Path) -> None:
    """An anchor used once or twice: a clear error (aliases not allowed) or the same task."""
    text = (MAPPINGS / "import_3_issues_to_incidents.yaml").read_text(encoding="utf-8")
    text = text.replace("jira_conn_id: jira_default", "jira_conn_id: &conn jira_default", 1)
    text += "\n# reused\ntags: [*conn]\n" if "\ntags:" not in text else ""
    err, result = _load(_folder(tmp_path, "anchors.yaml", text), "anchors.yaml")
    if err is None:
        record("task file: YAML aliases", "inert")
    else:
        _assert_clear(err, "anchors.yaml", None)
        record("task file: YAML aliases", "refused")


def test_huge_file_is_refused(tmp_path: Path) -> None:
    doc = _base("scheduled")
    doc["description"] = "x" * (8 * 1024 * 1024)  # an 8 MB task file
    err, _ = _load(_folder(tmp_path, "eight_mb.yaml", yaml.safe_dump(doc, width=10**9)), "eight_mb.yaml")
    assert err is not None, "an 8 MB task file was loaded"
    _assert_clear(err, "eight_mb.yaml", None)
    record("task file: huge file", "refused")
