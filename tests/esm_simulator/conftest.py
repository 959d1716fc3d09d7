"""Per-test helpers for the ESM simulator tests: a clean simulator and a validating client."""
from __future__ import annotations

from typing import Any

import pytest
import requests


class EsmApi:
    """requests against the simulator; every response of a documented operation is checked
    against the shared OpenAPI document unless ``validate=False``."""

    def __init__(self, sim: Any, openapi: Any):
        self.sim = sim
        self.openapi = openapi
        self.session = sim.session()

    def call(self, method: str, path: str, *, validate: bool = True, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        resp = self.session.request(method, self.sim.base_url + path, **kwargs)
        if validate:
            self.openapi.validate(resp)
        return resp

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.call("PUT", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.call("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.call("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.call("DELETE", path, **kw)

    # --- data helpers -------------------------------------------------------------------
    def bulk(self, template: str, cards: list[dict]) -> dict:
        resp = self.put(f"/dc/{template}/data", json=cards)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def make_persons(self, n: int, prefix: str = "p") -> list[str]:
        cards = [person(f"{prefix}{i}") for i in range(n)]
        out = self.bulk("person", cards)
        assert out["meta"]["importResult"]["savedDataCards"] == n, out
        return [item["dataCard"]["dataCardId"] for item in out["data"]]


def vals(*values: Any) -> dict:
    return {"values": [{"value": v} for v in values]}


def person(account: str, status: str = "Active", **extra: Any) -> dict:
    data = {"jira_account_id": vals(account), "display_name": vals(f"User {account}"),
            "email": vals(f"{account}@example.com"), "accountStatus": vals(status)}
    data.update(extra)
    return {"folderCode": "persons", "data": data}


@pytest.fixture
def esm_api(esm_sim: Any, esm_openapi: Any) -> EsmApi:
    esm_sim.reset()
    return EsmApi(esm_sim, esm_openapi)
