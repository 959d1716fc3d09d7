"""The ESM client against the ESM simulator over real HTTPS."""
from __future__ import annotations

import logging
import socket
import time

import pytest

from jira_esm_connector.esm import (
    CardInput,
    CardNotFoundError,
    EsmBadCredentialsError,
    EsmClient,
    NotAnEsmApiError,
    Ref,
    RefusedValueError,
    UnknownAttributeError,
    UnknownTemplateError,
    eql,
)
from jira_esm_connector.http import (
    AuthenticationError,
    HostUnreachableError,
    InsecureURLError,
    NotFoundError,
    PermissionDeniedError,
    RetryPolicy,
    ServiceUnavailableError,
    TLSError,
)

from .conftest import FAST_RETRY

FOLDER = "incident_management"


def make_incidents(esm: EsmClient, tag: str, n: int, **extra) -> list[str]:
    cards = [{"subject": f"{tag} #{i}", "jira_key": f"{tag}-{i}", "task_id": tag, **extra} for i in range(n)]
    result = esm.bulk_import("incident", cards, folder=FOLDER)
    assert [o.status for o in result.outcomes] == ["created"] * n, [o.reason for o in result.refused]
    return [o.data_card_id for o in result.outcomes]


def test_echo_login_and_templates(esm):
    assert esm.echo("hello") == "hello"
    assert esm.echo_jwt("with token") == "with token"
    assert esm.logins == 1
    assert {"incident", "person", "group"} <= {t.code for t in esm.templates()}

    incident = esm.template("incident")
    assert incident.code == "incident"
    assert "incident_management" in incident.folder_codes
    status = incident.attribute("status")
    assert status.is_static_value and status.allows_static_value("05 - Solved") and not status.allows_static_value("Done")
    assert incident.attribute("reporter").is_reference and incident.attribute("reporter").targets == ("person",)
    assert incident.attribute("labels").multi_value
    assert esm.template("person").attribute("accountStatus").allows_static_value("Deleted")
    assert esm.template("group").attribute("status").allows_static_value("5 - Removed")


def test_token_expiring_mid_sequence_leads_to_transparent_relogin(esm, esm_sim, tag, caplog):
    ids = make_incidents(esm, tag, 9)
    seen: list[str] = []
    pages = esm.iter_pages("incident", filter=eql.eq("task_id", tag), page_size=2)
    seen += [c.data_card_id for c in next(pages)]
    esm_sim.admin("POST", "tokens/expire")  # every token issued so far is now refused with 401
    for page in pages:
        seen += [c.data_card_id for c in page]
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    assert esm.logins == 2
    assert "ESM rejected the session token of 'tester' (expired or revoked); logging in again" in caplog.text

    # a write after another expiry is repeated once, not duplicated
    esm_sim.admin("POST", "tokens/expire")
    new_id = esm.create_card("incident", {"subject": f"{tag} after expiry", "task_id": tag}, folder=FOLDER)
    assert esm.logins == 3
    assert len(list(esm.iter_cards("incident", filter=eql.eq("task_id", tag), data_cards=False))) == 10
    assert esm.get_card("incident", new_id).value("subject") == f"{tag} after expiry"


def test_token_near_its_expiry_is_renewed_before_use(esm, esm_sim, caplog):
    # exp - 30 s skew = usable for 3 to 4 s (exp is whole seconds; margin for a slow, loaded machine)
    esm_sim.admin("POST", "tokens/ttl", {"seconds": 33})
    esm.echo_jwt()
    assert esm.logins == 1
    time.sleep(4.1)
    esm.echo_jwt()
    assert esm.logins == 2
    assert "about to expire; logging in again" in caplog.text


