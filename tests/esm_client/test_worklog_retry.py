"""A bulk PUT that only *edits* cards went out on the session that treats PUT as idempotent
(repeated after 500/502/503/504, read timeouts and resets). But ESM worklog attributes are
append-only: every write of worklog values -- bulk edit included -- adds entries. When the
answer to such a PUT was lost after ESM saved it, the PUT was repeated blindly and the
worklog entry written twice. A chunk that writes a worklog now goes out like a create."""
from __future__ import annotations

import pytest

from jira_esm_connector.esm import CardInput, EsmClient
from jira_esm_connector.http import ConnectorHTTPError

from ..fixtures.jira_proxy import ForwardingProxy
from .conftest import FAST_RETRY

FOLDER = "incident_management"
PUT = "/rest-api/itsm/v1/dc/incident/data"


@pytest.mark.parametrize("kind", ["502", "reset"])
def test_bulk_edit_with_a_worklog_value_is_not_repeated_after_a_lost_answer(esm_sim, tag, kind):
    proxy = ForwardingProxy(esm_sim.root_url, esm_sim.ca_pem)
    esm = EsmClient(proxy.url + "/rest-api/itsm/v1", esm_sim.username, esm_sim.password,
                    retry=FAST_RETRY, allow_insecure_http=True)
    try:
        card_id = esm.create_card("incident", {"subject": f"{tag} wl", "task_id": tag}, folder=FOLDER)
        # ESM saves the edit, but its answer is lost on the way back
        proxy.fail_after("PUT", PUT, kind=kind)
        try:
            esm.bulk_import("incident", [CardInput({"worklog": f"{tag} note"}, data_card_id=card_id)])
        except ConnectorHTTPError:
            pass  # not repeated: the caller is told the outcome is unknown
        entries = [v["value"] for v in esm.get_attribute("incident", card_id, "worklog")]
        sent = proxy.count("PUT", PUT)
    finally:
        esm.close()
        proxy.close()
    assert entries.count(f"{tag} note") == 1, f"worklog entry written {entries.count(f'{tag} note')} times ({sent} PUTs)"
