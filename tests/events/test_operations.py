"""Every operation function against the running Jira simulator (real HTTPS)."""
from __future__ import annotations

import pytest

from jira_esm_connector.events import (
    EventRefused,
    FieldResolver,
    add_comment,
    add_user_to_group,
    create_group,
    create_issue,
    create_user,
    delete_group,
    delete_user,
    find_comment_for_event,
    find_issue_for_event,
    remove_user_from_group,
    transition_issue,
    update_issue,
)
from jira_esm_connector.events.errors import EventConfigError
from jira_esm_connector.markers import COMMENT_ORIGIN_PROPERTY, ISSUE_EVENT_PROPERTY, EventRef
from jira_esm_connector.mapping import adf_to_text, text_to_adf

from .conftest import project_with, unique

BUG = {"project": {"key": "SUP"}, "issuetype": {"name": "Bug"}}


def _ref() -> EventRef:
    return EventRef("test_events", unique())


def _issue(jira, key, *fields):
    return jira.get_issue(key, fields=list(fields) or ["*all"])["fields"]


def _members(jira, group_name):
    return {m["accountId"] for m in jira.iter_group_members(group_name=group_name)}


def test_create_issue_sets_fields_property_and_label(jira):
    ref = _ref()
    result = create_issue(jira, ref, {**BUG, "summary": "Printer on fire", "priority": {"name": "High"}})
    fields = _issue(jira, result["issue_key"], "summary", "priority", "labels", "issuetype")
    assert fields["summary"] == "Printer on fire"
    assert fields["priority"]["name"] == "High"
    assert fields["issuetype"]["name"] == "Bug"
    assert ref.label in fields["labels"]
    assert jira.get_issue_property(result["issue_key"], ISSUE_EVENT_PROPERTY) == {"event_id": ref.event_id, "task": ref.task}
    assert find_issue_for_event(jira, ref) == result
    assert find_issue_for_event(jira, _ref()) is None


def test_create_issue_check_first_finds_the_earlier_issue(jira):
    ref = _ref()
    first = create_issue(jira, ref, {**BUG, "summary": "once"})
    again = create_issue(jira, ref, {**BUG, "summary": "once"}, check_first=True)
    assert again == first
    assert len(list(jira.search(f'labels = "{ref.label}"'))) == 1


def test_update_issue_changes_only_the_given_fields(jira):
    ref = _ref()
    key = create_issue(jira, ref, {**BUG, "summary": "before", "priority": {"name": "Low"}})["issue_key"]
    update_issue(jira, ref, key, {"summary": "after", "description": text_to_adf("new text")})
    fields = _issue(jira, key, "summary", "description", "priority")
    assert fields["summary"] == "after"
    assert adf_to_text(fields["description"]) == "new text"
    assert fields["priority"]["name"] == "Low"


def test_add_comment_carries_the_marker_and_is_found_on_retry(jira):
    ref = _ref()
    key = create_issue(jira, ref, {**BUG, "summary": "comment target"})["issue_key"]
    made = add_comment(jira, ref, key, text_to_adf("Called the user."))
    again = add_comment(jira, ref, key, text_to_adf("Called the user."), check_first=True)
    assert again == made
    comments = jira.request("GET", f"/rest/api/3/issue/{key}/comment", params={"expand": "properties"})["comments"]
    assert len(comments) == 1
    props = {p["key"]: p["value"] for p in comments[0].get("properties", [])}
    assert props[COMMENT_ORIGIN_PROPERTY] == {"source": "esm", "event_id": ref.event_id, "task": ref.task}
    assert adf_to_text(comments[0]["body"]) == "Called the user."


