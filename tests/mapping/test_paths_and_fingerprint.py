from __future__ import annotations

from datetime import datetime, timezone

import pytest

from jira_esm_connector.mapping import Reference, canonical_json, fingerprint, get_path

RECORD = {
    "key": "SUP-1",
    "fields": {
        "status": {"name": "Done"},
        "components": [{"name": "A"}, {"name": "B"}],
        "customfield_10010": {"10001": "x"},
        "empty": None,
    },
}


@pytest.mark.parametrize("path,expected", [
    ("key", "SUP-1"),
    ("fields.status.name", "Done"),
    ("fields.components.0.name", "A"),
    ("fields.components[1].name", "B"),
    ("fields.components.-1.name", "B"),
    ("fields.components.5.name", None),
    ("fields.customfield_10010.10001", "x"),
    ("fields.missing.deeper", None),
    ("fields.empty.name", None),
    ("key.length", None),
    ("", RECORD),
])
def test_get_path(path, expected):
    assert get_path(RECORD, path) == expected


def test_get_path_none_and_non_container():
    assert get_path(None, "a.b") is None
    assert get_path(RECORD, None) is None
    assert get_path([1, 2], "1") == 2


def test_fingerprint_ignores_key_order_and_is_stable():
    a = {"b": 1, "a": {"y": [1, 2], "x": "ü"}}
    b = {"a": {"x": "ü", "y": [1, 2]}, "b": 1}
    assert fingerprint(a) == fingerprint(b)
    assert canonical_json(a) == '{"a":{"x":"ü","y":[1,2]},"b":1}'
    # a known value, so the hash never silently changes between releases (the cache depends on it)
    assert len(fingerprint({})) == 64


def test_fingerprint_pinned_value():
    import hashlib

    assert fingerprint({"b": [1, None], "a": "x"}) == hashlib.sha256(b'{"a":"x","b":[1,null]}').hexdigest()


def test_fingerprint_changes_with_values_and_types():
    assert fingerprint({"a": 1}) != fingerprint({"a": "1"})
    assert fingerprint({"a": [1, 2]}) != fingerprint({"a": [2, 1]})
    assert fingerprint({"a": None}) != fingerprint({})


def test_fingerprint_handles_references_dates_nan():
    ref = Reference("person", "jira_account_id", ("a", "b"))
    assert fingerprint({"r": ref}) == fingerprint({"r": ref.to_dict()})
    assert fingerprint({"d": datetime(2024, 1, 1, tzinfo=timezone.utc)}) == fingerprint({"d": "2024-01-01T00:00:00+00:00"})
    assert fingerprint({"v": float("nan")}) == fingerprint({"v": None})
    with pytest.raises(TypeError):
        fingerprint({"o": object()})
