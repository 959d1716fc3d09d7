"""Transform and diff keep their outputs byte for byte: staged data, fingerprints (the task
cache depends on them: a changed fingerprint would make every card look changed on the next
run after an upgrade -- the cached fingerprint is the data's with the task's write target,
see ``cached_fingerprint``, since the write target became part of it), and the messages for records that cannot be mapped or fail the
quality gate. The expected values were computed by the transform before it was made
cheaper (commit fe9804d: one ``encode_data`` + one ``fingerprint`` per record, the quality
gate fed whole rows) and are written here as text."""
from __future__ import annotations

import copy
import hashlib
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from jira_esm_connector.config import parse_task
from jira_esm_connector.mapping import Reference, fingerprint
from jira_esm_connector.pipeline import QualityError, transform
from jira_esm_connector.pipeline.extract import EXTRACT_COLUMNS
from jira_esm_connector.pipeline.staging import Dataset, DatasetWriter
from jira_esm_connector.pipeline.transform import (
    TransformError,
    cached_fingerprint,
    decode_data,
    encode_data,
    encode_with_fingerprint,
    write_target,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*(row_condition|condition_parser).*:DeprecationWarning")

# every kind of spec, including the values whose stored text and fingerprint text differ
# (a datetime constant; SUP-3's "nan" points gave NaN until the number transform refused it
# -- ESM cannot be sent NaN --, so its row is pinned with "4.25")
RICH_TASK: dict = {
    "name": "pin_rich", "kind": "scheduled", "jira_conn_id": "jira_default", "esm_conn_id": "esm_default",
    "schedule": "0 3 * * *", "mode": "incremental", "mapping_type": "generic", "jql": "project = SUP",
    "template": "incident", "folder": "incident_management",
    "key": {"jira": "key", "esm": "jira_key"},
    "attributes": {
        "subject": "fields.summary",
        "description": {"from": "fields.description", "transform": "adf_to_text"},
        "raw_description": "fields.description",
        "status": {"from": "fields.status.name", "map": {"Done": "05 - Solved", "In Progress": "02 - Solving"}, "default": "01 - New"},
        "priority": {"from": "fields.priority.name", "map": {"High": "2 - High"}},
        "labels": "fields.labels",
        "label_text": {"from": "fields.labels", "join": " / "},
        "components": {"from": "fields.components", "each": "name", "transform": "upper"},
        "first_component": "fields.components[0].name",
        "last_component": "fields.components.-1.name",
        "created": {"from": "fields.created", "transform": "datetime"},
        "created_hki": {"from": "fields.created", "transform": "datetime", "timezone": "Europe/Helsinki"},
        "created_java": {"from": "fields.created", "transform": "datetime", "format": "dd.MM.yyyy HH:mm"},
        "due": {"from": "fields.duedate", "transform": "date"},
        "due_fi": {"from": "fields.duedate", "transform": "date", "format": "%d.%m.%Y"},
        "points": {"from": "fields.customfield_10016", "transform": "number"},
        "estimate": {"from": "fields.timeestimate", "transform": "integer"},
        "flagged": {"from": "fields.customfield_10021", "transform": "boolean"},
        "id_text": {"from": "id", "transform": "string"},
        "headline": {"template": "{{ key }}: {{ fields.summary }}"},
        "source": {"value": "jira"},
        "since": {"value": date(2024, 1, 31)},
        "stamp": {"value": datetime(2024, 1, 31, 12, 0, tzinfo=timezone.utc)},
        "meta": {"value": {"b": [1, 2.5, None], "a": {"z": True}}},
        "owner": {"from": "fields.assignee.accountId", "reference": {"template": "person", "by": "jira_account_id"}},
        "watchers": {"from": "fields.watchers", "each": "accountId", "reference": {"template": "person", "by": "jira_account_id"}},
        "tags": ["fields.labels", {"value": "imported"}, "fields.status.name"],
        "low": {"from": "fields.summary", "transform": "lower"},
        "trimmed": {"from": "fields.environment", "transform": "strip"},
        "customer": "fields.customfield_10010.10001",
    },
}


def adf(*paras):
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paras]}


