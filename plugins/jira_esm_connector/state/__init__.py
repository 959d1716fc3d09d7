"""The connector's own state database (never Airflow's metadata DB)."""
from __future__ import annotations

from .lease import (
    LeaseBusyError, LeaseError, LeaseLostError, RunLease, TemplateBusyError, TemplateLock, TemplateLockLostError,
    hold_lease, hold_template_lock,
)
from .store import EventRecord, LeaseInfo, StateStore, StateStoreError, hour_boundary_crossed

__all__ = [
    "EventRecord",
    "LeaseBusyError",
    "LeaseError",
    "LeaseInfo",
    "LeaseLostError",
    "RunLease",
    "StateStore",
    "StateStoreError",
    "TemplateBusyError",
    "TemplateLock",
    "TemplateLockLostError",
    "hold_lease",
    "hold_template_lock",
    "hour_boundary_crossed",
    "open_state_store",
]


def open_state_store(settings=None) -> StateStore:
    """The store at ``JIRA_ESM_STATE_DB_URL`` (or ``settings.state_db_url``)."""
    if settings is None:
        from ..config.settings import ConnectorSettings

        settings = ConnectorSettings()
    return StateStore(settings.state_db_url)
