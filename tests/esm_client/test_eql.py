"""Pure-function parts of the ESM client: EQL quoting and building.

(The same EQL strings are also run against the real simulator in test_client_live.py.)
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from jira_esm_connector.esm import eql


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Open", "'Open'"),
        ("O'Brien", "'O''Brien'"),
        ("'", "''''"),
        ("x' or $status$ <> '", "'x'' or $status$ <> '''"),
        (42, "'42'"),
        (date(2024, 3, 1), "'2024-03-01'"),
        (datetime(2024, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))), "'2024-03-01T10:00:00Z'"),
        (True, "'true'"),
        ("back\\slash", "'back\\\\slash'"),
        ("end\\", "'end\\\\'"),
    ],
)
def test_eql_quote_escapes_quotes(value, expected):
    assert eql.eql_quote(value) == expected


def test_quoted_literal_is_one_token():
    # Whatever the value, the literal starts and ends with the only unpaired quotes.
    for value in ["a'b", "''", "a'' or ''='", "\\'", "end'", "end\\", "\\\\'x"]:
        lit = eql.eql_quote(value)
        # decode the literal the way EQL reads it: \x is x, '' is ', a lone ' ends it
        out, i, inner = [], 0, lit[1:]
        while inner[i] != "'" or inner[i : i + 2] == "''":
            if inner[i] == "\\":
                out.append(inner[i + 1])
                i += 2
            elif inner[i] == "'":
                out.append("'")
                i += 2
            else:
                out.append(inner[i])
                i += 1
        assert i == len(inner) - 1, f"the literal for {value!r} ends early"
        assert "".join(out) == value


def test_eql_refuses_none_and_bad_attribute_codes():
    with pytest.raises(TypeError):
        eql.eql_quote(None)
    with pytest.raises(TypeError):
        eql.eql_quote(["a"])
    for bad in ["status$ = 'x' or $a", "a b", "", "$x$", "x'"]:
        with pytest.raises(ValueError):
            eql.eq(bad, "v")


def test_eql_builder_parenthesises():
    f = eql.eql_and(eql.eq("status", "Open"), eql.eql_or(eql.ne("owner", "O'Brien"), eql.gt("updated", date(2024, 1, 2))))
    assert f == "($status$ = 'Open') and (($owner$ <> 'O''Brien') or ($updated$ > '2024-01-02'))"
    assert eql.eql_not(eql.eq("a", "b")) == "not ($a$ = 'b')"
    assert eql.any_of("k", ["1", "2"]) == "($k$ = '1') or ($k$ = '2')"
    assert eql.eql_and(eql.eq("a", "b")) == "$a$ = 'b'"
    with pytest.raises(ValueError):
        eql.any_of("k", [])


def test_any_of_batches_keeps_every_value_once_in_filters_that_fit_a_url():
    from urllib.parse import quote_plus

    values = [f"PROJ-{i}" for i in range(1000)] + ["O'Brien", "x' or $a$ <> '", "é" * 40]
    within = eql.eq("task_id", "t")
    batches = list(eql.any_of_batches("jira_key", values, within=within, max_chars=3000, max_values=150))
    assert [v for part, _ in batches for v in part] == values  # each once, in order
    assert all(len(quote_plus(f)) <= 3000 and len(part) <= 150 for part, f in batches)
    assert len(batches) < len(values) / 50  # far fewer than one request per 50 keys
    part, text = batches[-1]
    assert text.startswith("($task_id$ = 't') and (") and "$jira_key$ = 'O''Brien'" in text
    one, = eql.any_of_batches("k", ["a"])
    assert one == (["a"], "$k$ = 'a'")
    assert list(eql.any_of_batches("k", [])) == []
    huge = "z" * 5000  # too long to share a filter: goes alone
    assert [p for p, _ in eql.any_of_batches("k", ["a", huge, "b"], max_chars=1000)] == [["a"], [huge], ["b"]]