@pytest.mark.parametrize("limit", [1, 7, 200])
def test_paging_returns_every_card_exactly_once_while_cards_are_added(esm, tag, limit):
    ids = make_incidents(esm, tag, 23 if limit < 200 else 205)
    seen: list[str] = []
    for n, page in enumerate(esm.iter_pages("incident", filter=eql.eq("task_id", tag), page_size=limit,
                                            data_cards=limit == 200)):
        assert len(page) <= limit
        seen += [c.data_card_id for c in page]
        if n == 0:
            make_incidents(esm, tag + "x", 3)  # new cards get higher ids: keyset paging is not disturbed
            esm.bulk_import("incident", [CardInput({"task_id": tag}, folder=FOLDER)])  # one more in our set
    assert len(seen) == len(set(seen)), "a card came twice"
    assert set(ids) <= set(seen), "a card went missing"
    assert [int(i) for i in seen] == sorted((int(i) for i in seen), reverse=True)


def test_bulk_import_reports_refused_cards_one_by_one_and_saves_the_rest(esm, tag, caplog):
    existing = make_incidents(esm, tag + "old", 2)
    cards: list[CardInput] = []
    bad = {
        7: ("status", "99 - Nonsense", "static-value"),
        55: ("no_such_attribute", "x", "no attribute 'no_such_attribute'"),
        120: ("reporter", Ref("987654321"), "Referenced data card 987654321 does not exist"),
    }
    for i in range(130):
        data = {"subject": f"{tag} #{i}", "jira_key": f"{tag}-{i}", "task_id": tag, "status": "01 - New"}
        if i in bad:
            data[bad[i][0]] = bad[i][1]
        cards.append(CardInput(data, ref=f"{tag}-{i}"))
    cards.append(CardInput({"subject": "wrong folder", "task_id": tag}, folder="service_catalog", ref="folder"))
    cards.append(CardInput({"subject": "edited", "task_id": tag}, data_card_id=existing[0], ref="edit"))
    cards.append(CardInput({"subject": "ghost"}, data_card_id="987654322", ref="ghost"))

    result = esm.bulk_import("incident", cards, folder=FOLDER, chunk_size=50)

    assert result.chunks == 3 and len(result) == 133
    assert [o.index for o in result.outcomes] == list(range(133))
    refused = {o.ref: o for o in result.refused}
    assert set(refused) == {f"{tag}-7", f"{tag}-55", f"{tag}-120", "folder", "ghost"}
    for i, (_, _, words) in bad.items():
        assert words in refused[f"{tag}-{i}"].reason
    assert "not allowed" in refused["folder"].reason
    assert "987654322" in refused["ghost"].reason
    assert result.counts() == {"handled": 133, "created": 127, "updated": 1, "refused": 5}
    assert result.updated[0].data_card_id == existing[0]

    # what ESM now holds: every accepted card, none of the refused
    wanted = {f"{tag}-{i}" for i in range(130)}
    by_key: dict[str, str] = {}
    for card in esm.iter_cards("incident", filter=eql.eq("task_id", tag), selected_attributes=["jira_key"]):
        if card.value("jira_key") in wanted:
            by_key.setdefault(card.value("jira_key"), card.data_card_id)  # newest first wins
    assert set(by_key) == {f"{tag}-{i}" for i in range(130)} - {f"{tag}-{i}" for i in bad}
    created = {o.ref: o.data_card_id for o in result.created}
    assert all(by_key[k] == created[k] for k in by_key)
    assert esm.get_card("incident", existing[0]).value("subject") == "edited"
    # every refusal is in the log, one line each
    for ref in refused:
        assert f"({ref})" in caplog.text

    # a second run with ids known updates instead of creating
    again = esm.bulk_import(
        "incident", [CardInput({"status": "05 - Solved"}, data_card_id=by_key[f"{tag}-0"])], folder=FOLDER
    )
    assert again.counts()["updated"] == 1
    assert esm.get_card("incident", by_key[f"{tag}-0"]).value("status") == "05 - Solved"


def test_bulk_import_without_folder_refuses_new_cards_locally(esm, tag):
    result = esm.bulk_import("incident", [{"subject": "no folder", "task_id": tag}])
    assert result.refused[0].reason == "a new card needs a folder, and none was given"


