"""Global connector settings from ``JIRA_ESM_*`` environment variables.

The one place the connector reads its environment. Besides ``JIRA_ESM_*`` only Airflow's
own ``AIRFLOW_HOME`` is read here (where the default state DB and staging folder go).
Elsewhere in the package only two variables that are not the connector's are read where
they are needed: ``AIRFLOW__CORE__EXECUTOR`` (Airflow's executor setting, in
``dagfactory/common.py``: SQLite is refused under a distributed executor) and the
platform's ``XDG_RUNTIME_DIR`` (the private folder for CA bundles given as PEM text, in
``connection_extras.py``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .scheduled import parse_clear_hours

__all__ = ["ConnectorSettings"]


def _airflow_home() -> Path:
    home = os.environ.get("AIRFLOW_HOME")  # Airflow's own variable
    return Path(home) if home else Path(".")


def _int_or_default(value: Any, default: int) -> Any:
    """A retry count or delay that is not a whole number falls back to its default (as before)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# the number settings: set to nothing, their default (as the text ones); the retry count and
# delay fall back on their own (_int_or_default)
_NUMBERS = (
    "staging_retention_hours", "pool_slots", "index_lag_seconds", "task_timeout_minutes", "run_timeout_minutes",
    "lease_wait_seconds", "lease_ttl_seconds", "event_retries", "event_retry_delay_s", "event_timeout_minutes",
    "jira_rate_limit", "jira_concurrency", "esm_concurrency",
)


def _default_state_url() -> str:
    return f"sqlite:///{(_airflow_home() / 'jira_esm_state.db').resolve()}"


