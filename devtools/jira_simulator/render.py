"""JSON shapes of Jira Cloud REST (v3, and v2 where text is plain instead of ADF)."""
from __future__ import annotations

import datetime as _dt
import html
import json
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from . import model
from .store import Store, adf_to_text, text_to_adf

ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"


class Renderer:
    """Renders rows for one request: knows the base URL, API version and caller's time zone."""

    def __init__(self, store: Store, base_url: str, api_version: str, tz: str, account_id: str | None = None) -> None:
        self.store = store
        self.base = base_url.rstrip("/")
        self.api = f"{self.base}/rest/api/{api_version}"
        self.v2 = api_version == "2"
        self.tz = ZoneInfo(tz)
        self.account_id = account_id  # the caller: `isWatching`

    # --- primitives ------------------------------------------------------------------------

    def date(self, ms: int | None) -> str | None:
        """Jira's timestamp format, in the caller's time zone: 2024-01-02T10:11:12.345+0200."""
        if ms is None:
            return None
        d = _dt.datetime.fromtimestamp(ms / 1000, self.tz)
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}" + d.strftime("%z")

    def rich(self, adf_json: str | None, text: str | None) -> Any:
        """A rich-text value: ADF in v3, plain text in v2."""
        if adf_json is None and text is None:
            return None
        if self.v2:
            return text
        return json.loads(adf_json) if adf_json else text_to_adf(text)

    def avatars(self, kind: str, ident: str) -> dict:
        return {
            f"{s}x{s}": f"{self.base}/secure/{kind}avatar?size={s}&ownerId={ident}"
            for s in (48, 24, 16, 32)
        }

    # --- users / groups --------------------------------------------------------------------

    def user(self, u: dict | None, *, details: bool = False) -> dict | None:
        if u is None:
            return None
        out: dict[str, Any] = {
            "self": f"{self.api}/user?accountId={u['account_id']}",
            "accountId": u["account_id"],
            "accountType": u["account_type"],
        }
        # profile visibility: a hidden address is left out, except for its owner (as Jira does)
        if u["email"] and (u["email_visible"] or u["account_id"] == self.account_id):
            out["emailAddress"] = u["email"]
        out.update({
            "avatarUrls": self.avatars("user", u["account_id"]),
            "displayName": u["display_name"],
            "active": bool(u["active"]),
            "timeZone": u["time_zone"],
        })
        if not details:
            out["locale"] = u["locale"]
        return out

    def user_full(self, u: dict, expand: set[str]) -> dict:
        out = self.user(u) or {}
        groups = self.store.groups_of(u["account_id"])
        out["groups"] = {"size": len(groups), "items": []}
        roles = json.loads(u["products"] or "[]")
        out["applicationRoles"] = {"size": len(roles), "items": []}
        if "groups" in expand:
            out["groups"]["items"] = [
                {"name": g["name"], "groupId": g["group_id"], "self": f"{self.api}/group?groupId={g['group_id']}"}
                for g in groups
            ]
        if "applicationroles" in expand:
            out["applicationRoles"]["items"] = [{"key": r, "name": r} for r in roles]
        out["expand"] = "groups,applicationRoles"
        return out

    def group(self, g: Any) -> dict:
        return {
            "name": g["name"],
            "groupId": g["group_id"],
            "self": f"{self.api}/group?groupId={g['group_id']}",
            # not expanded: no items, but `size` counts every member (as Jira's PagedList does)
            "users": {"size": len(self.store.members(g["group_id"], include_inactive=True)), "items": [],
                      "max-results": 50, "start-index": 0, "end-index": 0},
            "expand": "users",
        }

    # --- issue parts -----------------------------------------------------------------------

    def status(self, name: str) -> dict:
        s = model.STATUS_BY_NAME[name]
        cat = model.STATUS_CATEGORIES[s.category]
        return {
            "self": f"{self.api}/status/{s.id}",
            "description": s.description,
            "iconUrl": f"{self.base}/images/icons/statuses/generic.png",
            "name": s.name,
            "id": s.id,
            "statusCategory": {"self": f"{self.api}/statuscategory/{cat['id']}", **cat},
        }

    def project(self, key: str) -> dict:
        p = self.store.project(key)
        return {
            "self": f"{self.api}/project/{p['id']}",
            "id": str(p["id"]),
            "key": p["key"],
            "name": p["name"],
            "projectTypeKey": "service_desk" if p["workflow"] == "service-desk" else "software",
            "simplified": p["workflow"] == "software-simplified",
            "avatarUrls": self.avatars("project", str(p["id"])),
        }

    def issuetype(self, name: str) -> dict:
        t = model.ISSUE_TYPE_BY_NAME[name]
        return {
            "self": f"{self.api}/issuetype/{t['id']}", "id": t["id"], "description": t["description"],
            "iconUrl": f"{self.base}/images/icons/issuetypes/{t['name'].lower().replace(' ', '')}.svg",
            "name": t["name"], "subtask": False, "hierarchyLevel": 0,
        }

    def priority(self, name: str | None) -> dict | None:
        if name is None:
            return None
        p = model.PRIORITY_BY_NAME[name]
        return {"self": f"{self.api}/priority/{p['id']}", "iconUrl": f"{self.base}/images/icons/priorities/{p['name'].lower()}.svg", "name": p["name"], "id": p["id"]}

    def resolution(self, name: str | None) -> dict | None:
        if name is None:
            return None
        r = model.RESOLUTION_BY_NAME[name]
        return {"self": f"{self.api}/resolution/{r['id']}", "id": r["id"], "description": r["description"], "name": r["name"]}

    def comment(self, c: Any, issue_id: int, expand: Iterable[str] = ()) -> dict:
        author = self.user(self.store.user(c["author"]), details=True)
        out: dict[str, Any] = {
            "self": f"{self.api}/issue/{issue_id}/comment/{c['id']}",
            "id": str(c["id"]),
        }
        if author:
            out["author"] = author
        out["body"] = self.rich(c["body_adf"], c["body_text"])
        if author:
            out["updateAuthor"] = author
        out["created"] = self.date(c["created"])
        out["updated"] = self.date(c["updated"])
        out["jsdPublic"] = True
        if "renderedBody" in expand:
            out["renderedBody"] = "<p>" + html.escape(c["body_text"]).replace("\n\n", "</p><p>") + "</p>"
        if "properties" in expand:
            out["properties"] = json.loads(c["properties"]) if c["properties"] else []
        return out

    def comment_page(self, issue_id: int, start: int, limit: int, desc: bool = False, expand: Iterable[str] = ()) -> dict:
        rows = self.store.comments(issue_id, start, limit, desc)
        total = self.store.comment_count(issue_id)
        return {
            "comments": [self.comment(c, issue_id, expand) for c in rows],
            "self": f"{self.api}/issue/{issue_id}/comment",
            "maxResults": limit,
            "total": total,
            "startAt": start,
        }

    def field_value(self, row: Any, fid: str, extra: dict) -> Any:
        s = self.store
        if fid == "summary":
            return row["summary"]
        if fid == "description":
            return self.rich(row["description_adf"], row["description_text"])
        if fid == "environment":
            return self.rich(None, row["environment"]) if row["environment"] is not None else None
        if fid == "status":
            return self.status(row["status"])
        if fid == "statuscategorychangedate":
            return self.date(row["status_changed"])
        if fid == "resolution":
            return self.resolution(row["resolution"])
        if fid == "resolutiondate":
            return self.date(row["resolved"])
        if fid == "priority":
            return self.priority(row["priority"])
        if fid == "issuetype":
            return self.issuetype(row["issuetype"])
        if fid == "project":
            return self.project(row["project_key"])
        if fid in ("reporter", "assignee", "creator"):
            return self.user(s.user(row[fid]))
        if fid == "labels":
            return s.labels_of(row["id"])
        if fid in ("created", "updated"):
            return self.date(row[fid])
        if fid == "comment":
            return self.comment_page(row["id"], 0, model.EMBEDDED_COMMENTS_MAX)
        if fid == "watches":
            w = self.watchers(row)
            return {"self": w["self"], "watchCount": w["watchCount"], "isWatching": w["isWatching"]}
        if fid == "worklog":
            return self.worklog_page(row["id"], 0, model.EMBEDDED_WORKLOGS_MAX)
        if fid == "attachment":
            return [self.attachment(a) for a in s.attachments_of(row["id"])]
        if fid == "issuelinks":
            return [self.link(link, seen_from=row["id"]) for link in s.links_of(row["id"])]
        if fid in ("timespent", "aggregatetimespent", "timetracking", "progress", "aggregateprogress"):
            spent = self.store.time_spent(row["id"])
            if fid == "timetracking":
                return {"timeSpent": model.format_duration(spent), "timeSpentSeconds": spent} if spent else {}
            if fid in ("progress", "aggregateprogress"):  # no estimates: all logged work is done work
                return {"progress": spent, "total": spent, "percent": 100} if spent else {"progress": 0, "total": 0}
            return spent or None
        if fid in model.UNTRACKED_FIELDS:
            return self.untracked_value(row, fid)
        if fid == "customfield_10020":
            value = extra.get(fid)
            if value is None:
                return None
            opt = model.TEAM_BY_VALUE.get(value, {"id": "0", "value": value})
            return {"self": f"{self.api}/customFieldOption/{opt['id']}", "value": opt["value"], "id": opt["id"]}
        if fid == "customfield_10060":
            v = extra.get(fid)
            return self.date(v) if isinstance(v, int) else v
        value = extra.get(fid)
        if fid in model.CUSTOM_FIELDS and model.CUSTOM_FIELDS[fid][2] == "number" and isinstance(value, int):
            return float(value)  # number custom fields hold doubles: Jira Cloud sends 3 as 3.0
        return value

    def attachment(self, a: Any) -> dict:
        out: dict[str, Any] = {"self": f"{self.api}/attachment/{a['id']}", "id": str(a["id"]), "filename": a["filename"]}
        author = self.user(self.store.user(a["author"]), details=True) if a["author"] else None
        if author:
            out["author"] = author
        out.update({"created": self.date(a["created"]), "size": a["size"], "mimeType": a["mime_type"],
                    "content": f"{self.api}/attachment/content/{a['id']}"})
        return out

    def link_type(self, type_id: str) -> dict:
        t = model.LINK_TYPE_BY_ID[type_id]
        return {**t, "self": f"{self.api}/issueLinkType/{t['id']}"}

    def linked_issue(self, issue_id: int) -> dict:
        row = self.store.issue_row(str(issue_id))
        return {
            "id": str(row["id"]), "key": f"{row['project_key']}-{row['num']}", "self": f"{self.api}/issue/{row['id']}",
            "fields": {"summary": row["summary"], "status": self.status(row["status"]),
                       "priority": self.priority(row["priority"]), "issuetype": self.issuetype(row["issuetype"])},
        }

    def link(self, link: Any, seen_from: int | None = None) -> dict:
        """An IssueLink: both ends (GET issueLink), or seen from one issue only the other end."""
        out: dict[str, Any] = {"id": str(link["id"]), "self": f"{self.api}/issueLink/{link['id']}",
                               "type": self.link_type(link["type_id"])}
        if seen_from is None:
            out["inwardIssue"] = self.linked_issue(link["inward_id"])
            out["outwardIssue"] = self.linked_issue(link["outward_id"])
        elif seen_from == link["inward_id"]:  # "A blocks B": A lists B as its outwardIssue
            out["outwardIssue"] = self.linked_issue(link["outward_id"])
        else:
            out["inwardIssue"] = self.linked_issue(link["inward_id"])
        return out

    def worklog(self, w: Any) -> dict:
        out: dict[str, Any] = {"self": f"{self.api}/issue/{w['issue_id']}/worklog/{w['id']}"}
        for key, col in (("author", "author"), ("updateAuthor", "update_author")):
            u = self.user(self.store.user(w[col]), details=True) if w[col] else None
            if u:
                out[key] = u
        if w["comment_text"] is not None or w["comment_adf"] is not None:
            out["comment"] = self.rich(w["comment_adf"], w["comment_text"])
        out.update({
            "created": self.date(w["created"]), "updated": self.date(w["updated"]),
            "started": self.date(w["started"]), "timeSpent": model.format_duration(w["seconds"]),
            "timeSpentSeconds": w["seconds"], "id": str(w["id"]), "issueId": str(w["issue_id"]),
        })
        return out

    def worklog_page(self, issue_id: int, start: int, limit: int, after: int | None = None, before: int | None = None) -> dict:
        rows, total = self.store.worklogs(issue_id, start, limit, after, before)
        return {"startAt": start, "maxResults": limit, "total": total, "worklogs": [self.worklog(w) for w in rows]}

    def history(self, h: Any) -> dict:
        out: dict[str, Any] = {"id": str(h["id"])}
        author = self.user(self.store.user(h["author"]), details=True) if h["author"] else None
        if author:
            out["author"] = author
        out["created"] = self.date(h["created"])
        out["items"] = json.loads(h["items"])
        return out

    def watchers(self, row: Any) -> dict:
        users = self.store.watchers_of(row["id"])
        return {
            "self": f"{self.api}/issue/{row['project_key']}-{row['num']}/watchers",
            "isWatching": any(u["account_id"] == self.account_id for u in users),
            "watchCount": len(users),
            "watchers": [self.user(u, details=True) for u in users],
        }

    def untracked_value(self, row: Any, fid: str) -> Any:
        """Jira's value of a system field the issue has nothing in (see model.UNTRACKED_FIELDS)."""
        schema = model.UNTRACKED_FIELDS[fid][1]
        if schema["type"] == "array":
            return []
        if fid == "votes":
            return {"self": f"{self.api}/issue/{row['project_key']}-{row['num']}/votes", "votes": 0, "hasVoted": False}
        if fid == "workratio":
            return -1
        return None

    def issue(
        self, row: Any, fields: list[str] | None, expand: set[str], properties: list[str],
        envelope: bool = False,
    ) -> dict:
        """An IssueBean; ``fields`` None means the id-only default of search/jql.

        Search results asking for nothing but id/key get just those (as Jira does); with
        ``envelope`` the usual expand/id/self/key/fields frame is always returned.
        """
        fields = fields or []
        key = f"{row['project_key']}-{row['num']}"
        wanted = [f for f in fields if f not in ("id", "key", "issuekey")]
        if not envelope and not wanted and not expand and not properties:
            out_min: dict[str, Any] = {"id": str(row["id"])}
            if "key" in fields or "issuekey" in fields:
                out_min["key"] = key
            return out_min
        extra = json.loads(row["extra"]) if row["extra"] else {}
        out: dict[str, Any] = {
            "expand": ISSUE_EXPAND,
            "id": str(row["id"]),
            "self": f"{self.api}/issue/{row['id']}",
            "key": key,
        }
        field_values = {fid: self.field_value(row, fid, extra) for fid in wanted}
        # any other field set through the API (unknown custom fields are refused on write)
        if "renderedfields" in expand:
            out["renderedFields"] = {
                fid: ("<p>" + html.escape(row["description_text"] or "").replace("\n\n", "</p><p>") + "</p>"
                      if fid == "description" else None)
                for fid in wanted
            }
        if "names" in expand:
            out["names"] = {fid: model.field_name(fid) for fid in wanted}
        if "schema" in expand:
            out["schema"] = {fid: model.field_schema(fid) for fid in wanted if model.field_schema(fid)}
        if "transitions" in expand:
            out["transitions"] = self.transitions(row)
        if "changelog" in expand:  # "recent updates ..., starting from the most recent"
            page = self.store.histories(row["id"], 0, model.EMBEDDED_CHANGELOG_MAX, newest_first=True)
            out["changelog"] = {"startAt": 0, "maxResults": len(page), "total": self.store.history_count(row["id"]),
                                "histories": [self.history(h) for h in page]}
        if properties:
            props = {}
            for k in properties:
                try:
                    props[k] = self.store.get_property(row["id"], k)
                except LookupError:
                    pass
            out["properties"] = props
        out["fields"] = field_values
        return out

    def transitions(self, row: Any) -> list[dict]:
        workflow = self.store.project(row["project_key"])["workflow"]
        out = []
        for t in model.WORKFLOWS[workflow]:
            if t.to == row["status"]:
                continue
            out.append({
                "id": t.id, "name": t.name, "to": self.status(t.to), "hasScreen": False,
                "isGlobal": True, "isInitial": False, "isAvailable": True,
                "isConditional": False, "isLooped": False,
            })
        return out


def rich_input_to_storage(value: Any, v2: bool) -> tuple[str | None, str | None]:
    """(adf_json, text) for a rich-text input value, or raise ValueError with Jira's message."""
    if value is None:
        return None, None
    if v2:
        if not isinstance(value, str):
            raise ValueError("Operation value must be a string")
        return None, value
    if not is_adf_value(value):
        raise ValueError(
            "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        )
    return json.dumps(value), adf_to_text(value)


def is_adf_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "doc" and isinstance(value.get("content"), list)