RICH_RECORDS = [
    {"id": "10001", "key": "SUP-1", "fields": {
        "summary": "Printer on floor 3 – ÄÖ \"quoted\"", "description": adf("First line", "Second ☃"),
        "status": {"name": "Done"}, "priority": {"name": "High"}, "labels": ["a", "b", None, ""],
        "components": [{"name": "net"}, {"name": "print"}], "created": "2024-03-31T00:30:00.000+0300",
        "duedate": "2024-04-01", "customfield_10016": "3.5", "timeestimate": 7200.0, "customfield_10021": "yes",
        "assignee": {"accountId": "acc-1"}, "watchers": [{"accountId": "w1"}, {"accountId": "w2"}, {}],
        "environment": "  prod  ", "customfield_10010": {"10001": "ACME"}, "updated": "2024-04-02T10:00:00.000+0000"}},
    {"id": "10002", "key": "SUP-2", "fields": {
        "summary": "Nothing else", "description": None, "status": {"name": "Weird"}, "priority": None,
        "labels": [], "components": [], "created": "2023-10-29T03:30:00.000+0000", "duedate": None,
        "customfield_10016": 2, "timeestimate": "15", "customfield_10021": False, "assignee": None, "watchers": [],
        "environment": None, "updated": "2024-04-02T11:00:00.000+0000"}},
    {"id": "10003", "key": "SUP-3", "fields": {
        "summary": "Not a number", "description": "plain old text", "status": {"name": "In Progress"},
        "priority": {"name": "Low"}, "labels": ["x"], "created": "2024-01-02T21:51:52.233+0000",
        "duedate": "2024-02-29T23:30:00.000+0000", "customfield_10016": "4.25", "timeestimate": None,
        "customfield_10021": "off", "assignee": {"accountId": "acc-3"}, "watchers": {"accountId": "solo"},
        "environment": "x", "customfield_10010": {"10001": 12}, "updated": "2024-04-02T12:00:00.000+0000"}},
    {"id": "10004", "key": "SUP-4", "fields": {"summary": None}},
]

# (key, fingerprint, updated, data) as the transform of commit fe9804d staged them
PINNED_ROWS = [
    ('SUP-1', 'f99adca79b5a311b3bc92988d2d482c215e267016b3229d9c0a0701ea9525a7e', '2024-04-02T10:00:00.000+0000',
     '{"components":["NET","PRINT"],"created":"2024-03-30T21:30:00Z","created_hki":"2024-03-30T23:30:00+02:00","created_java":"30.03.2024 21:30","customer":"ACME","description":"First line\\n\\nSecond ☃","due":"2024-04-01","due_fi":"01.04.2024","estimate":7200,"first_component":"net","flagged":true,"headline":"SUP-1: Printer on floor 3 – ÄÖ \\"quoted\\"","id_text":"10001","jira_key":"SUP-1","label_text":"a / b","labels":["a","b",""],"last_component":"print","low":"printer on floor 3 – äö \\"quoted\\"","meta":{"a":{"z":true},"b":[1,2.5,null]},"owner":{"$reference":{"by":"jira_account_id","keys":["acc-1"],"template":"person"}},"points":3.5,"priority":"2 - High","raw_description":{"content":[{"content":[{"text":"First line","type":"text"}],"type":"paragraph"},{"content":[{"text":"Second ☃","type":"text"}],"type":"paragraph"}],"type":"doc","version":1},"since":"2024-01-31","source":"jira","stamp":"2024-01-31 12:00:00+00:00","status":"05 - Solved","subject":"Printer on floor 3 – ÄÖ \\"quoted\\"","tags":["a","b","imported","Done"],"trimmed":"prod","watchers":{"$reference":{"by":"jira_account_id","keys":["w1","w2"],"template":"person"}}}'),
    ('SUP-2', '3cf941c30e949a2fd2a25ca2bd2bb40c96f5b2ef805bbb530e04fffda8c52453', '2024-04-02T11:00:00.000+0000',
     '{"components":[],"created":"2023-10-29T03:30:00Z","created_hki":"2023-10-29T05:30:00+02:00","created_java":"29.10.2023 03:30","customer":null,"description":null,"due":null,"due_fi":null,"estimate":15,"first_component":null,"flagged":false,"headline":"SUP-2: Nothing else","id_text":"10002","jira_key":"SUP-2","label_text":"","labels":[],"last_component":null,"low":"nothing else","meta":{"a":{"z":true},"b":[1,2.5,null]},"owner":null,"points":2,"priority":null,"raw_description":null,"since":"2024-01-31","source":"jira","stamp":"2024-01-31 12:00:00+00:00","status":"01 - New","subject":"Nothing else","tags":["imported","Weird"],"trimmed":null,"watchers":{"$reference":{"by":"jira_account_id","keys":[],"template":"person"}}}'),
    ('SUP-3', 'd44766c64134fe8ee616613e6b765146d4ce04dd68eeac21af63eefd6f491d2c', '2024-04-02T12:00:00.000+0000',
     '{"components":null,"created":"2024-01-02T21:51:52Z","created_hki":"2024-01-02T23:51:52+02:00","created_java":"02.01.2024 21:51","customer":12,"description":"plain old text","due":"2024-02-29","due_fi":"29.02.2024","estimate":null,"first_component":null,"flagged":false,"headline":"SUP-3: Not a number","id_text":"10003","jira_key":"SUP-3","label_text":"x","labels":["x"],"last_component":null,"low":"not a number","meta":{"a":{"z":true},"b":[1,2.5,null]},"owner":{"$reference":{"by":"jira_account_id","keys":["acc-3"],"template":"person"}},"points":4.25,"priority":"Low","raw_description":"plain old text","since":"2024-01-31","source":"jira","stamp":"2024-01-31 12:00:00+00:00","status":"02 - Solving","subject":"Not a number","tags":["x","imported","In Progress"],"trimmed":"x","watchers":{"$reference":{"by":"jira_account_id","keys":["solo"],"template":"person"}}}'),
    ('SUP-4', 'ec1753bec783e1fb0f1aa8f66c3cc8596f8aa04c2b7ebf36ba1e36a8554fbaa8', None,
     '{"components":null,"created":null,"created_hki":null,"created_java":null,"customer":null,"description":null,"due":null,"due_fi":null,"estimate":null,"first_component":null,"flagged":null,"headline":"SUP-4: ","id_text":"10004","jira_key":"SUP-4","label_text":null,"labels":null,"last_component":null,"low":null,"meta":{"a":{"z":true},"b":[1,2.5,null]},"owner":null,"points":null,"priority":null,"raw_description":null,"since":"2024-01-31","source":"jira","stamp":"2024-01-31 12:00:00+00:00","status":"01 - New","subject":null,"tags":["imported"],"trimmed":null,"watchers":null}'),
]