def test_bulk_creates_are_not_blindly_repeated_after_a_server_error(esm, esm_sim, tag):
    esm.echo_jwt()
    esm_sim.admin("POST", "stats/reset")
    esm_sim.admin("POST", "errors", {"count": 1, "status": 502, "path_contains": "/dc/incident/data"})
    with pytest.raises(ServiceUnavailableError) as err:
        esm.bulk_import("incident", [{"subject": "maybe", "task_id": tag}], folder=FOLDER)
    assert "502" in str(err.value)
    stats = esm_sim.admin("GET", "stats")
    assert stats["requests"].get("injected error") == 1
    assert not any(k.startswith("PUT") for k in stats["requests"])  # not sent a second time


@pytest.mark.parametrize("status", [429, 503])
def test_bulk_creates_are_repeated_after_a_refusal_with_retry_after(esm, esm_sim, tag, caplog, status):
    """429 / 503 with Retry-After: ESM turned the request away before doing anything, so
    the creating PUT is sent again after the wait -- and creates its card once."""
    esm.echo_jwt()
    esm_sim.admin("POST", "stats/reset")
    esm_sim.admin("POST", "errors", {"count": 2, "status": status, "path_contains": "/dc/incident/data"})
    result = esm.bulk_import("incident", [{"subject": "refused twice", "task_id": tag}], folder=FOLDER)
    assert [o.status for o in result.outcomes] == ["created"]
    stats = esm_sim.admin("GET", "stats")["requests"]
    assert stats.get("injected error") == 2
    assert len(list(esm.iter_cards("incident", filter=eql.eq("task_id", tag)))) == 1
    assert f"ESM answered {status}" in caplog.text and "as Retry-After asks" in caplog.text


def test_reads_are_retried_and_the_retry_is_logged(esm, esm_sim, caplog):
    esm.echo_jwt()
    esm_sim.admin("POST", "errors", {"count": 2, "status": 502, "path_contains": "/dc"})
    assert {"incident"} <= {t.code for t in esm.templates()}
    assert "ESM answered 502 Bad Gateway for GET /rest-api/itsm/v1/dc" in caplog.text


@pytest.mark.parametrize(
    "value",
    ["O'Brien's printer", "'", "it''s", "x' or $subject$ <> '", "back\\slash'", "tab\tand \"double\""],
)
def test_eql_values_with_quotes_are_escaped(esm, tag, value):
    make_incidents(esm, tag, 2)  # decoys in the same task
    target = esm.create_card("incident", {"subject": value, "task_id": tag}, folder=FOLDER)
    hits = list(esm.iter_cards("incident", filter=eql.eql_and(eql.eq("task_id", tag), eql.eq("subject", value))))
    assert [c.data_card_id for c in hits] == [target]
    assert esm.find_card("incident", "subject", value).data_card_id == target
    others = list(esm.iter_cards("incident", filter=eql.eql_and(eql.eq("task_id", tag), eql.ne("subject", value))))
    assert len(others) == 2


def test_single_card_edits_attributes_and_worklog(esm, tag):
    person = esm.create_card("person", {"display_name": f"{tag} Ann", "jira_account_id": tag, "task_id": tag}, folder="persons")
    card_id = esm.create_card(
        "incident",
        {"subject": "Printer", "task_id": tag, "labels": ["a", "b"], "reporter": Ref(person), "story_points": 3},
        folder=FOLDER,
    )
    card = esm.get_card("incident", card_id)
    assert card.plain_values("labels") == ["a", "b"] and card.value("reporter") == person
    assert card.folder_code == FOLDER and card.template_code == "incident"

    esm.patch_card("incident", card_id, {"status": "02 - Solving", "labels": ["c"]})
    esm.set_attribute("incident", card_id, "resolution", "Fixed the toner")
    esm.add_attribute_value("incident", card_id, "labels", "d")
    esm.append_worklog("incident", card_id, "worklog", "first note")
    esm.append_worklog("incident", card_id, "worklog", "second note")
    card = esm.get_card("incident", card_id)
    assert card.value("status") == "02 - Solving"
    assert card.value("resolution") == "Fixed the toner"
    assert card.plain_values("labels") == ["c", "d"]
    worklog = esm.get_attribute("incident", card_id, "worklog")
    assert sorted(v["value"] for v in worklog) == ["first note", "second note"]
    assert all(v.get("author") for v in worklog)

    esm.set_attribute("incident", card_id, "resolution", None)
    assert esm.get_attribute("incident", card_id, "resolution") == []

    assert esm.delete_card("incident", card_id) is True
    assert esm.delete_card("incident", card_id) is False  # already in the trash (409)


