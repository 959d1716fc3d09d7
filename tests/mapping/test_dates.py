from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from jira_esm_connector.mapping import parse_jira_datetime, to_esm_date, to_esm_datetime


def test_parse_jira_forms():
    want = datetime(2024, 5, 1, 7, 15, 30, 123000, tzinfo=timezone.utc)
    assert parse_jira_datetime("2024-05-01T10:15:30.123+0300") == want
    assert parse_jira_datetime("2024-05-01T10:15:30.123+03:00") == want
    assert parse_jira_datetime("2024-05-01T07:15:30.123Z") == want
    assert parse_jira_datetime(1714547730123) == want  # epoch milliseconds
    assert parse_jira_datetime(1714547730.123) == want  # epoch seconds
    assert parse_jira_datetime("2024-05-01") == datetime(2024, 5, 1, tzinfo=timezone.utc)
    assert parse_jira_datetime(None) is None and parse_jira_datetime("") is None
    with pytest.raises(ValueError, match="not a Jira date/time"):
        parse_jira_datetime("yesterday")


def test_esm_defaults_are_utc_iso():
    assert to_esm_datetime("2024-05-01T10:15:30.123+0300") == "2024-05-01T07:15:30Z"
    assert to_esm_datetime("2024-05-01T01:15:30.000+0300") == "2024-04-30T22:15:30Z"
    assert to_esm_date("2024-05-01T01:15:30.000+0300") == "2024-04-30"  # the UTC day
    assert to_esm_date("2024-05-03") == "2024-05-03"  # a date stays that calendar day
    assert to_esm_date(date(2024, 5, 3)) == "2024-05-03"


def test_configured_zone_and_formats():
    v = "2024-05-01T01:15:30.000+0300"
    assert to_esm_datetime(v, "dd.MM.yyyy HH:mm", "Europe/Helsinki") == "01.05.2024 01:15"
    assert to_esm_datetime(v, "%d.%m.%Y %H:%M", "UTC") == "30.04.2024 22:15"
    assert to_esm_datetime(v, None, "Europe/Helsinki") == "2024-05-01T01:15:30+03:00"  # honest offset, no fake Z
    assert to_esm_date(v, "dd.MM.yyyy", "Europe/Helsinki") == "01.05.2024"
    assert to_esm_date("2024-05-03", "dd.MM.yyyy", "America/New_York") == "03.05.2024"
    # DST: winter offset +02:00 in Helsinki
    assert to_esm_datetime("2024-01-15T12:00:00.000+0000", "yyyy-MM-dd HH:mm", "Europe/Helsinki") == "2024-01-15 14:00"
    with pytest.raises(ValueError, match="unknown time zone"):
        to_esm_datetime(v, None, "Mars/Base")
