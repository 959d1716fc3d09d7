"""Hostile task files: alias bombs, huge files, too many values, bad encodings, huge values.

Each must be refused quickly with a short error that names the file (and the line where
there is one), never by expanding the value.
"""
from __future__ import annotations

import time
import tracemalloc

import pytest

from jira_esm_connector.bounded import short_repr
from jira_esm_connector.config import TaskFileError, load_task_dir, load_task_file
from jira_esm_connector.config.errors import MAX_PROBLEMS
from jira_esm_connector.config.yamlio import MAX_YAML_CHARS, MAX_YAML_NODES, YamlProblem, load_yaml

from .test_loader import GOOD


def bomb(levels: int = 9) -> str:
    """"Billion laughs": 9 levels of 9 aliases are 9**9 (387 million) strings once expanded,
    inside a key whose error message quotes the value."""
    rows = ['  - &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        rows.append(f"  - &l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]")
    return "kind: scheduled\nname:\n" + "\n".join(rows) + "\n"


def error_of(path) -> TaskFileError:
    with pytest.raises(TaskFileError) as info:
        load_task_file(path)
    return info.value


def test_the_alias_bomb_is_refused_fast_small_and_in_bounded_memory(write):
    text = bomb()
    assert len(text.encode()) < 800
    path = write("bomb.yaml", text)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        err = error_of(path)
        message = str(err)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 20 * 1024 * 1024
    assert len(message) < 300
    assert message.startswith("bomb.yaml: line 3:") and "anchor '&l0' is not allowed" in message


def test_an_alias_names_its_line(write):
    # an alias without any anchor is a YAML error of its own, so check the alias message directly
    with pytest.raises(YamlProblem) as info:
        load_yaml("a: &x 1\nb: *x\n")
    assert info.value.line == 1  # the anchor is refused first
    text = GOOD + "description: &d hello\ntags: [*d]\n"
    err = error_of(write("t.yaml", text))
    assert err.line == text.count("\n") - 1 and "anchor '&d'" in str(err)


def test_merge_keys_are_refused_too(write):
    text = "base: &b {kind: scheduled}\nother:\n  <<: *b\n"
    err = error_of(write("m.yaml", text))
    assert err.line == 1 and "not allowed" in str(err)


def test_a_file_over_the_size_cap_is_refused_without_parsing(write):
    path = write("huge.yaml", GOOD + "# " + "x" * (MAX_YAML_CHARS + 10) + "\n")
    started = time.perf_counter()
    err = error_of(path)
    assert time.perf_counter() - started < 1.0
    assert str(err).startswith("huge.yaml: is too large")


def test_too_many_values_are_refused(write):
    count = MAX_YAML_NODES + 10
    text = GOOD + "tags: [" + ",".join(["t"] * count) + "]\n"
    assert len(text) < MAX_YAML_CHARS
    err = error_of(write("many.yaml", text))
    assert "too many values" in str(err) and err.line is not None


def test_a_file_that_is_not_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(GOOD.replace("project = SUP", "project = Säätö").encode("latin-1"))
    err = error_of(path)
    assert err.file == "latin1.yaml"
    assert str(err).startswith("latin1.yaml: line 8: is not UTF-8 text (byte 0xe4")
    # ...and it is one error among the folder's results, the other file still loads
    (tmp_path / "good.yaml").write_text(GOOD, encoding="utf-8")
    result = load_task_dir(tmp_path)
    assert list(result.tasks) == ["jira_issues"] and [e.file for e in result.errors] == ["latin1.yaml"]


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_task_file(path).name == "jira_issues"


@pytest.mark.parametrize(
    "replace, key",
    [
        ("mode: incremental", "mode"),  # literal_error: "got <value>"
        ("schedule: \"*/30 * * * *\"", "schedule"),  # our own validator: "<value> is not a cron ..."
        ("jira_conn_id: jira_default", "jira_conn_id"),  # the connection id check
    ],
)
def test_a_huge_value_is_quoted_in_bounded_form(write, replace, key):
    huge = "x" * 200_000
    field = replace.split(":")[0]
    err = error_of(write("big.yaml", GOOD.replace(replace, f"{field}: '{huge} bad'")))
    assert err.key == key
    assert len(str(err)) < 600 and "…" in str(err)


def test_a_huge_nested_value_is_quoted_without_walking_it(write):
    nested = "[" * 40 + ",".join(["1"] * 20_000) + "]" * 40
    err = error_of(write("nested.yaml", GOOD.replace("name: jira_issues", f"name: {nested}")))
    assert err.key == "name" and len(str(err)) < 400


def test_short_repr_bounds():
    assert short_repr("abc") == "'abc'"
    cut = short_repr("y" * 10_000)
    assert len(cut) == 200 and cut.endswith("…") and cut.startswith("'yyy")
    assert len(short_repr(list(range(100_000)))) <= 200
    assert len(short_repr({str(i): [i] * 1000 for i in range(1000)})) <= 200

    class Broken:
        def __repr__(self):
            raise RuntimeError("no")

    assert short_repr(Broken()).startswith("<Broken")


def test_the_number_of_problems_listed_is_capped():
    err = TaskFileError("f.yaml", "first", problems=[(f"k{i}", "bad") for i in range(500)])
    lines = str(err).splitlines()
    assert len(lines) == MAX_PROBLEMS + 1 and lines[-1] == f"f.yaml: ... and {500 - MAX_PROBLEMS} more problems"
    long = TaskFileError("f.yaml", "m" * 100_000, key="k" * 10_000)
    assert len(str(long)) < 1500


@pytest.mark.parametrize("text, expected", [
    ('s: "*/30 * * * *"\n', {"s": "*/30 * * * *"}),
    ("d: R&D *important* a*b\n", {"d": "R&D *important* a*b"}),
    ("d: '&x *y'\n", {"d": "&x *y"}),
])
def test_ampersands_and_stars_in_text_are_fine(text, expected):
    assert load_yaml(text) == expected


@pytest.mark.parametrize("text", [
    "a: &x 1\n", "a: [&x 1]\n", "a: {k: &x 1}\n", "- &x 1\n", "--- &x\na: 1\n", "a:\n  &x\n  b: 1\n", "? &x k\n: v\n",
    "a: !!str &x 1\n",
])
def test_every_anchor_position_is_refused(text):
    with pytest.raises(YamlProblem, match="not allowed"):
        load_yaml(text)