class ConnectorSettings(BaseSettings):
    """Read fresh with ``ConnectorSettings()``; every value overridable by env var.

    ====================================== ===================================================
    ``JIRA_ESM_STATE_DB_URL``              SQLAlchemy URL of the state DB
                                           (default ``sqlite:///<AIRFLOW_HOME or .>/jira_esm_state.db``)
    ``JIRA_ESM_STAGING_DIR``               staged extract/transform files (default ``<AIRFLOW_HOME>/jira_esm_staging``)
    ``JIRA_ESM_STAGING_RETENTION_HOURS``   how long a run's staged files are kept after its
                                           last step (default 6; they hold Jira data)
    ``JIRA_ESM_CACHE_CLEAR_HOURS``         UTC hours the task cache is cleared, e.g. ``0`` or ``6,12``
    ``JIRA_ESM_POOL``                      Airflow pool shared by all connector tasks
    ``JIRA_ESM_POOL_SLOTS``                its size (default 6)
    ``JIRA_ESM_MAPPINGS_DIR``              task files folder (default: the ``include/mappings`` folder next to
                                           the ``dags/`` folder, passed in by the DAG files; without one,
                                           ``<AIRFLOW_HOME or .>/include/mappings``) -- see :meth:`task_folder`
    ``JIRA_ESM_TIMEZONE``                  zone ESM date/datetime values are written in (default UTC)
    ``JIRA_ESM_DATE_FORMAT``               default ESM date format (default ``%Y-%m-%d``)
    ``JIRA_ESM_DATETIME_FORMAT``           default ESM datetime format (default ``%Y-%m-%dT%H:%M:%SZ``)
    ``JIRA_ESM_INDEX_LAG_SECONDS``         how long Jira's search may lag behind a create (default 60):
                                           an issue create whose outcome is unknown is sent again
                                           only when a search made that much later misses it
    ``JIRA_ESM_TASK_TIMEOUT_MINUTES``      deadline of one import step (Airflow ``execution_timeout``, default 60)
    ``JIRA_ESM_RUN_TIMEOUT_MINUTES``       deadline of a whole import run (``dagrun_timeout``, default 240;
                                           at least the task timeout); also how long a dead run's lease lasts
    ``JIRA_ESM_LEASE_WAIT_SECONDS``        how long a run waits for another run of the same task (default 120)
    ``JIRA_ESM_LEASE_TTL_SECONDS``         heartbeat lifetime of a running step's lease (default 60): a killed
                                           worker frees the step this long after it died
    ``JIRA_ESM_TASK_RETRIES``              Airflow retries of every import step (default 3; exponential backoff)
    ``JIRA_ESM_RETRY_DELAY_S``             first retry delay of an import step in seconds (default 60)
    ``JIRA_ESM_EVENT_RETRIES``             retries of an event push (default 2: interactive, so fewer and sooner)
    ``JIRA_ESM_EVENT_RETRY_DELAY_S``       first retry delay of an event push in seconds (default 5)
    ``JIRA_ESM_EVENT_TIMEOUT_MINUTES``     deadline of an event push (``execution_timeout``, default 5)
    ``JIRA_ESM_JIRA_RATE_LIMIT``           most requests per second one task process sends to one Jira site
                                           (default 50; retries included). Atlassian's burst limits are per
                                           site and shared by every token: divide the site's budget by the
                                           connector pool's slots
    ``JIRA_ESM_JIRA_CONCURRENCY``          most Jira requests in flight at once in one task (default 8)
    ``JIRA_ESM_ESM_CONCURRENCY``           most ESM bulk writes / lookups in flight at once in one task (default 4)
    ``JIRA_ESM_STAGING_URL``               the staging root as an Airflow ObjectStoragePath URL, reached by every
                                           worker: ``s3://bucket/prefix``, ``gs://...``, ``file:///shared/volume``
                                           (default: none, i.e. the local folder ``JIRA_ESM_STAGING_DIR``)
    ``JIRA_ESM_STAGING_CONN_ID``           Airflow connection with the credentials for ``JIRA_ESM_STAGING_URL``
                                           (default: none, the file system's own defaults, e.g. an instance role)
    ====================================== ===================================================

    A folder, URL, text or number variable set to nothing (``JIRA_ESM_MAPPINGS_DIR=``,
    ``JIRA_ESM_POOL_SLOTS=``) counts as not set: its default. (``JIRA_ESM_CACHE_CLEAR_HOURS=`` is
    "never by clock".)
    """

    model_config = SettingsConfigDict(env_prefix="JIRA_ESM_", extra="ignore", frozen=True)

    state_db_url: str = Field(default_factory=_default_state_url, repr=False)
    staging_dir: Path = Field(default_factory=lambda: (_airflow_home() / "jira_esm_staging").resolve())
    staging_retention_hours: float = Field(6.0, gt=0)
    cache_clear_hours: Annotated[list[int], NoDecode] = [0]
    pool: str = "jira_esm_connector"
    pool_slots: int = Field(6, ge=1)
    mappings_dir: Path | None = None  # None: the DAG file's default (see task_folder)
    timezone: str = "UTC"
    date_format: str = "%Y-%m-%d"
    datetime_format: str = "%Y-%m-%dT%H:%M:%SZ"
    index_lag_seconds: float = Field(60.0, ge=0, le=3600)
    task_timeout_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    run_timeout_minutes: int = Field(240, ge=1, le=7 * 24 * 60)
    lease_wait_seconds: float = Field(120.0, ge=0, le=24 * 3600)
    lease_ttl_seconds: float = Field(60.0, gt=0, le=3600)
    task_retries: int = 3
    retry_delay_s: int = 60
    event_retries: int = Field(2, ge=0)
    event_retry_delay_s: int = Field(5, ge=0)
    event_timeout_minutes: int = Field(5, ge=1, le=24 * 60)
    # -- parallelism (issue 10) --
    jira_rate_limit: float = Field(50.0, gt=0, le=10_000)
    jira_concurrency: int = Field(8, ge=1, le=64)
    esm_concurrency: int = Field(4, ge=1, le=32)
    # -- staging every worker reaches (issue 11) --
    staging_url: str | None = None  # None: staging_dir (a local folder)
    staging_conn_id: str | None = None

    @field_validator("task_retries", mode="before")
    @classmethod
    def _retries(cls, value: Any) -> Any:
        return _int_or_default(value, 3)

    @field_validator("retry_delay_s", mode="before")
    @classmethod
    def _retry_delay(cls, value: Any) -> Any:
        return _int_or_default(value, 60)

    def task_folder(self, default: str | Path | None = None) -> Path:
        """The task files folder: ``JIRA_ESM_MAPPINGS_DIR`` if set, else ``default`` (the DAG
        files pass the ``include/mappings`` folder next to their own ``dags/`` folder), else
        ``<AIRFLOW_HOME or .>/include/mappings``. Never derived from where this package is
        installed: after ``pip install .`` that is site-packages."""
        if self.mappings_dir is not None:
            return Path(self.mappings_dir)
        if default is not None:
            return Path(default)
        return (_airflow_home() / "include" / "mappings").resolve()

    @field_validator("cache_clear_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        return parse_clear_hours(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from ..mapping.dates import get_zone

        get_zone(value)
        return value

    @field_validator("staging_url", "staging_conn_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        # an empty variable (``JIRA_ESM_STAGING_URL=``) means "not set": the local folder
        return value.strip() or None if isinstance(value, str) else value

    @field_validator(
        "state_db_url", "staging_dir", "pool", "mappings_dir", "timezone", "date_format", "datetime_format",
        *_NUMBERS, mode="before",
    )
    @classmethod
    def _blank_is_default(cls, value: Any, info: ValidationInfo) -> Any:
        # an empty variable (``JIRA_ESM_MAPPINGS_DIR=``, e.g. ``${VAR:-}`` in a compose file)
        # means "not set", as for JIRA_ESM_STAGING_URL -- not Path(""), the working directory
        # (nor a pool or a date format named "", nor a number that fails every connector DAG)
        if isinstance(value, str) and not value.strip():
            return cls.model_fields[info.field_name].get_default(call_default_factory=True)
        return value

    @field_validator("staging_url")
    @classmethod
    def _staging_url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError(
                f"JIRA_ESM_STAGING_URL {value!r} is not a URL (s3://bucket/prefix, gs://..., file:///path); "
                "a local folder is JIRA_ESM_STAGING_DIR"
            )
        return value

    @model_validator(mode="after")
    def _deadlines(self) -> "ConnectorSettings":
        if self.run_timeout_minutes < self.task_timeout_minutes:
            raise ValueError(
                f"JIRA_ESM_RUN_TIMEOUT_MINUTES ({self.run_timeout_minutes}) must be at least "
                f"JIRA_ESM_TASK_TIMEOUT_MINUTES ({self.task_timeout_minutes}): a run holds at least one step"
            )
        return self