def test_transition_picks_the_workflows_transition_by_target_status(jira):
    ref = _ref()
    # projects with different workflows: transition ids differ for the same kind of move
    simple = project_with(jira, "Done", without="Resolved")
    desk = project_with(jira, "Resolved")
    a = create_issue(jira, ref, {"project": {"key": simple}, "issuetype": {"name": "Bug"}, "summary": "a"})["issue_key"]
    b = create_issue(jira, _ref(), {"project": {"key": desk}, "issuetype": {"name": "Bug"}, "summary": "b"})["issue_key"]
    r1 = transition_issue(jira, ref, a, "Done|Resolved")
    r2 = transition_issue(jira, _ref(), b, "Done|Resolved", resolution="Won't Do", comment_adf=text_to_adf("Solved in ESM"))
    assert _issue(jira, a, "status")["status"]["name"] == "Done"
    b_fields = _issue(jira, b, "status", "resolution")
    assert b_fields["status"]["name"] == "Resolved"
    assert b_fields["resolution"]["name"] == "Won't Do"
    assert r1["transition_id"] != r2["transition_id"]
    assert r2["comment_id"]
    # already there: nothing to do, no error
    again = transition_issue(jira, ref, a, "done")
    assert again["changed"] is False and again["status"] == "Done"


def test_transition_to_a_status_the_workflow_lacks_is_refused_plainly(jira):
    ref = _ref()
    simple = project_with(jira, "Done", without="Resolved")
    key = create_issue(jira, ref, {"project": {"key": simple}, "issuetype": {"name": "Bug"}, "summary": "no such status"})["issue_key"]
    with pytest.raises(EventRefused) as err:
        transition_issue(jira, ref, key, "Resolved")
    assert "no transition to status 'Resolved'" in str(err.value)
    assert "'Done'" in str(err.value)


def test_users_and_groups_lifecycle(jira, close_accounts_after):
    ref = _ref()
    email = f"{unique('user')}@example.com"
    group = unique("esm-group")
    user = create_user(jira, ref, email, ["jira-software"])
    close_accounts_after.append(user["account_id"])
    assert jira.get_user(user["account_id"])["emailAddress"] == email
    assert create_user(jira, ref, email, ["jira-software"], check_first=True) == user

    made = create_group(jira, ref, group)
    assert jira.find_group(group)["groupId"] == made["group_id"]
    assert create_group(jira, ref, group, check_first=True) == made

    added = add_user_to_group(jira, ref, group_name=group, email=email)
    assert added["changed"] is True and user["account_id"] in _members(jira, group)
    assert add_user_to_group(jira, ref, group_id=made["group_id"], account_id=user["account_id"])["changed"] is False

    removed = remove_user_from_group(jira, ref, group_name=group, account_id=user["account_id"])
    assert removed["changed"] is True and user["account_id"] not in _members(jira, group)
    assert remove_user_from_group(jira, ref, group_name=group, email=email)["changed"] is False

    deleted = delete_group(jira, ref, name=group)
    assert deleted == {"group_id": made["group_id"], "group_name": group, "deleted": True}
    assert jira.find_group(group) is None
    with pytest.raises(EventRefused, match="no group named"):
        delete_group(jira, _ref(), name=group)
    assert delete_group(jira, ref, name=group, check_first=True)["deleted"] is False

    assert delete_user(jira, ref, email=email)["deleted"] is True
    assert not [u for u in jira.find_users(email) if u.get("emailAddress") == email]
    # Jira still lists the deleted user (inactive): a re-trigger finds it and reports it gone
    assert delete_user(jira, _ref(), email=email) == {"account_id": user["account_id"], "deleted": False}


