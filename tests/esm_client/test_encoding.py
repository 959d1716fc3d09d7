"""What the client sends for each kind of attribute value (``encode_values``): plain values
take a fast path, everything else the full checks; both must give ESM the same shapes."""
from __future__ import annotations

import enum
from collections import OrderedDict
from datetime import date, datetime, timedelta, timezone

import pytest

from jira_esm_connector.esm.models import Ref, encode_card_data, encode_values


class Status(str, enum.Enum):
    NEW = "01 - New"


class Label(str):
    pass


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", [{"value": "text"}]),
        (7, [{"value": 7}]),
        (2.5, [{"value": 2.5}]),
        (True, [{"value": True}]),
        (None, []),
        ([], []),
        (["a", None, 3], [{"value": "a"}, {"value": 3}]),
        (("a", "b"), [{"value": "a"}, {"value": "b"}]),
        (Ref("42"), [{"dataCardId": "42"}]),
        ([Ref("1"), "x"], [{"dataCardId": "1"}, {"value": "x"}]),
        ({"value": "Done", "code": "done"}, [{"value": "Done", "code": "done"}]),
        ({"values": [{"value": "a"}, Ref("9")]}, [{"value": "a"}, {"dataCardId": "9"}]),
        (OrderedDict(value="x"), [{"value": "x"}]),
        (datetime(2026, 1, 2, 3, 4, 5), [{"value": "2026-01-02T03:04:05Z"}]),
        (datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))), [{"value": "2026-01-02T03:04:05Z"}]),
        (date(2026, 1, 2), [{"value": "2026-01-02"}]),
    ],
)
def test_each_kind_of_value_is_sent_as_esm_expects(value, expected):
    assert encode_values(value) == {"values": expected}


def test_subclasses_of_plain_types_are_sent_like_their_base_and_bool_stays_bool():
    (status,) = encode_values(Status.NEW)["values"]
    assert status == {"value": "01 - New"} and status["value"] is Status.NEW
    assert encode_values([Label("x")]) == {"values": [{"value": "x"}]}
    (flag,) = encode_values(False)["values"]
    assert flag["value"] is False


def test_values_that_esm_cannot_take_are_refused():
    with pytest.raises(TypeError, match="set"):
        encode_values({1, 2})
    with pytest.raises(TypeError, match="object"):
        encode_values([object()])


def test_a_card_maps_every_attribute_and_copies_value_elements():
    element = {"value": "Done", "code": "done"}
    encoded = encode_card_data({"subject": "s", "status": element, "labels": ["a", "b"], "resolution": None})
    assert encoded == {"subject": {"values": [{"value": "s"}]}, "status": {"values": [element]},
                       "labels": {"values": [{"value": "a"}, {"value": "b"}]}, "resolution": {"values": []}}
    assert encoded["status"]["values"][0] is not element
