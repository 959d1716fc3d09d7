"""The compiled fast paths give exactly what the plain functions give: ``compile_path`` =
``get_path``, ``esm_datetime_formatter`` = ``to_esm_datetime``, and the Jira offset without
a colon is read as before."""
from __future__ import annotations

import itertools
from datetime import date, datetime, timezone

import pytest

from jira_esm_connector.mapping.dates import esm_datetime_formatter, parse_jira_datetime, to_esm_datetime
from jira_esm_connector.mapping.paths import compile_path, get_path

RECORDS = [
    None, 1, "text", [1, 2, 3], [{"a": 1}], {"a": None}, {"a": 1}, {"a": {"b": None}},
    {"a": {"b": 2}}, {"a": {"b": {"c": 3}}}, {"a": {"b": [{"c": 4}]}}, {"a": [1, {"b": 5}]},
    {"a": "str"}, {"a": {"b": "str"}}, {"10": {"20": "x"}}, {"a": {"b": {"c": {"d": 6}}}},
    {"key": "SUP-1", "fields": {"status": {"name": "Done"}, "labels": ["x"]}},
]
PATHS = [
    None, "", ".", "a", "a.b", "a.b.c", "a.b.c.d", "a[0]", "a.1.b", "a.b.0.c", "a.-1", "10.20",
    "fields.status.name", "fields.labels", "key", "missing", "a.missing.deeper",
]


@pytest.mark.parametrize("path", PATHS)
def test_compiled_path_gives_what_get_path_gives(path):
    get = compile_path(path)
    for record in RECORDS:
        assert get(record) == get_path(record, path), (path, record)
        assert type(get(record)) is type(get_path(record, path))


VALUES = [
    None, "", "2024-01-02T21:51:52.233+0000", "2024-01-02T21:51:52.233-0230", "2024-03-31T03:30:00+03:00",
    "2024-10-27T00:59:59.999Z", "2024-05-01", " 2024-05-01T10:15:30.123+0300 ", "0999-12-31T23:59:59.000+0000",
    "0001-01-01T05:00:00+0300", "2024-01-02T21:51:52", "+0300", "2024-01-02T21:51:52+03", 1_700_000_000_000,
    1_700_000_000, 0, datetime(2024, 1, 1, 12, tzinfo=timezone.utc), datetime(2024, 1, 1, 12), date(2024, 2, 29),
    "2024-01-02T21:51:52.233+\u0660\u0663\u0660\u0660", "not a date", "2024-13-01T00:00:00+0000",
]
FORMATS = [None, "%Y-%m-%dT%H:%M:%SZ", "%d.%m.%Y %H:%M", "dd.MM.yyyy HH:mm", "%Y"]
ZONES = [None, "UTC", "Z", "Europe/Helsinki", "America/St_Johns", "Etc/UTC"]


def outcome(fn, value):
    try:
        return "ok", fn(value)
    except (ValueError, OverflowError) as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("fmt,tz", list(itertools.product(FORMATS, ZONES)))
def test_compiled_datetime_formatter_gives_what_to_esm_datetime_gives(fmt, tz):
    convert = esm_datetime_formatter(fmt, tz)
    for value in VALUES:
        assert outcome(convert, value) == outcome(lambda v: to_esm_datetime(v, fmt, tz), value), value


def test_offsets_without_a_colon_are_read_as_before():
    assert parse_jira_datetime("2024-01-02T21:51:52.233+0000").isoformat() == "2024-01-02T21:51:52.233000+00:00"
    assert parse_jira_datetime("2024-01-02T21:51:52-0230").utcoffset().total_seconds() == -(2 * 3600 + 30 * 60)
    assert parse_jira_datetime("2024-01-02T21:51:52.233+03:00").utcoffset().total_seconds() == 3 * 3600
    assert to_esm_datetime("0999-12-31T23:59:59.000+0000") == "999-12-31T23:59:59Z"  # strftime's own text
    with pytest.raises(ValueError, match="not a Jira date/time"):
        parse_jira_datetime("2024-01-02T21:51:52.233+\u0660\u0663\u0660\u0660")