def test_delete_user_by_email_deletes_a_deactivated_user_and_a_retrigger_reports_it_gone(
    jira, jira_sim, caplog, close_accounts_after,
):
    """Jira's user search shows active users only: a user deactivated in Jira (still in its
    user base, and deletable) is found among all users (GET /rest/api/3/users/search) and
    deleted; Jira lists the deleted user still (inactive), so a resumed or re-triggered event
    finds it and reports it already deleted. Once the account is closed, no user has the
    address: said plainly."""
    email = f"{unique('inactive')}@example.com"
    account_id = jira.create_user(email, ["jira-software"])["accountId"]
    close_accounts_after.append(account_id)
    jira_sim.admin("PATCH", f"users/{account_id}", {"active": False})
    assert not jira.find_users(email) and jira.get_user(account_id)["active"] is False

    ref = _ref()
    assert delete_user(jira, ref, email=email) == {"account_id": account_id, "deleted": True}
    assert [u["active"] for u in jira.iter_users() if u["accountId"] == account_id] == [False]
    caplog.set_level("INFO", logger="jira_esm_connector.events")
    assert delete_user(jira, ref, email=email, check_first=True) == {"account_id": account_id, "deleted": False}
    assert delete_user(jira, _ref(), email=email) == {"account_id": account_id, "deleted": False}
    assert f"Jira user {account_id} is already deleted" in caplog.text

    jira_sim.admin("DELETE", f"users/{account_id}")  # the Atlassian account is closed
    again = delete_user(jira, ref, email=email, check_first=True)
    assert again["deleted"] is False and again["account_id"] is None
    assert f"Jira has no user, active or deactivated, with the e-mail address {email} (any more)" in caplog.text
    with pytest.raises(EventRefused, match=f"no user, active or deactivated, with the e-mail address {email}"):
        delete_user(jira, _ref(), email=email)


def test_a_deactivated_user_named_by_email_is_removed_from_a_group(jira, jira_sim, request):
    """Off-boarding: Jira's admin deactivated the user, then ESM's workflow removes them from
    their groups. Jira's user search shows active users only; before, the event failed with
    "Jira has no user with the e-mail address ..." and the user stayed in the group."""
    email = f"{unique('leaver')}@example.com"
    account_id = jira.create_user(email, ["jira-software"])["accountId"]
    group = jira.create_group(unique("leaver-group"))
    request.addfinalizer(lambda: (jira_sim.admin("DELETE", f"users/{account_id}"),
                                  jira.delete_group(group_id=group["groupId"])))
    jira_sim.admin("PUT", f"groups/{group['groupId']}/members/{account_id}")
    jira_sim.admin("PATCH", f"users/{account_id}", {"active": False})

    removed = remove_user_from_group(jira, _ref(), group_name=group["name"], email=email)
    assert removed["account_id"] == account_id and removed["changed"] is True
    assert account_id not in _members(jira, group["name"])


@pytest.mark.parametrize("lookalike", ["\u017f", "\u212a"])  # LATIN SMALL LONG S, KELVIN SIGN
def test_delete_user_by_email_does_not_take_a_unicode_lookalike_for_another_users_address(jira, lookalike):
    """A look-alike of a user's e-mail address (U+017F long s case-folds to "s", U+212A Kelvin
    sign to "k") must not select that user: it was taken for the user's address, and the user
    deleted."""
    email = f"{lookalike.casefold()}{unique('user')}@example.com"
    account_id = jira.create_user(email, ["jira-software"])["accountId"]
    lookalike_email = lookalike + email[1:]
    assert lookalike_email != email and lookalike_email.casefold() == email.casefold()

    with pytest.raises(EventRefused, match="no user, active or deactivated, with the e-mail"):
        delete_user(jira, _ref(), email=lookalike_email)
    assert delete_user(jira, _ref(), email=lookalike_email, check_first=True)["deleted"] is False
    assert jira.get_user(account_id)["accountId"] == account_id  # the real user is still there
    with pytest.raises(EventRefused, match="no user, active or deactivated, with the e-mail"):
        add_user_to_group(jira, _ref(), group_name="jira-software-users", email=lookalike_email)


def test_creating_a_group_that_exists_surfaces_jiras_words(jira):
    ref = _ref()
    group = unique("dup-group")
    create_group(jira, ref, group)
    with pytest.raises(EventRefused) as err:
        create_group(jira, _ref(), group)
    assert "A group with that name already exists." in str(err.value)