PINNED_MAPPING_ERROR = (
    "Task 'pin_rich': 4 record(s) could not be mapped, so nothing was loaded to ESM:\n"
    "  - record SUP-1: attribute 'estimate': invalid literal for int() with base 10: 'abc'\n"
    "  - record (no key): the key path 'key' is empty in this record\n"
    "  - record SUP-3: attribute 'created': not a Jira date/time: 'yesterday'\n"
    "  - record SUP-4: attribute 'estimate': not a whole number: 1.5"
)

PINNED_QUALITY_ERROR = (
    "Data quality check failed for task 'pin_rich': nothing was loaded to ESM.\n"
    "  - expect_column_values_to_not_be_null(column='subject'): 1 record(s) failed: SUP-2\n"
    "  - expect_column_values_to_be_in_set(column='owner', value_set=['acc-1']): 3 record(s) failed: SUP-2, SUP-4, SUP-6\n"
    "  - expect_column_values_to_be_unique(column='subject'): 2 record(s) failed: SUP-3, SUP-5\n"
    # numpy scalars read as the numbers they hold (it read np.int64(6) before)
    "  - expect_column_max_to_be_between(column='points', max_value=5.0): failed (observed value 6)\n"
    # schema expectations see the ESM attributes only (the gate's own __key__ column was listed before)
    "  - expect_table_columns_to_match_set(column_set=['subject']): failed (observed value "
    "['jira_key', 'owner', 'points', 'priority', 'subject'])\n"
    "  - expect_table_row_count_to_be_between(min_value=1, max_value=3): failed (observed value 6)"
)


def stage_extract(path, records, page_rows):
    """An extract dataset as the extract step stages it, ``page_rows`` records a page."""
    writer = DatasetWriter(path / "extract", EXTRACT_COLUMNS)
    for start in range(0, len(records), page_rows):
        writer.write_page([
            {"key": r.get("key"), "updated": (r.get("fields") or {}).get("updated"), "record": r}
            for r in records[start:start + page_rows]
        ])
    return {"dataset": str(writer.close().path)}


def staged(dataset):
    return [(r["key"], r["fingerprint"], r["updated"], r["data"], r["issue_key"]) for r in Dataset(dataset).iter_rows()]


