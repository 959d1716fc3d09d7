"""Great-expectations (GX Core 1.x) expectations a task file may declare under ``quality:``.

A static table (importing GX costs seconds, too slow for DAG parsing); a test checks it
against the installed GX. The one table gives each expectation its GX class and its
category for the quality gate (row-wise, schema, whole-column). Expectations that need a SQL datasource or a second table are
left out: task batches are pandas DataFrames. So are the LIKE-pattern ones (``..._match_like_pattern``
and the like): GX evaluates them only in SQL; the ``..._regex`` ones say the same on pandas.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["EXPECTATIONS", "KNOWN_EXPECTATIONS", "READ_AS_TEXT", "ROW_WISE", "SCHEMA_ONLY", "ROW", "SCHEMA", "COLUMN", "named_columns"]

# How the quality gate (pipeline/quality.py) runs an expectation in bounded memory:
ROW: Literal["row"] = "row"  # the verdict on a row depends only on that row: exact per chunk
SCHEMA: Literal["schema"] = "schema"  # about the frame's columns only (every chunk has the same ones)
COLUMN: Literal["column"] = "column"  # needs whole columns (uniqueness, order, types, aggregates, row counts)

# snake_case name as written in task files -> (GX class name in great_expectations.expectations, category)
EXPECTATIONS: dict[str, tuple[str, Literal["row", "schema", "column"]]] = {
    'expect_column_distinct_values_to_be_in_set':                ('ExpectColumnDistinctValuesToBeInSet', COLUMN),
    'expect_column_distinct_values_to_contain_set':              ('ExpectColumnDistinctValuesToContainSet', COLUMN),
    'expect_column_distinct_values_to_equal_set':                ('ExpectColumnDistinctValuesToEqualSet', COLUMN),
    'expect_column_kl_divergence_to_be_less_than':               ('ExpectColumnKLDivergenceToBeLessThan', COLUMN),
    'expect_column_max_to_be_between':                           ('ExpectColumnMaxToBeBetween', COLUMN),
    'expect_column_mean_to_be_between':                          ('ExpectColumnMeanToBeBetween', COLUMN),
    'expect_column_median_to_be_between':                        ('ExpectColumnMedianToBeBetween', COLUMN),
    'expect_column_min_to_be_between':                           ('ExpectColumnMinToBeBetween', COLUMN),
    'expect_column_most_common_value_to_be_in_set':              ('ExpectColumnMostCommonValueToBeInSet', COLUMN),
    'expect_column_pair_values_a_to_be_greater_than_b':          ('ExpectColumnPairValuesAToBeGreaterThanB', ROW),
    'expect_column_pair_values_to_be_equal':                     ('ExpectColumnPairValuesToBeEqual', ROW),
    'expect_column_pair_values_to_be_in_set':                    ('ExpectColumnPairValuesToBeInSet', ROW),
    'expect_column_proportion_of_non_null_values_to_be_between': ('ExpectColumnProportionOfNonNullValuesToBeBetween', COLUMN),
    'expect_column_proportion_of_unique_values_to_be_between':   ('ExpectColumnProportionOfUniqueValuesToBeBetween', COLUMN),
    'expect_column_quantile_values_to_be_between':               ('ExpectColumnQuantileValuesToBeBetween', COLUMN),
    'expect_column_stdev_to_be_between':                         ('ExpectColumnStdevToBeBetween', COLUMN),
    'expect_column_sum_to_be_between':                           ('ExpectColumnSumToBeBetween', COLUMN),
    'expect_column_to_exist':                                    ('ExpectColumnToExist', SCHEMA),
    'expect_column_type_to_be':                                  ('ExpectColumnTypeToBe', COLUMN),
    'expect_column_unique_value_count_to_be_between':            ('ExpectColumnUniqueValueCountToBeBetween', COLUMN),
    'expect_column_value_lengths_to_be_between':                 ('ExpectColumnValueLengthsToBeBetween', ROW),
    'expect_column_value_lengths_to_equal':                      ('ExpectColumnValueLengthsToEqual', ROW),
    'expect_column_value_z_scores_to_be_less_than':              ('ExpectColumnValueZScoresToBeLessThan', COLUMN),
    'expect_column_values_to_be_between':                        ('ExpectColumnValuesToBeBetween', ROW),
    'expect_column_values_to_be_dateutil_parseable':             ('ExpectColumnValuesToBeDateutilParseable', ROW),
    'expect_column_values_to_be_decreasing':                     ('ExpectColumnValuesToBeDecreasing', COLUMN),
    'expect_column_values_to_be_in_set':                         ('ExpectColumnValuesToBeInSet', ROW),
    'expect_column_values_to_be_in_type_list':                   ('ExpectColumnValuesToBeInTypeList', COLUMN),
    'expect_column_values_to_be_increasing':                     ('ExpectColumnValuesToBeIncreasing', COLUMN),
    'expect_column_values_to_be_json_parseable':                 ('ExpectColumnValuesToBeJsonParseable', ROW),
    'expect_column_values_to_be_null':                           ('ExpectColumnValuesToBeNull', ROW),
    'expect_column_values_to_be_of_type':                        ('ExpectColumnValuesToBeOfType', COLUMN),
    'expect_column_values_to_be_unique':                         ('ExpectColumnValuesToBeUnique', COLUMN),
    'expect_column_values_to_match_json_schema':                 ('ExpectColumnValuesToMatchJsonSchema', ROW),
    'expect_column_values_to_match_regex':                       ('ExpectColumnValuesToMatchRegex', ROW),
    'expect_column_values_to_match_regex_list':                  ('ExpectColumnValuesToMatchRegexList', ROW),
    'expect_column_values_to_match_strftime_format':             ('ExpectColumnValuesToMatchStrftimeFormat', ROW),
    'expect_column_values_to_not_be_in_set':                     ('ExpectColumnValuesToNotBeInSet', ROW),
    'expect_column_values_to_not_be_null':                       ('ExpectColumnValuesToNotBeNull', ROW),
    'expect_column_values_to_not_be_outliers':                   ('ExpectColumnValuesToNotBeOutliers', COLUMN),
    'expect_column_values_to_not_match_regex':                   ('ExpectColumnValuesToNotMatchRegex', ROW),
    'expect_column_values_to_not_match_regex_list':              ('ExpectColumnValuesToNotMatchRegexList', ROW),
    'expect_compound_columns_to_be_unique':                      ('ExpectCompoundColumnsToBeUnique', COLUMN),
    'expect_multicolumn_sum_to_equal':                           ('ExpectMulticolumnSumToEqual', ROW),
    'expect_multicolumn_values_to_be_equal':                     ('ExpectMulticolumnValuesToBeEqual', ROW),
    'expect_select_column_values_to_be_unique_within_record':    ('ExpectSelectColumnValuesToBeUniqueWithinRecord', ROW),
    'expect_table_column_count_to_be_between':                   ('ExpectTableColumnCountToBeBetween', SCHEMA),
    'expect_table_column_count_to_equal':                        ('ExpectTableColumnCountToEqual', SCHEMA),
    'expect_table_columns_to_match_ordered_list':                ('ExpectTableColumnsToMatchOrderedList', SCHEMA),
    'expect_table_columns_to_match_set':                         ('ExpectTableColumnsToMatchSet', SCHEMA),
    'expect_table_row_count_to_be_between':                      ('ExpectTableRowCountToBeBetween', COLUMN),
    'expect_table_row_count_to_equal':                           ('ExpectTableRowCountToEqual', COLUMN),
}

KNOWN_EXPECTATIONS: dict[str, str] = {name: class_name for name, (class_name, _) in EXPECTATIONS.items()}
ROW_WISE = frozenset(name for name, (_, category) in EXPECTATIONS.items() if category == ROW)
# row-wise expectations that read each value as text (regexes, lengths, date and JSON parsing):
# the quality gate gives them each value as it is (an integer reads "1"), not as pandas would
# convert it for the column (an integer column holding an empty value reads "1.0") -- which a
# chunk of rows would decide otherwise than the whole batch
READ_AS_TEXT = frozenset({
    "expect_column_value_lengths_to_be_between", "expect_column_value_lengths_to_equal",
    "expect_column_values_to_be_dateutil_parseable", "expect_column_values_to_be_json_parseable",
    "expect_column_values_to_match_json_schema", "expect_column_values_to_match_regex",
    "expect_column_values_to_match_regex_list", "expect_column_values_to_match_strftime_format",
    "expect_column_values_to_not_match_regex", "expect_column_values_to_not_match_regex_list",
})
SCHEMA_ONLY = frozenset(name for name, (_, category) in EXPECTATIONS.items() if category == SCHEMA)


def named_columns(kwargs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(argument, column)`` for each column an expectation's arguments name: ``column``,
    ``column_A``/``column_B`` and the items of ``column_list`` (texts only; the task model
    checks them against the task's attributes, the quality gate keeps only those columns)."""
    named = [(arg, kwargs[arg]) for arg in ("column", "column_A", "column_B") if isinstance(kwargs.get(arg), str)]
    if isinstance(kwargs.get("column_list"), (list, tuple)):
        named += [("column_list", c) for c in kwargs["column_list"] if isinstance(c, str)]
    return named