def test_plain_typed_errors(esm, esm_sim, tag):
    with pytest.raises(UnknownTemplateError, match="ESM has no template 'nope'"):
        esm.template("nope")
    with pytest.raises(UnknownTemplateError):
        list(esm.iter_cards("nope"))
    with pytest.raises(UnknownAttributeError, match="ESM template 'incident' has no attribute 'colour'"):
        list(esm.iter_cards("incident", filter=eql.eq("colour", "red")))
    with pytest.raises(UnknownAttributeError, match="has no attribute 'colour'"):
        list(esm.iter_cards("incident", selected_attributes=["subject", "colour"]))
    with pytest.raises(UnknownAttributeError, match="has no attribute 'colour'"):
        esm.template("incident").attribute("colour")
    with pytest.raises(UnknownAttributeError, match="has no attribute 'colour'"):
        esm.create_card("incident", {"subject": "x", "colour": "red"}, folder=FOLDER)

    card_id = make_incidents(esm, tag, 1)[0]
    with pytest.raises(UnknownAttributeError, match="has no attribute 'colour'"):
        esm.get_attribute("incident", card_id, "colour")
    with pytest.raises(RefusedValueError, match="Couldn't find static-value with value: Done"):
        esm.patch_card("incident", card_id, {"status": "Done"})
    with pytest.raises(RefusedValueError, match="'Done' is not an allowed value"):
        esm.check_static_value("incident", "status", "Done")
    with pytest.raises(CardNotFoundError, match="ESM has no data card 987654321 in template 'incident'"):
        esm.get_card("incident", "987654321")

    # wrong host: nothing listening on the port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = EsmClient(f"https://127.0.0.1:{port}/rest-api/itsm/v1", "tester", "pw-x", verify=esm_sim.ca_pem,
                     retry=RetryPolicy(total=0, connect_retries=0))
    with pytest.raises(HostUnreachableError, match="refused the connection"):
        dead.echo_jwt()
    # wrong path on the right host
    root = esm_sim.base_url[: -len("/rest-api/itsm/v1")]
    with pytest.raises(NotAnEsmApiError, match="no ESM REST API"):
        EsmClient(root, esm_sim.username, esm_sim.password, verify=esm_sim.ca_pem).echo_jwt()
    # TLS: the simulator's private CA is not trusted by default
    with pytest.raises(TLSError, match="TLS failure talking to ESM.*not trusted"):
        EsmClient(esm_sim.base_url, esm_sim.username, esm_sim.password, retry=FAST_RETRY).echo_jwt()
    # https only, unless opted in
    with pytest.raises(InsecureURLError, match="Refusing plain http"):
        EsmClient("http://127.0.0.1:1/rest-api/itsm/v1", "tester", "pw")


def test_attribute_read_tells_a_missing_card_from_a_permission_problem(esm, esm_sim, tag):
    """The attribute read documents 403 "Resource not found" (no 404): a missing card is a
    CardNotFoundError (not a permission problem that stops a run), a missing template an
    UnknownTemplateError, and a 403 for a card that exists stays a PermissionDeniedError."""
    with pytest.raises(CardNotFoundError, match="ESM has no data card 987654321 in template 'incident'"):
        esm.get_attribute("incident", "987654321", "worklog")
    card_id = make_incidents(esm, tag, 1)[0]
    with pytest.raises(UnknownTemplateError, match="ESM has no template 'nope'"):
        esm.get_attribute("nope", card_id, "worklog")
    esm_sim.admin("POST", "errors", {"status": 403, "count": 1, "path_contains": f"/{card_id}/worklog"})
    with pytest.raises(PermissionDeniedError) as err:
        esm.get_attribute("incident", card_id, "worklog")
    assert not isinstance(err.value, NotFoundError)
    assert esm.get_attribute("incident", card_id, "worklog") == []