@pytest.mark.parametrize("page_rows", [1, 2, 3, 100])
def test_transform_stages_exactly_what_release_1_staged(tmp_path, page_rows):
    task = parse_task(copy.deepcopy(RICH_TASK), "pin_rich.yaml")
    out = transform(task, stage_extract(tmp_path, RICH_RECORDS, page_rows), tmp_path)
    assert out["transformed"] == len(RICH_RECORDS)
    # the data fingerprints as pinned, with the task's write target (one re-push after that upgrade)
    target = write_target(task)
    assert staged(out["dataset"]) == [
        (k, cached_fingerprint(fp, target), upd, data, None) for k, fp, upd, data in PINNED_ROWS
    ]


def test_records_that_cannot_be_mapped_keep_their_messages(tmp_path):
    doc = dict(copy.deepcopy(RICH_TASK), attributes={
        "subject": "fields.summary",
        "estimate": {"from": "fields.timeestimate", "transform": "integer"},
        "created": {"from": "fields.created", "transform": "datetime"},
    })
    records = [
        {"key": "SUP-1", "fields": {"timeestimate": "abc"}}, {"key": None, "fields": {}},
        {"key": "SUP-3", "fields": {"created": "yesterday"}}, {"key": "SUP-4", "fields": {"timeestimate": 1.5}},
        {"key": "SUP-5", "fields": {"timeestimate": "7"}},
    ]
    with pytest.raises(TransformError) as err:
        transform(parse_task(doc, "pin_rich.yaml"), stage_extract(tmp_path, records, 2), tmp_path)
    assert str(err.value) == PINNED_MAPPING_ERROR
    # the failed transform never closed its dataset: no page list, so no later step reads
    # the page it may have written as a whole dataset
    with pytest.raises(FileNotFoundError, match="is missing"):
        Dataset(tmp_path / "transform").count()


QUALITY_DOC = dict(copy.deepcopy(RICH_TASK), attributes={
    "subject": "fields.summary",
    "priority": {"from": "fields.priority.name"},
    "points": {"from": "fields.points", "transform": "number"},
    "owner": {"from": "fields.assignee.accountId", "reference": {"template": "person", "by": "jira_account_id"}},
}, quality=[
    {"expect_column_values_to_not_be_null": {"column": "subject"}},
    {"expect_column_values_to_be_in_set": {"column": "priority", "value_set": ["High", "Low"], "mostly": 0.5}},
    {"expect_column_values_to_be_in_set": {"column": "owner", "value_set": ["acc-1"]}},
    {"expect_column_values_to_be_unique": {"column": "subject"}},
    {"expect_column_max_to_be_between": {"column": "points", "max_value": 5}},
    {"expect_table_columns_to_match_set": {"column_set": ["subject"], "exact_match": True}},
    {"expect_table_row_count_to_be_between": {"min_value": 1, "max_value": 3}},
])

QUALITY_RECORDS = [
    {"key": f"SUP-{i}", "fields": {
        "summary": None if i == 2 else ("same" if i in (3, 5) else f"s{i}"),
        "priority": {"name": ["High", "Low", "Medium"][i % 3]}, "points": i,
        "assignee": {"accountId": f"acc-{i % 2}"},
    }} for i in range(1, 7)
]


@pytest.mark.parametrize("chunk_rows,page_rows", [(2, 2), (4, 1), (10_000, 100)])
def test_quality_failures_name_the_records_and_expectations_as_before(tmp_path, chunk_rows, page_rows):
    task = parse_task(copy.deepcopy(QUALITY_DOC), "pin_rich.yaml")
    with pytest.raises(QualityError) as err:
        transform(task, stage_extract(tmp_path, QUALITY_RECORDS, page_rows), tmp_path, chunk_rows=chunk_rows)
    assert str(err.value) == PINNED_QUALITY_ERROR


class Text(str):
    """A str subclass: encoded like a str, but not a plain JSON type."""