def test_jira_refusal_is_verbatim_and_not_retried(jira, jira_sim):
    before = jira_sim.stats()
    with pytest.raises(EventRefused) as err:
        create_issue(jira, _ref(), {"project": {"key": "NOPE"}, "issuetype": {"name": "Bug"}, "summary": "x"})
    assert "Specify a valid project ID or key" in str(err.value)
    assert "HTTP 400" in str(err.value)
    after = jira_sim.stats()
    # one POST, no repeats
    assert _count(after, "POST /rest/api/3/issue") - _count(before, "POST /rest/api/3/issue") == 1


def _count(stats, endpoint: str) -> int:
    """Requests the simulator recorded for one endpoint, e.g. ``POST /rest/api/3/issue``."""
    return int(stats["endpoints"].get(endpoint, 0))


def test_field_names_resolve_through_the_field_list_once(jira, jira_sim):
    resolver = FieldResolver(jira)
    assert resolver.resolve("ESM reference") == "customfield_10050"
    assert resolver.resolve("esm REFERENCE") == "customfield_10050"
    assert resolver.resolve("summary") == "summary"
    assert resolver.resolve("Team") == "customfield_10020"
    with pytest.raises(EventConfigError, match="no field with that id or name"):
        resolver.resolve("No such field")
    assert resolver._fields is not None and len(resolver._fields) > 5


@pytest.mark.parametrize("suffix", ["?fields=summary", "#comment"])
def test_find_comment_escapes_the_issue_key_in_the_url(jira, jira_sim, suffix):
    """A key from the payload with "?" or "#" must not turn the comment lookup into a request
    for another resource (here: the issue itself, whose JSON has no comments)."""
    ref = _ref()
    key = create_issue(jira, ref, {**BUG, "summary": "escape target"})["issue_key"]
    add_comment(jira, ref, key, text_to_adf("marked"))
    before = jira_sim.stats()
    from jira_esm_connector.http.errors import NotFoundError

    with pytest.raises(NotFoundError):
        find_comment_for_event(jira, ref, key + suffix)
    after = jira_sim.stats()
    assert _count(after, "GET /rest/api/3/issue/{issueIdOrKey}/comment") - _count(before, "GET /rest/api/3/issue/{issueIdOrKey}/comment") == 1
    assert _count(after, "GET /rest/api/3/issue/{issueIdOrKey}") == _count(before, "GET /rest/api/3/issue/{issueIdOrKey}")


def test_find_comment_escapes_a_slash_in_the_issue_key():
    """"/" cannot be told apart on the simulator (the server decodes %2F before routing), so
    the path the connector asks for is checked directly."""
    from jira_esm_connector.jira import JiraClient

    asked = []

    class Recorder(JiraClient):
        def paginate(self, method, path, paginator, params=None, json=None):
            asked.append((path, params))
            return iter(())

    recorder = Recorder("https://your-site.atlassian.net", "me@example.com", "token")
    assert find_comment_for_event(recorder, _ref(), "SUP-1/../../project/SUP") is None
    assert asked == [
        ("/rest/api/3/issue/SUP-1%2F..%2F..%2Fproject%2FSUP/comment", {"expand": "properties", "orderBy": "-created"})
    ]


@pytest.mark.parametrize("key", [".", ".."])
def test_a_dot_segment_issue_key_is_refused_not_sent(key):
    """An issue key of "." or ".." from the payload is not put into a URL: sent, the HTTP client
    resolved it as a step in the path (PUT /rest/api/3/issue/.. went to PUT /rest/api/3/,
    /issue/./comment to /issue/comment, /issue/./properties/p to Jira's bulk property endpoint
    /issue/properties/p) -- and escaped as %2E it is decoded again and resolved by the server."""
    from jira_esm_connector.jira import JiraClient

    from ..badinput.fakeserver import FakeServer, js

    with FakeServer() as srv:
        srv.route("GET", r"/.*", js({"comments": [], "startAt": 0, "maxResults": 50, "total": 0}))
        client = JiraClient(srv.url, "me@example.com", "token", allow_insecure_http=True)
        try:
            with pytest.raises(ValueError, match="cannot be sent as a key or id in a Jira URL"):
                update_issue(client, _ref(), key, {"summary": "x"})
            with pytest.raises(ValueError, match="cannot be sent as a key or id in a Jira URL"):
                find_comment_for_event(client, _ref(), key)
        finally:
            client.close()
    assert srv.requests == []


