"""Fixed Jira metadata of the simulated site: statuses, workflows, issue types, fields, ..."""
from __future__ import annotations

import re
from dataclasses import dataclass

STATUS_CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: str
    description: str = ""


STATUSES = [
    Status("10000", "To Do", "new", "Work that has not been started."),
    Status("3", "In Progress", "indeterminate", "The issue is currently being worked on."),
    Status("10001", "Done", "done", "Work has been completed."),
    Status("1", "Open", "new", "The issue is open and ready for the assignee to start work on it."),
    Status("10002", "Waiting for support", "indeterminate", "Waiting for the service team."),
    Status("10003", "Waiting for customer", "indeterminate", "Waiting for the reporter."),
    Status("5", "Resolved", "done", "A resolution has been taken."),
    Status("6", "Closed", "done", "The issue is considered finished."),
    Status("10004", "Backlog", "new", ""),
    Status("10005", "Selected for Development", "new", ""),
    Status("10006", "In Review", "indeterminate", ""),
]
STATUS_BY_NAME = {s.name: s for s in STATUSES}


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to: str  # status name


# Transition ids differ per workflow, as on a real site; every transition is global (allowed
# from any other status), which is what simplified (team-managed) workflows do.
WORKFLOWS: dict[str, list[Transition]] = {
    "software-simplified": [
        Transition("11", "To Do", "To Do"),
        Transition("21", "In Progress", "In Progress"),
        Transition("31", "Done", "Done"),
    ],
    "service-desk": [
        Transition("101", "Reopen", "Open"),
        Transition("111", "Respond to customer", "Waiting for customer"),
        Transition("121", "Escalate", "Waiting for support"),
        Transition("131", "Resolve this issue", "Resolved"),
        Transition("141", "Close", "Closed"),
    ],
    "scrum": [
        Transition("201", "Back to backlog", "Backlog"),
        Transition("211", "Select for development", "Selected for Development"),
        Transition("221", "Start progress", "In Progress"),
        Transition("231", "Request review", "In Review"),
        Transition("241", "Done", "Done"),
    ],
}
WORKFLOW_ORDER = ["service-desk", "software-simplified", "scrum"]


def workflow_statuses(workflow: str) -> list[str]:
    return [t.to for t in WORKFLOWS[workflow]]


def initial_status(workflow: str) -> str:
    return WORKFLOWS[workflow][0].to


ISSUE_TYPES = [
    {"id": "10001", "name": "Task", "description": "A small, distinct piece of work."},
    {"id": "10002", "name": "Bug", "description": "A problem or error."},
    {"id": "10003", "name": "Story", "description": "A user story."},
    {"id": "10004", "name": "Incident", "description": "A system outage or incident."},
    {"id": "10005", "name": "Service request", "description": "Request for help or information."},
]
ISSUE_TYPE_BY_NAME = {t["name"]: t for t in ISSUE_TYPES}

PRIORITIES = [
    {"id": "1", "name": "Highest"},
    {"id": "2", "name": "High"},
    {"id": "3", "name": "Medium"},
    {"id": "4", "name": "Low"},
    {"id": "5", "name": "Lowest"},
]
PRIORITY_BY_NAME = {p["name"]: p for p in PRIORITIES}

RESOLUTIONS = [
    {"id": "10000", "name": "Done", "description": "Work has been completed on this issue."},
    {"id": "10001", "name": "Won't Do", "description": "This issue won't be actioned."},
    {"id": "10002", "name": "Duplicate", "description": "The problem is a duplicate of an existing issue."},
    {"id": "10003", "name": "Cannot Reproduce", "description": "This issue could not be reproduced."},
]
RESOLUTION_BY_NAME = {r["name"]: r for r in RESOLUTIONS}

TEAM_OPTIONS = [
    {"id": "10100", "value": "Service Desk"},
    {"id": "10101", "value": "Platform"},
    {"id": "10102", "value": "Networks"},
    {"id": "10103", "value": "Workplace"},
]
TEAM_BY_VALUE = {o["value"]: o for o in TEAM_OPTIONS}

