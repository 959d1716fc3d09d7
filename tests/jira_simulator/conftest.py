"""Shared fixtures of the simulator tests: the Jira OpenAPI document, loaded once."""
from __future__ import annotations

import json
import re
from urllib.parse import urlsplit
from pathlib import Path
from typing import Any, Callable

import jsonschema
import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.validation.response.exceptions import MissingData

SPEC_PATH = Path("/work/shared/jira-openapi/swagger-v3.v3.json")
if not SPEC_PATH.exists():  # the shared folder sits next to the repository
    SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "jira-openapi" / "swagger-v3.v3.json"

# Jira Cloud writes timestamps as 2024-01-02T10:11:12.345+0000 (ISO 8601 with a basic-format
# offset) although the document declares `format: date-time` (RFC 3339 wants +00:00). The
# simulator writes what Jira writes, so the validator accepts exactly that form as well.
_JIRA_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})$"
)


def _jira_datetime(value: Any) -> bool:
    return not isinstance(value, str) or bool(_JIRA_DATETIME.match(value))


@pytest.fixture(scope="session")
def jira_spec_dict() -> dict:
    spec = json.loads(SPEC_PATH.read_text())
    spec["servers"] = [{"url": "/"}]  # match any host: the simulator runs on a random port
    return spec


@pytest.fixture(scope="session")
def jira_openapi(jira_spec_dict: dict) -> OpenAPI:
    # The published document does not pass strict spec validation (an enum default of "");
    # responses are still validated against its schemas.
    config = Config(spec_validator_cls=None, extra_format_validators={"date-time": _jira_datetime})
    return OpenAPI.from_dict(jira_spec_dict, config=config)


def _documented_without_schema(spec: dict, resp: requests.Response) -> bool:
    """True when the document lists this status with an empty (schema-less) JSON body."""
    path = urlsplit(resp.request.url).path
    method = resp.request.method.lower()
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method in item:
            documented = item[method]["responses"].get(str(resp.status_code))
            if documented is None:
                return False
            schema = (documented.get("content") or {}).get("application/json", {}).get("schema")
            return not schema
    return False


@pytest.fixture(scope="session")
def validate(jira_openapi: OpenAPI, jira_spec_dict: dict) -> Callable[[requests.Response], requests.Response]:
    """Validate a live response against the Jira OpenAPI document (operation, status, body)."""

    def _validate(resp: requests.Response) -> requests.Response:
        try:
            jira_openapi.validate_response(
                RequestsOpenAPIRequest(resp.request), RequestsOpenAPIResponse(resp)
            )
        except MissingData:
            # Jira answers e.g. 204 / property PUTs with no body, while the document lists an
            # empty JSON schema `{}` for them: accept exactly that case.
            if resp.content or not _documented_without_schema(jira_spec_dict, resp):
                raise
        return resp

    return _validate


@pytest.fixture(scope="session")
def validate_error(jira_spec_dict: dict) -> Callable[[requests.Response, int], dict]:
    """Check an error response's status and that its body is Jira's ErrorCollection."""
    schema = dict(jira_spec_dict["components"]["schemas"]["ErrorCollection"])

    def _check(resp: requests.Response, status: int) -> dict:
        assert resp.status_code == status, resp.text
        body = resp.json()
        jsonschema.validate(body, schema)
        assert set(body) >= {"errorMessages", "errors"}
        assert body["errorMessages"] or body["errors"]
        return body

    return _check


@pytest.fixture
def api(jira_sim_fresh):
    """A session on a fresh simulator; ``api.base`` is its REST API v3 root."""
    s = jira_sim_fresh.session()
    s.base = jira_sim_fresh.base_url + "/rest/api/3"
    return s
