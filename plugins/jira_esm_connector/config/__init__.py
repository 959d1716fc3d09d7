"""Task files (``include/mappings/*.yaml``): typed models, loading with plain errors,
Params schema for event DAGs, global settings and the vendor scheduling table.

No Airflow imports, no network.
"""
from __future__ import annotations

from .errors import TaskFileError
from .event import EventTask, PayloadField, RenderedEvent, event_renderer
from .expectations import KNOWN_EXPECTATIONS
from .loader import LoadResult, Task, load_task_dir, load_task_file, parse_task
from .operation_specs import OPERATION_SPECS, OPERATIONS, OperationSpec
from .params import allowed_keys, param_kwargs, params_schema
from .scheduled import (
    CacheSettings,
    TimeoutSettings,
    CommentSettings,
    KeySpec,
    QualityExpectation,
    RemovalSettings,
    ScheduledTask,
    parse_clear_hours,
)
from .scheduling import (
    SCHEDULING_TABLE,
    recommended_schedule,
    schedule_warning,
    shortest_interval,
    suggest_cron,
)
from .settings import ConnectorSettings

__all__ = [
    "KNOWN_EXPECTATIONS",
    "OPERATIONS",
    "OPERATION_SPECS",
    "SCHEDULING_TABLE",
    "CacheSettings",
    "TimeoutSettings",
    "CommentSettings",
    "ConnectorSettings",
    "EventTask",
    "KeySpec",
    "LoadResult",
    "OperationSpec",
    "PayloadField",
    "QualityExpectation",
    "RemovalSettings",
    "RenderedEvent",
    "ScheduledTask",
    "Task",
    "TaskFileError",
    "allowed_keys",
    "event_renderer",
    "load_task_dir",
    "load_task_file",
    "param_kwargs",
    "params_schema",
    "parse_clear_hours",
    "parse_task",
    "recommended_schedule",
    "schedule_warning",
    "shortest_interval",
    "suggest_cron",
]