class CloudSearch:
    """The Jira client as Jira Cloud answers it: JQL on an entity property that no installed
    app declares for indexing matches nothing (a REST client cannot declare one). Everything
    else goes to the simulator."""

    host = "your-site.atlassian.net"  # a site of its own: nothing learnt about the simulator applies

    def __init__(self, jira):
        self._jira = jira
        self.jql: list[str] = []

    def __getattr__(self, name):
        return getattr(self._jira, name)

    def search(self, jql, **kwargs):
        self.jql.append(jql)
        if "issue.property[" in jql:
            return iter(())
        return self._jira.search(jql, **kwargs)


def test_issue_lookup_works_where_property_jql_finds_nothing(jira, jira_sim):
    """The exactly-once lookup must be the one real Jira Cloud answers: the label (indexed by
    Jira itself), confirmed by the property read with GET."""
    ref = _ref()
    made = create_issue(jira, ref, {**BUG, "summary": "found by label"})
    cloud = CloudSearch(jira)
    assert find_issue_for_event(cloud, ref) == made
    assert cloud.jql and all(q.startswith("labels = ") for q in cloud.jql)
    # and a retried create finds it instead of creating a second
    posts = _count(jira_sim.stats(), "POST /rest/api/3/issue")
    assert create_issue(cloud, ref, {**BUG, "summary": "found by label"}, check_first=True) == made
    assert _count(jira_sim.stats(), "POST /rest/api/3/issue") == posts


def test_issue_lookup_needs_the_property_not_just_the_label(jira):
    """Someone copying the label onto another issue does not make it the event's issue."""
    ref = _ref()
    made = create_issue(jira, ref, {**BUG, "summary": "the real one"})
    jira.create_issue({**BUG, "summary": "copied label", "labels": [ref.label]})
    assert find_issue_for_event(jira, ref) == made


class FakeClock:
    def __init__(self):
        from datetime import datetime, timezone

        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)


class EmptySearchJira:
    """A Jira whose search never shows the event's issue; counts searches and creates."""

    host = "fake"

    def __init__(self, clock):
        self.clock = clock
        self.searched_at = []
        self.creates = 0

    def search(self, jql, **kwargs):
        self.searched_at.append(self.clock())
        return iter(())

    def create_issue(self, body, properties=None):
        self.creates += 1
        return {"key": "SUP-1", "id": "10001"}


def test_guard_does_not_create_while_the_index_may_still_miss_an_earlier_create():
    from datetime import timedelta

    from jira_esm_connector.events import CreateGuard, CreateUnconfirmed

    clock = FakeClock()
    noted = []
    guard = CreateGuard(index_lag_s=60, ambiguous_at=clock() - timedelta(seconds=1), remember=noted.append,
                        clock=clock, sleep=clock.sleep)
    jira = EmptySearchJira(clock)
    with pytest.raises(CreateUnconfirmed):
        create_issue(jira, _ref(), {**BUG, "summary": "x"}, check_first=True, guard=guard)
    assert jira.creates == 0 and noted == []
    settled = guard.ambiguous_at + timedelta(seconds=60)
    assert jira.searched_at[-1] >= settled  # the last search was made after the bound ...
    assert jira.searched_at[-2] < settled  # ... after backing off while inside it
    assert 3 <= len(jira.searched_at) <= 15


def test_guard_creates_once_the_index_had_its_time_and_notes_the_send_first():
    from datetime import timedelta

    from jira_esm_connector.events import CreateGuard

    clock = FakeClock()
    noted = []
    earlier = clock() - timedelta(seconds=61)
    guard = CreateGuard(index_lag_s=60, ambiguous_at=earlier, remember=noted.append, clock=clock, sleep=clock.sleep)
    jira = EmptySearchJira(clock)
    assert create_issue(jira, _ref(), {**BUG, "summary": "x"}, check_first=True, guard=guard)["issue_key"] == "SUP-1"
    assert len(jira.searched_at) == 1 and jira.creates == 1
    assert noted == [clock()]  # the send time, stored before the request went out