@pytest.mark.parametrize("card_id", [".", ".."])
def test_a_dot_segment_card_id_is_refused_not_sent(esm, card_id):
    """A card id of "." or ".." is not put into a URL: sent, it was resolved as a step in the
    path (GET /dc/incident/data/.. read the template, /data/. the card list)."""
    with pytest.raises(ValueError, match="cannot be sent as a code or id in an ESM URL"):
        esm.get_card("incident", card_id)
    with pytest.raises(ValueError, match="cannot be sent as a code or id in an ESM URL"):
        esm.delete_card("incident", card_id)


def test_bad_credentials_plainly_and_without_the_password(esm_sim, caplog):
    caplog.set_level(logging.DEBUG)
    client = EsmClient(esm_sim.base_url, esm_sim.username, "Wr0ng-Pa55-q7", verify=esm_sim.ca_pem)
    with pytest.raises(EsmBadCredentialsError) as err:
        client.echo_jwt()
    assert isinstance(err.value, AuthenticationError)
    assert "bad credentials for ESM user 'tester'" in str(err.value)
    everything = str(err.value) + repr(err.value) + repr(client) + caplog.text
    assert "Wr0ng-Pa55-q7" not in everything


def test_secrets_never_in_logs_or_exception_text(esm, esm_sim, tag, caplog):
    # a busy sequence: login, reads, writes, an expiry and re-login, retries, refusals, errors
    esm.echo_jwt()
    tokens = {esm._token}
    make_incidents(esm, tag, 3)
    esm_sim.admin("POST", "tokens/expire")
    esm.bulk_import("incident", [{"subject": "x", "status": "bogus", "task_id": tag}], folder=FOLDER)
    tokens.add(esm._token)
    esm_sim.admin("POST", "errors", {"count": 1, "status": 502, "path_contains": "/dc/incident"})
    list(esm.iter_cards("incident", filter=eql.eq("task_id", tag)))
    texts = [caplog.text, repr(esm), str(esm.__dict__.get("log"))]
    for call in (lambda: esm.template("nope"), lambda: esm.get_card("incident", "0"),
                 lambda: esm.patch_card("incident", "0", {"status": "x"})):
        with pytest.raises(Exception) as err:
            call()
        texts += [str(err.value), repr(err.value)]
    blob = "\n".join(texts)
    assert esm_sim.password not in blob
    for token in tokens:
        assert token and token not in blob
    assert "eyJ" not in blob  # no JWT of any kind


