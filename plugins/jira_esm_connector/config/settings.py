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

    ====================================== ===================================================    """

    model_config = SettingsConfigDict(env_prefix="JIRA_ESM_", extra="ignore", frozen=True)

    state_db_url: str = Field(default_factory=_default_state_url, repr=False)
    staging_dir: Path = Field(default_factory=lambda: (_airflow_home() / "jira_esm_staging").resolve())
    staging_retention_hours: float = Field(6.0, gt=0)
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
        """The state DB URL with its password and query-string secrets masked, for logs."""
        from ..state.store import safe_db_url

        return safe_db_url(self.state_db_url)