# Issue link types of a new Jira Cloud site. A link stores (inward, outward) as the
# create request names them; "A blocks B" is inwardIssue A, outwardIssue B (what Jira does,
# whatever the names suggest): A lists B as its outwardIssue, B lists A as its inwardIssue.
ISSUE_LINK_TYPES = [
    {"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
    {"id": "10001", "name": "Cloners", "inward": "is cloned by", "outward": "clones"},
    {"id": "10002", "name": "Duplicate", "inward": "is duplicated by", "outward": "duplicates"},
    {"id": "10003", "name": "Relates", "inward": "relates to", "outward": "relates to"},
]
LINK_TYPE_BY_ID = {t["id"]: t for t in ISSUE_LINK_TYPES}

# Custom fields: id -> (name, schema, kind)
CUSTOM_FIELDS = {
    "customfield_10016": ("Story point estimate", {"type": "number", "custom": "com.pyxis.greenhopper.jira:jsw-story-points", "customId": 10016}, "number"),
    "customfield_10020": ("Team", {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select", "customId": 10020}, "option"),
    "customfield_10050": ("ESM reference", {"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield", "customId": 10050}, "string"),
    "customfield_10060": ("Due at", {"type": "datetime", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:datetime", "customId": 10060}, "datetime"),
}

# System fields: id -> (name, schema or None, navigable, orderable, searchable, clauseNames)
SYSTEM_FIELDS = {
    "summary": ("Summary", {"type": "string", "system": "summary"}, True, True, True, ["summary"]),
    "description": ("Description", {"type": "string", "system": "description"}, True, True, True, ["description"]),
    "environment": ("Environment", {"type": "string", "system": "environment"}, True, True, True, ["environment"]),
    "status": ("Status", {"type": "status", "system": "status"}, True, False, True, ["status"]),
    "statuscategorychangedate": ("Status Category Changed", {"type": "datetime", "system": "statuscategorychangedate"}, True, False, True, ["statusCategoryChangedDate"]),
    "resolution": ("Resolution", {"type": "resolution", "system": "resolution"}, True, True, True, ["resolution"]),
    "resolutiondate": ("Resolved", {"type": "datetime", "system": "resolutiondate"}, True, False, True, ["resolutiondate", "resolved"]),
    "priority": ("Priority", {"type": "priority", "system": "priority"}, True, True, True, ["priority"]),
    "issuetype": ("Issue Type", {"type": "issuetype", "system": "issuetype"}, True, True, True, ["issuetype", "type"]),
    "project": ("Project", {"type": "project", "system": "project"}, True, False, True, ["project"]),
    "reporter": ("Reporter", {"type": "user", "system": "reporter"}, True, True, True, ["reporter"]),
    "assignee": ("Assignee", {"type": "user", "system": "assignee"}, True, True, True, ["assignee"]),
    "creator": ("Creator", {"type": "user", "system": "creator"}, True, False, True, ["creator"]),
    "labels": ("Labels", {"type": "array", "items": "string", "system": "labels"}, True, True, True, ["labels"]),
    "created": ("Created", {"type": "datetime", "system": "created"}, True, False, True, ["created", "createdDate"]),
    "updated": ("Updated", {"type": "datetime", "system": "updated"}, True, False, True, ["updated", "updatedDate"]),
    "comment": ("Comment", {"type": "comments-page", "system": "comment"}, False, True, True, ["comment"]),
    "watches": ("Watchers", {"type": "watches", "system": "watches"}, True, False, True, ["watchers"]),
    "attachment": ("Attachment", {"type": "array", "items": "attachment", "system": "attachment"}, True, True, True, ["attachments"]),
    "issuelinks": ("Linked Issues", {"type": "array", "items": "issuelinks", "system": "issuelinks"}, True, True, True, ["issueLink"]),
    "worklog": ("Log Work", {"type": "array", "items": "worklog", "system": "worklog"}, False, True, True, ["worklogAuthor", "worklogComment", "worklogDate"]),
    "timetracking": ("Time tracking", {"type": "timetracking", "system": "timetracking"}, False, True, False, []),
    "timespent": ("Time Spent", {"type": "number", "system": "timespent"}, True, False, True, ["timespent"]),
    "aggregatetimespent": ("\u03a3 Time Spent", {"type": "number", "system": "aggregatetimespent"}, True, False, False, []),
    "progress": ("Progress", {"type": "progress", "system": "progress"}, True, False, True, ["progress"]),
    "aggregateprogress": ("\u03a3 Progress", {"type": "progress", "system": "aggregateprogress"}, True, False, False, []),
    "issuekey": ("Key", None, False, False, True, ["id", "issue", "issuekey", "key"]),
}

# System fields the simulator keeps no data for. Jira returns every system field of the issue
# (null or empty when unset) for `*all`, and clients read them unguarded (the `jira` package's
# ``issue.fields.components``), so they are listed and rendered with Jira's empty value.
# They cannot be written (Jira's "not on the appropriate screen" error) nor used in JQL.
UNTRACKED_FIELDS = {
    "components": ("Components", {"type": "array", "items": "component", "system": "components"}, True, True, True, ["component"]),
    "fixVersions": ("Fix versions", {"type": "array", "items": "version", "system": "fixVersions"}, True, True, True, ["fixVersion"]),
    "versions": ("Affects versions", {"type": "array", "items": "version", "system": "versions"}, True, True, True, ["affectedVersion"]),
    "duedate": ("Due date", {"type": "date", "system": "duedate"}, True, True, True, ["due", "duedate"]),
    "subtasks": ("Sub-tasks", {"type": "array", "items": "issuelinks", "system": "subtasks"}, True, False, True, ["subtasks"]),
    "votes": ("Votes", {"type": "votes", "system": "votes"}, True, False, True, ["votes"]),
    "security": ("Security Level", {"type": "securitylevel", "system": "security"}, True, True, True, ["level"]),
    "lastViewed": ("Last Viewed", {"type": "datetime", "system": "lastViewed"}, True, False, True, ["lastViewed"]),
    "timeoriginalestimate": ("Original estimate", {"type": "number", "system": "timeoriginalestimate"}, True, False, True, ["originalEstimate", "timeoriginalestimate"]),
    "timeestimate": ("Remaining Estimate", {"type": "number", "system": "timeestimate"}, True, False, True, ["remainingEstimate", "timeestimate"]),
    "aggregatetimeoriginalestimate": ("\u03a3 Original Estimate", {"type": "number", "system": "aggregatetimeoriginalestimate"}, True, False, False, []),
    "aggregatetimeestimate": ("\u03a3 Remaining Estimate", {"type": "number", "system": "aggregatetimeestimate"}, True, False, False, []),
    "workratio": ("Work Ratio", {"type": "number", "system": "workratio"}, True, False, True, ["workratio"]),
}
SYSTEM_FIELDS.update(UNTRACKED_FIELDS)

ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024  # per file; the simulator keeps attachments in SQLite
EMBEDDED_WORKLOGS_MAX = 20  # worklogs in an issue's `worklog` field (a page, although its schema says array)
EMBEDDED_CHANGELOG_MAX = 100  # histories in an issue's expand=changelog; page the rest
EMBEDDED_COMMENTS_MAX = 20  # comments embedded in an issue's `comment` field; page the rest


def all_field_ids() -> list[str]:
    return [f for f in SYSTEM_FIELDS if f != "issuekey"] + list(CUSTOM_FIELDS)


def navigable_field_ids() -> list[str]:
    return [f for f, spec in SYSTEM_FIELDS.items() if spec[2]] + list(CUSTOM_FIELDS)


def field_name(field_id: str) -> str:
    if field_id in SYSTEM_FIELDS:
        return SYSTEM_FIELDS[field_id][0]
    if field_id in CUSTOM_FIELDS:
        return CUSTOM_FIELDS[field_id][0]
    return field_id


def field_schema(field_id: str) -> dict | None:
    if field_id in SYSTEM_FIELDS:
        return SYSTEM_FIELDS[field_id][1]
    if field_id in CUSTOM_FIELDS:
        return CUSTOM_FIELDS[field_id][1]
    return None


# Schema types of fields that hold several values: "array" (labels, components, fixVersions,
# versions, issuelinks, subtasks, attachment, worklog, multi-select custom fields) and the
# comment field's "comments-page" (Jira's own type for it, a list of comments all the same).
MULTI_VALUE_TYPES = frozenset({"array", "comments-page"})
ISSUE_IDENTITY_FIELDS = frozenset({"id", "key", "issuekey"})  # the issue's own id and key


def is_multi_value(field_id: str) -> bool:
    """True for a field whose schema (as GET /field lists it) holds several values, and for a
    field that is not in the field list at all (unknown: taken for the worse case)."""
    if field_id in ISSUE_IDENTITY_FIELDS:
        return False
    schema = field_schema(field_id)
    return schema is None or schema.get("type") in MULTI_VALUE_TYPES


# --- time tracking: Jira's default working time (8 h days, 5 day weeks) ------------------------

_DURATION_UNITS = {"w": 5 * 8 * 3600, "d": 8 * 3600, "h": 3600, "m": 60}
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*([wdhm])?\s*)+$", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhm])?", re.IGNORECASE)


def parse_duration(text: str) -> int | None:
    """Seconds of a Jira duration ("1w 2d 3h 30m", "1.5h", "90" = minutes); None if invalid."""
    if not isinstance(text, str) or not _DURATION.match(text):
        return None
    total = 0.0
    for number, unit in _DURATION_PART.findall(text):
        total += float(number) * _DURATION_UNITS[(unit or "m").lower()]
    return int(round(total))


def format_duration(seconds: int) -> str:
    """Jira's pretty duration: 5400 -> "1h 30m", 28800 -> "1d", 0 -> "0m"."""
    parts, rest = [], int(seconds)
    for unit in ("w", "d", "h", "m"):
        n, rest = divmod(rest, _DURATION_UNITS[unit])
        if n:
            parts.append(f"{n}{unit}")
    return " ".join(parts) or "0m"