def test_guard_search_within_one_attempt_is_capped():
    """A long lag bound does not keep one attempt searching past its cap: it fails retriably,
    still without creating."""
    from datetime import timedelta

    from jira_esm_connector.events import CreateGuard, CreateUnconfirmed

    clock = FakeClock()
    guard = CreateGuard(index_lag_s=3600, ambiguous_at=clock(), max_wait_s=90, clock=clock, sleep=clock.sleep)
    jira = EmptySearchJira(clock)
    start = clock()
    with pytest.raises(CreateUnconfirmed):
        create_issue(jira, _ref(), {**BUG, "summary": "x"}, check_first=True, guard=guard)
    assert jira.creates == 0
    assert timedelta(seconds=90) <= clock() - start < timedelta(seconds=100)


def test_a_create_refused_by_jira_clears_the_note():
    """A 4xx answer means Jira did not act: nothing for a later attempt to wait for."""
    from jira_esm_connector.events import CreateGuard
    from jira_esm_connector.http.errors import BadRequestError

    clock = FakeClock()
    noted = []
    guard = CreateGuard(index_lag_s=60, remember=noted.append, clock=clock, sleep=clock.sleep)

    class Refusing(EmptySearchJira):
        def create_issue(self, body, properties=None):
            raise BadRequestError("Jira refused", 400, "Jira", details=["Specify a valid project ID or key"])

    with pytest.raises(EventRefused, match="Specify a valid project ID or key"):
        create_issue(Refusing(clock), _ref(), {**BUG, "summary": "x"}, guard=guard)
    assert noted == [clock(), None]  # noted before sending, cleared on the refusal


def test_a_create_failing_without_an_answer_is_treated_as_ambiguous():
    """A TLS error on the create (a connection dropped mid-response can look like one) is not
    taken for "nothing happened": the connector searches; the issue there -> found, no repeat."""
    from jira_esm_connector.events import CreateGuard
    from jira_esm_connector.http.errors import TLSError

    clock = FakeClock()
    noted = []
    guard = CreateGuard(index_lag_s=60, remember=noted.append, clock=clock, sleep=clock.sleep)
    ref = _ref()

    class DroppedAfterCreate(EmptySearchJira):
        def search(self, jql, **kwargs):
            self.searched_at.append(self.clock())
            return iter([{"key": "SUP-9", "id": "10009"}] if len(self.searched_at) >= 3 else [])

        def get_issue_property(self, key, prop, missing_ok=False):
            return ref.issue_property()

        def create_issue(self, body, properties=None):
            self.creates += 1
            raise TLSError("TLS failure talking to Jira", service="Jira")

    jira = DroppedAfterCreate(clock)
    assert create_issue(jira, ref, {**BUG, "summary": "x"}, guard=guard) == {"issue_key": "SUP-9", "issue_id": "10009"}
    assert jira.creates == 1 and noted == [noted[0]] and noted[0] is not None


def test_find_comment_reads_the_property_when_jira_does_not_embed_it():
    ref = _ref()
    from jira_esm_connector.http.errors import NotFoundError

    class NoExpand:
        def iter_comments(self, key, *, order_by=None, expand_properties=False):
            assert expand_properties and order_by == "-created"
            return iter([{"id": "3"}, {"id": "2"}, {"id": "1"}])

        def comment_property_of(self, comment, key):  # JiraClient reads it when not embedded
            assert key == COMMENT_ORIGIN_PROPERTY and "properties" not in comment
            if comment["id"] == "3":
                raise NotFoundError("Can not find a comment for the id: 3.", 404, "Jira")  # deleted meanwhile
            return ref.comment_property() if comment["id"] == "2" else {"event_id": "other", "task": ref.task}

    assert find_comment_for_event(NoExpand(), ref, "SUP-1") == {"issue_key": "SUP-1", "comment_id": "2"}
