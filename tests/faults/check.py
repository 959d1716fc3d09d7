"""The one place that decides whether ESM agrees with Jira after a fault.

Jira is read with plain HTTP (requests, large pages, no connector code), so a paging bug
in the connector cannot hide itself from the check. ESM is read through the connector's
EsmClient (keyset paging over every card of the template, not only this task's).

For an import task:

* **checked**: records the task selects in Jira;
* **lost**: records with no card, or whose card holds stale values (the mapped
  attributes compared are listed in ``_expected``);
* **duplicated**: extra cards for one key (n cards -> n - 1);
* **wrongly removed**: cards whose removal attribute holds the removal value although the
  record still exists in Jira.

For events: each event must have acted exactly once in Jira (issues found by the event's
label, comments by their origin property): none -> lost, n > 1 -> n - 1 duplicated.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from jira_esm_connector.markers import COMMENT_ORIGIN_PROPERTY, EventRef

from .harness import STATUS_MAP

WORKLOG_MARKER = "[Jira comment {}]"


@dataclass
class Counts:
    checked: int = 0
    lost: int = 0
    duplicated: int = 0
    wrongly_removed: int = 0
    details: list[str] = field(default_factory=list)

    def add(self, other: "Counts") -> "Counts":
        return Counts(self.checked + other.checked, self.lost + other.lost, self.duplicated + other.duplicated,
                      self.wrongly_removed + other.wrongly_removed, self.details + other.details)

    @property
    def clean(self) -> bool:
        return self.lost == self.duplicated == self.wrongly_removed == 0

    def summary(self) -> str:
        head = f"checked={self.checked} lost={self.lost} duplicated={self.duplicated} wrongly_removed={self.wrongly_removed}"
        return head + ("" if not self.details else "; " + "; ".join(self.details[:15]))


# ---- Jira, read independently ----------------------------------------------------------

def jira_issues(jira_sim: Any, jql: str) -> dict[str, dict[str, Any]]:
    s = jira_sim.session()
    out: dict[str, dict[str, Any]] = {}
    body: dict[str, Any] = {"jql": jql, "fields": ["summary", "status", "labels", "comment"], "maxResults": 100}
    while True:
        page = s.post(f"{jira_sim.base_url}/rest/api/3/search/jql", json=body, timeout=60)
        page.raise_for_status()
        data = page.json()
        for issue in data["issues"]:
            out[issue["key"]] = issue
        if data.get("isLast", True) or not data.get("nextPageToken"):
            return out
        body["nextPageToken"] = data["nextPageToken"]


def jira_users(jira_sim: Any) -> dict[str, dict[str, Any]]:
    s = jira_sim.session()
    out: dict[str, dict[str, Any]] = {}
    start = 0
    while True:
        r = s.get(f"{jira_sim.base_url}/rest/api/3/users/search", params={"startAt": start, "maxResults": 1000}, timeout=60)
        r.raise_for_status()
        items = r.json()
        if not items:
            return out
        for u in items:
            out[u["accountId"]] = u
        start += len(items)


def jira_groups(jira_sim: Any) -> dict[str, dict[str, Any]]:
    s = jira_sim.session()
    out: dict[str, dict[str, Any]] = {}
    start = 0
    while True:
        r = s.get(f"{jira_sim.base_url}/rest/api/3/group/bulk", params={"startAt": start, "maxResults": 50}, timeout=60)
        r.raise_for_status()
        data = r.json()
        for g in data["values"]:
            out[g["groupId"]] = g
        start += len(data["values"])
        if data.get("isLast", True) or not data["values"]:
            return out


def jira_group_member_ids(jira_sim: Any, group_id: str) -> set[str]:
    s = jira_sim.session()
    ids: set[str] = set()
    start = 0
    while True:
        r = s.get(f"{jira_sim.base_url}/rest/api/3/group/member",
                  params={"groupId": group_id, "startAt": start, "maxResults": 50, "includeInactiveUsers": "true"}, timeout=60)
        r.raise_for_status()
        data = r.json()
        ids |= {m["accountId"] for m in data["values"]}
        start += len(data["values"])
        if data.get("isLast", True) or not data["values"]:
            return ids


def jira_comments(jira_sim: Any, issue_key: str) -> list[dict[str, Any]]:
    s = jira_sim.session()
    out: list[dict[str, Any]] = []
    start = 0
    while True:
        r = s.get(f"{jira_sim.base_url}/rest/api/3/issue/{quote(issue_key)}/comment",
                  params={"startAt": start, "maxResults": 100, "expand": "properties"}, timeout=60)
        r.raise_for_status()
        data = r.json()
        out += data["comments"]
        start += len(data["comments"])
        if start >= data.get("total", 0) or not data["comments"]:
            return out


# ---- ESM -------------------------------------------------------------------------------

def esm_cards_by_key(esm: Any, template: str, key_attr: str) -> dict[str, list[Any]]:
    by_key: dict[str, list[Any]] = defaultdict(list)
    for card in esm.iter_cards(template):
        key = card.value(key_attr)
        if key not in (None, ""):
            by_key[str(key)].append(card)
    return by_key


def _expected(task: Any, record: dict[str, Any], jira_sim: Any) -> dict[str, Any]:
    """A couple of mapped attributes per kind, computed from Jira's own answer."""
    if task.mapping_type == "generic":
        fields = record["fields"]
        return {"subject": fields["summary"], "status": STATUS_MAP.get(fields["status"]["name"], "01 - New")}
    if task.mapping_type == "user":
        return {"display_name": record.get("displayName"), "email": record.get("emailAddress")}
    if task.mapping_type == "group":
        return {"name": record.get("name")}
    raise ValueError(task.mapping_type)