REF = Reference("person", "jira_account_id", ("a", "b"))
ENCODED_VALUES = [
    {}, {"a": None}, {"s": "ü \" \\ \n ☃ \u2028"}, {"i": 1, "f": 2.5, "neg": -0.0, "big": 2**80, "t": True, "n": False},
    {"l": [1, "x", None, [2, [3]], {"z": 1, "a": 2}]}, {"t": ("x", 1)}, {"r": REF}, {"r": [REF, "k"]},
    {"r": Reference("group", "name", ())}, {"adf": {"type": "doc", "content": [{"type": "text", "text": "x"}]}},
    {"nan": float("nan")}, {"deep": [{"x": float("nan")}]}, {"d": date(2024, 1, 31)},
    {"dt": datetime(2024, 1, 31, 12, tzinfo=timezone.utc)}, {"dec": Decimal("1.10")}, {"set": {3, 1, 2}},
    {"ints": {2: "b", 10: "a"}}, {"bools": {True: 1}}, {"sub": Text("x")}, {"subkey": {Text("k"): 1}},
    {"b": 1, "a": {"d": [REF], "c": None}},
]


@pytest.mark.parametrize("data", ENCODED_VALUES, ids=lambda d: ",".join(map(str, d)) or "empty")
def test_one_encoding_gives_the_stored_text_and_fingerprint_of_the_two_separate_ones(data):
    assert encode_with_fingerprint(data) == (encode_data(data), fingerprint(data))


def test_values_that_json_cannot_hold_fail_as_before():
    for data in ({"inf": float("inf")}, {"o": object()}):
        with pytest.raises((ValueError, TypeError)) as old:
            fingerprint(data)
        with pytest.raises(type(old.value)) as new:
            encode_with_fingerprint(data)
        assert str(new.value) == str(old.value)


def test_nan_keeps_its_stored_text_and_fingerprint():
    text, digest = encode_with_fingerprint({"points": float("nan"), "s": "x"})
    assert text == '{"points":NaN,"s":"x"}'
    assert digest == hashlib.sha256(b'{"points":null,"s":"x"}').hexdigest()


@pytest.mark.parametrize("chunk_rows", [1, 2, 100])
def test_a_row_wise_expectation_on_a_missing_column_fails_in_chunks_as_on_the_whole_frame(chunk_rows):
    # a typo in a task file's quality section must never make the gate pass silently
    import pandas as pd

    from jira_esm_connector.config import KNOWN_EXPECTATIONS
    from jira_esm_connector.config.scheduled import QualityExpectation
    from jira_esm_connector.pipeline.quality import KEY_COLUMN, QualityGate, validate_frame

    def exp(name, **kwargs):
        return QualityExpectation(name=name, class_name=KNOWN_EXPECTATIONS[name], kwargs=kwargs)

    columns = [KEY_COLUMN, "subject", "points"]
    rows = [{KEY_COLUMN: f"SUP-{i}", "subject": f"s{i}", "points": i} for i in range(5)]
    expectations = [exp("expect_column_values_to_not_be_null", column="subjct"),
                    exp("expect_column_pair_values_to_be_equal", column_A="subject", column_B="pionts"),
                    exp("expect_column_values_to_not_be_null", column="subject")]
    gate = QualityGate(expectations, columns, chunk_rows=chunk_rows)
    for row in rows:
        gate.add(row)
    chunked = [f.describe() for f in gate.finish()]
    assert chunked == [f.describe() for f in validate_frame(pd.DataFrame(rows, columns=columns), expectations)]
    assert len(chunked) == 2 and 'The column "subjct"' in chunked[0] and 'The column "pionts"' in chunked[1]


@pytest.mark.parametrize("lookalike", [
    {"$reference": {"template": "person", "by": "jira_account_id", "keys": ["admin"]}},
    {"$literal": {"$reference": {"template": "person", "by": "jira_account_id", "keys": ["admin"]}}},
    {"$literal": "x"},
])
def test_a_jira_value_shaped_like_a_stored_marker_is_read_back_as_itself(lookalike):
    """An app's custom field can hold any JSON object, one shaped like the connector's stored
    reference marker too: read back as a reference, it would link the card to whatever card
    its keys name. It is read back as the value Jira gave, with its own fingerprint."""
    data = {"plain": lookalike, "listed": [lookalike, "k", REF], "real": REF}
    text, digest = encode_with_fingerprint(data)
    assert (text, digest) == (encode_data(data), encode_with_fingerprint(dict(data))[1])
    back = decode_data(text)
    assert back == {"plain": lookalike, "listed": [lookalike, "k", REF], "real": REF}
    assert not isinstance(back["plain"], Reference) and not isinstance(back["listed"][0], Reference)
    # a real reference with the marker's contents is another value
    as_reference = {**data, "plain": Reference("person", "jira_account_id", ("admin",))}
    assert encode_with_fingerprint(as_reference)[1] != digest
