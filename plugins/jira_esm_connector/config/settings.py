"""Global connector settings from ``JIRA_ESM_*`` environment variables."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .scheduled import parse_clear_hours

__all__ = ["ConnectorSettings", "REPO_ROOT"]

# plugins/jira_esm_connector/config/settings.py -> repository root
REPO_ROOT = Path(__file__).resolve().parents[3]


def _airflow_home() -> Path:
    home = os.environ.get("AIRFLOW_HOME")
    return Path(home) if home else Path(".")


def _default_state_url() -> str:
    return f"sqlite:///{(_airflow_home() / 'jira_esm_state.db').resolve()}"


class ConnectorSettings(BaseSettings):
    """Read fresh with ``ConnectorSettings()``; every value overridable by env var.

    ============================== ==========================================================
    ``JIRA_ESM_STATE_DB_URL``      SQLAlchemy URL of the state DB
                                   (default ``sqlite:///<AIRFLOW_HOME or .>/jira_esm_state.db``)
    ``JIRA_ESM_STAGING_DIR``       staged extract/transform files (default ``<AIRFLOW_HOME>/jira_esm_staging``)
    ``JIRA_ESM_CACHE_CLEAR_HOURS`` UTC hours the task cache is cleared, e.g. ``0`` or ``6,12``
    ``JIRA_ESM_POOL``              Airflow pool shared by all connector tasks
    ``JIRA_ESM_POOL_SLOTS``        its size (default 6)
    ``JIRA_ESM_MAPPINGS_DIR``      task files folder (default ``<repo>/include/mappings``)
    ``JIRA_ESM_TIMEZONE``          zone ESM date/datetime values are written in (default UTC)
    ``JIRA_ESM_DATE_FORMAT``       default ESM date format (default ``%Y-%m-%d``)
    ``JIRA_ESM_DATETIME_FORMAT``   default ESM datetime format (default ``%Y-%m-%dT%H:%M:%SZ``)
    ``JIRA_ESM_INDEX_LAG_SECONDS`` how long Jira's search may lag behind a create (default 60):
                                   an issue create whose outcome is unknown is sent again
                                   only when a search made that much later misses it
    ============================== ==========================================================
    """

    model_config = SettingsConfigDict(env_prefix="JIRA_ESM_", extra="ignore", frozen=True)

    state_db_url: str = Field(default_factory=_default_state_url, repr=False)
    staging_dir: Path = Field(default_factory=lambda: (_airflow_home() / "jira_esm_staging").resolve())
    cache_clear_hours: Annotated[list[int], NoDecode] = [0]
    pool: str = "jira_esm_connector"
    pool_slots: int = Field(6, ge=1)
    mappings_dir: Path = REPO_ROOT / "include" / "mappings"
    timezone: str = "UTC"
    date_format: str = "%Y-%m-%d"
    datetime_format: str = "%Y-%m-%dT%H:%M:%SZ"
    index_lag_seconds: float = Field(60.0, ge=0, le=3600)

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

    def safe_state_db_url(self) -> str:
        """The state DB URL with any password masked, for logs."""
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.state_db_url).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - never echo an unparseable URL (may hold a secret)
            return "<unparseable state DB URL>"
