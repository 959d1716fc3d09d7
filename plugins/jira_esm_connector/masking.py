"""Registering secrets with Airflow's log masker, when Airflow is there.

Airflow masks connection passwords it hands out, but not what the connector derives from
them (the ESM JWT of each login, the Basic auth header value). The plain clients do not
import Airflow: the hooks pass :func:`mask_secret` to them as a callback.
"""
from __future__ import annotations

import logging
import warnings
from typing import Any, Callable

__all__ = ["mask_secret"]

log = logging.getLogger("jira_esm_connector")


def _airflow_masker() -> Callable[..., None] | None:
    try:
        from airflow.sdk.log import mask_secret as airflow_mask  # Airflow 3.x task SDK
    except ImportError:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the compatibility module warns on import
                from airflow.sdk.execution_time.secrets_masker import mask_secret as airflow_mask
        except ImportError:
            return None
    return airflow_mask


def mask_secret(value: Any) -> None:
    """Ask Airflow to mask ``value`` in every log line (task and supervisor); a no-op
    without Airflow. Never fails the caller: masking is a second line of defence."""
    if not value or not isinstance(value, str):
        return
    masker = _airflow_masker()
    if masker is None:
        return
    try:
        masker(value)
    except Exception as exc:  # noqa: BLE001
        log.debug("could not register a secret with Airflow's masker: %s", type(exc).__name__)