def test_every_request_and_answer_conforms_to_the_esm_openapi(esm, esm_openapi, tag):
    """The client's requests (login form, bulk body, PATCH, attribute writes, paging params)
    are checked against the shared OpenAPI document with openapi-core, as are the answers."""
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    checked: list[str] = []
    problems: list[str] = []

    def validate(response, *args, **kwargs):
        request = RequestsOpenAPIRequest(response.request)
        where = f"{response.request.method} {response.request.path_url.split('?')[0]}"
        try:
            esm_openapi.api.validate_request(request)
            if response.headers.get("content-type", "").startswith("application/json") and "/stream" not in where:
                esm_openapi.api.validate_response(request, RequestsOpenAPIResponse(response))
        except Exception as exc:  # collect, report all at the end
            problems.append(f"{where}: {type(exc).__name__}: {exc}")
        checked.append(where)

    for session in (esm._session, esm._create_session):
        session.hooks["response"].append(validate)
    esm.echo("x")
    esm.echo_jwt("y")
    esm.templates()
    esm.template("incident")
    ids = make_incidents(esm, tag, 3)
    esm.bulk_import("incident", [CardInput({"subject": "u"}, data_card_id=ids[0]),
                                 CardInput({"status": "bad"}, folder=FOLDER)])
    # as the load step sends them: the task's folder for the new cards only (an edit naming a
    # folder would match both oneOf branches of RESTDataCardRequest)
    esm.bulk_import("incident", [CardInput({"subject": "v"}, data_card_id=ids[1]),
                                 CardInput({"subject": "w", "task_id": tag})], folder=FOLDER)
    list(esm.iter_cards("incident", filter=eql.eq("task_id", tag), page_size=2))
    list(esm.iter_cards("incident", filter=eql.eq("task_id", tag), page_size=2, data_cards=False))
    esm.get_card("incident", ids[0], selected_attributes=["subject"])
    new = esm.create_card("incident", {"subject": "c", "task_id": tag, "labels": ["a"]}, folder=FOLDER)
    esm.patch_card("incident", new, {"status": "02 - Solving"})
    esm.set_attribute("incident", new, "subject", "d")
    esm.add_attribute_value("incident", new, "labels", "b")
    esm.append_worklog("incident", new, "worklog", "note")
    esm.get_attribute("incident", new, "worklog")
    esm.clear_attribute("incident", new, "labels")
    esm.delete_card("incident", new)
    assert len(checked) >= 18
    assert problems == []


def test_a_chunk_refused_as_a_whole_is_split_until_the_refused_cards_are_isolated(esm, esm_sim, tag, caplog):
    esm.echo_jwt()
    # ESM answers 400 to the first two PUTs: the 4-card chunk, then its first half
    esm_sim.admin("POST", "errors", {"count": 2, "status": 400, "path_contains": "/dc/incident/data"})
    cards = [CardInput({"subject": f"{tag} {i}", "task_id": tag}, ref=i) for i in range(4)]
    result = esm.bulk_import("incident", cards, folder=FOLDER)
    assert [o.status for o in result.outcomes] == ["created"] * 4
    assert "splitting it to find the refused card(s)" in caplog.text
    assert len(list(esm.iter_cards("incident", filter=eql.eq("task_id", tag), data_cards=False))) == 4

    # a single card that ESM refuses outright is reported with ESM's words
    esm_sim.admin("POST", "errors", {"count": 3, "status": 400, "path_contains": "/dc/incident/data"})
    result = esm.bulk_import("incident", cards[:2], folder=FOLDER)
    assert [o.status for o in result.outcomes] == ["refused", "refused"]
    assert all("Injected error 400" in o.reason for o in result.outcomes)


def test_listings_leave_out_trashed_cards_an_esm_lists_and_page_on_past_them(esm, esm_sim, tag, caplog):
    """An ESM listing trashed cards (``deleted: true``; the simulator's list_trashed knob):
    iter_cards gives the live ones only -- also past pages that hold trashed cards only,
    whose cursor still moves on -- and the log counts those left out."""
    ids = make_incidents(esm, tag, 7)  # oldest first
    for card_id in ids[2:6]:
        esm.delete_card("incident", card_id)
    esm_sim.admin("POST", "trash", {"list_trashed": True})
    listed = [c.data_card_id for c in esm.iter_cards("incident", filter=eql.eq("task_id", tag), page_size=2)]
    assert listed == [ids[6], ids[1], ids[0]]
    assert any("left out 4 card(s) in the trash" in r.getMessage() for r in caplog.records)
    assert esm.get_card("incident", ids[3]).deleted  # read by id: still there, in the trash


def test_a_netrc_entry_for_the_esm_host_does_not_replace_the_token(esm_sim, tmp_path, monkeypatch):
    """requests reads ~/.netrc (or $NETRC) for a request without an auth object: a Basic entry
    for ESM's host replaced the Bearer header the client set, and every request failed 401 --
    with that password sent to ESM. The client signs with an auth object; netrc is never read."""
    from urllib.parse import urlsplit

    host = urlsplit(esm_sim.base_url).hostname
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {host} login someone password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = esm_sim.client()
    try:
        assert client.templates()
    finally:
        client.close()