def check_import(task: Any, jira_sim: Any, esm: Any, *, values: bool = True) -> Counts:
    """Every record the task selects in Jira has exactly one, current, not-removed card."""
    if task.mapping_type == "comment":
        return check_comments(task, jira_sim, esm)
    if task.mapping_type == "generic":
        records = jira_issues(jira_sim, task.jql)
    elif task.mapping_type == "user":
        records = jira_users(jira_sim)
    else:
        records = jira_groups(jira_sim)
    cards = esm_cards_by_key(esm, task.template, task.key.esm)
    removal = task.removal
    persons: dict[str, str] = {}
    if values and task.mapping_type == "group" and "members" in task.effective_attributes:
        persons = {c.data_card_id: k for k, cs in esm_cards_by_key(esm, "person", "jira_account_id").items() for c in cs}
    out = Counts(checked=len(records))
    for key, record in records.items():
        found = cards.get(key, [])
        if not found:
            out.lost += 1
            out.details.append(f"{key}: no card")
            continue
        if len(found) > 1:
            out.duplicated += len(found) - 1
            out.details.append(f"{key}: {len(found)} cards ({', '.join(c.data_card_id for c in found)})")
        card = found[0]
        if removal is not None and any(str(c.value(removal.attribute)) == str(removal.value) for c in found):
            out.wrongly_removed += 1
            out.details.append(f"{key}: marked {removal.attribute} = {removal.value} but still in Jira")
            continue
        if values:
            expected = _expected(task, record, jira_sim)
            stale = {a: (card.value(a), v) for a, v in expected.items() if card.value(a) != v}
            if task.mapping_type == "group" and "members" in task.effective_attributes:
                have = {persons.get(str(v), f"card {v}") for v in card.plain_values("members")}
                want = jira_group_member_ids(jira_sim, key)
                if have != want:
                    stale["members"] = (sorted(have - want)[:3], sorted(want - have)[:3])
            if stale:
                out.lost += 1
                out.details.append(f"{key}: stale {stale}")
    return out


def count_copies(out: Counts, n: int, what: str, noun: str) -> None:
    """Exactly one copy of ``what`` is right: none is lost, more are duplicated."""
    if n == 0:
        out.lost += 1
        out.details.append(f"{what}: no {noun}")
    elif n > 1:
        out.duplicated += n - 1
        out.details.append(f"{what}: {n} {noun}s")


def check_comments(task: Any, jira_sim: Any, esm: Any) -> Counts:
    """Every Jira comment (not pushed by the connector) of the selected issues is exactly once
    in its issue card's worklog (recognised by the ``[Jira comment N]`` marker)."""
    issues = jira_issues(jira_sim, task.jql)
    cards = esm_cards_by_key(esm, task.template, task.comments.card_key_attribute)
    out = Counts()
    for key in issues:
        comments = [c for c in jira_comments(jira_sim, key)
                    if not any(p.get("key") == COMMENT_ORIGIN_PROPERTY for p in c.get("properties") or [])]
        if not comments:
            continue
        worklog = ""
        if cards.get(key):
            worklog = json.dumps(esm.get_attribute(task.template, cards[key][0].data_card_id,
                                                   task.comments.worklog_attribute), ensure_ascii=False)
        for c in comments:
            out.checked += 1
            count_copies(out, worklog.count(WORKLOG_MARKER.format(c["id"])), f"{key} comment {c['id']}",
                         "worklog entry")
    return out


# ---- events -----------------------------------------------------------------------------

def check_issue_events(jira_sim: Any, task_name: str, event_ids: list[str]) -> Counts:
    """Each create_issue event made exactly one issue (found by the event's label)."""
    out = Counts(checked=len(event_ids))
    for event_id in event_ids:
        n = len(jira_issues(jira_sim, f'labels = "{EventRef(task_name, event_id).label}"'))
        count_copies(out, n, f"event {event_id}", "issue")
    return out


def check_comment_events(jira_sim: Any, issue_key: str, event_ids: list[str]) -> Counts:
    """Each add_comment event made exactly one comment (found by its origin property)."""
    per_event: dict[str, int] = defaultdict(int)
    for c in jira_comments(jira_sim, issue_key):
        for p in c.get("properties") or []:
            if p.get("key") == COMMENT_ORIGIN_PROPERTY and isinstance(p.get("value"), dict):
                per_event[str(p["value"].get("event_id"))] += 1
    out = Counts(checked=len(event_ids))
    for event_id in event_ids:
        count_copies(out, per_event.get(event_id, 0), f"event {event_id}", "comment")
    return out


def check_created_once(records: Any, field_name: str, values: list[str]) -> Counts:
    """Each create_user / create_group event made exactly one user / group: ``records`` (Jira's
    users or groups, :func:`jira_users` / :func:`jira_groups`) holding each value in ``field_name``
    (the e-mail, the group name) once."""
    out = Counts(checked=len(values))
    for value in values:
        count_copies(out, sum(1 for r in records.values() if r.get(field_name) == value), f"{field_name} {value}",
                     "record")
    return out


def check_not_member(jira_sim: Any, group_id: str, account_ids: list[str]) -> Counts:
    """Each remove_user_from_group event left its user out of the group (still in: lost)."""
    members = jira_group_member_ids(jira_sim, group_id)
    out = Counts(checked=len(account_ids))
    for account_id in account_ids:
        if account_id in members:
            out.lost += 1
            out.details.append(f"{account_id}: still in group {group_id}")
    return out
