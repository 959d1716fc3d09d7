"""IssueUpdateDetails bodies -> column values, and the changelog items of a change."""
from __future__ import annotations

import json
from typing import Any

from . import model
from .base import JiraError, Simulator, parse_time
from .render import rich_input_to_storage
from .store import Store, text_to_adf


def _change(field: str, fid: str, frm: Any, frm_s: Any, to: Any, to_s: Any, custom: bool = False) -> dict:
    # ChangeDetails: ids in from/to (left out when there is none: the document types them as
    # strings), display values in fromString/toString ("" for nothing)
    item: dict[str, Any] = {"field": field, "fieldtype": "custom" if custom else "jira", "fieldId": fid}
    if frm is not None:
        item["from"] = str(frm)
    item["fromString"] = "" if frm_s is None else str(frm_s)
    if to is not None:
        item["to"] = str(to)
    item["toString"] = "" if to_s is None else str(to_s)
    return item


def change_items(store: Store, row: Any, values: dict[str, Any], labels: list[str] | None) -> list[dict]:
    """The changelog items of applying column ``values`` (and ``labels``) to issue ``row``."""
    items: list[dict] = []
    refs = {
        "status": lambda n: model.STATUS_BY_NAME[n].id,
        "resolution": lambda n: model.RESOLUTION_BY_NAME[n]["id"],
        "priority": lambda n: model.PRIORITY_BY_NAME[n]["id"],
        "issuetype": lambda n: model.ISSUE_TYPE_BY_NAME[n]["id"],
    }
    for col, fid in (("issuetype", "issuetype"), ("summary", "summary"), ("description_text", "description"),
                     ("environment", "environment"), ("priority", "priority"), ("assignee", "assignee"),
                     ("reporter", "reporter"), ("status", "status"), ("resolution", "resolution")):
        if col not in values or values[col] == row[col]:
            continue
        old, new = row[col], values[col]
        if col in refs:
            items.append(_change(fid, fid, old and refs[col](old), old, new and refs[col](new), new))
        elif col in ("assignee", "reporter"):
            name = lambda a: (store.user(a) or {"display_name": a})["display_name"] if a else None  # noqa: E731
            items.append(_change(fid, fid, old, name(old), new, name(new)))
        else:
            items.append(_change(fid, fid, None, old, None, new))
    if labels is not None:
        before = store.labels_of(row["id"])
        if sorted(before) != sorted(labels):
            items.append(_change("labels", "labels", None, " ".join(before), None, " ".join(sorted(labels))))
    if "extra" in values:
        old_extra = json.loads(row["extra"]) if row["extra"] else {}
        new_extra = json.loads(values["extra"]) if values["extra"] else {}
        for fid in sorted(set(old_extra) | set(new_extra)):
            if old_extra.get(fid) != new_extra.get(fid):
                items.append(_change(model.field_name(fid), fid, None, old_extra.get(fid), None, new_extra.get(fid), custom=True))
    return items



def _ref_name(value: Any, items: list[dict]) -> str | None:
    if isinstance(value, dict):
        if "id" in value:
            return next((i["name"] for i in items if i["id"] == str(value["id"])), None)
        if "name" in value:
            return next((i["name"] for i in items if i["name"].lower() == str(value["name"]).lower()), None)
    if isinstance(value, str):
        return next((i["name"] for i in items if i["name"].lower() == value.lower() or i["id"] == value), None)
    return None




def record_history(store: Store, row: Any, values: dict[str, Any], labels: list[str] | None, author: str | None) -> None:
    """Add the changelog entry of a change to issue ``row`` (none when nothing changes)."""
    items = change_items(store, row, values, labels)
    if items:
        store.add_history(row["id"], author, items)


def save_change(
    store: Store, row: Any, values: dict[str, Any], labels: list[str] | None, comments: list[dict], author: str | None,
) -> None:
    """Apply a change to issue ``row``: its changelog entry, columns, labels (None: unchanged), new comments."""
    record_history(store, row, values, labels, author)
    store.update_issue(row["id"], values)
    if labels is not None:
        store.set_labels(row["id"], labels)
    for c in comments:
        store.add_comment(row["id"], author, c["adf"], c["properties"])


def _custom_field_input(fid: str, value: Any, extra: dict[str, Any], errors: dict[str, str]) -> bool:
    """A custom field's value into ``extra``; False (and an error) when refused."""
    kind = model.CUSTOM_FIELDS[fid][2]
    if value is None:
        extra.pop(fid, None)
    elif kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        extra[fid] = value
    elif kind == "string" and isinstance(value, str):
        extra[fid] = value
    elif kind == "option" and isinstance(value, dict):
        opt = next((o for o in model.TEAM_OPTIONS if o["id"] == str(value.get("id")) or o["value"] == value.get("value")), None)
        if opt is None:
            errors[fid] = f"Option value '{value.get('value', value.get('id'))}' is not valid"
            return False
        extra[fid] = opt["value"]
    elif kind == "datetime" and isinstance(value, str):
        try:
            extra[fid] = parse_time(value)
        except ValueError:
            errors[fid] = "Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."
            return False
    else:
        errors[fid] = f"Operation value must be a {kind}"
        return False
    return True


def _apply_fields(
    store: Store, fields: dict, *, v2: bool, creating: bool,
    values: dict[str, Any], extra: dict[str, Any], errors: dict[str, str],
) -> tuple[list[str] | None, bool]:
    """IssueUpdateDetails ``fields`` into ``values`` and ``extra``; the new labels (None: unchanged)
    and whether ``extra`` changed. Refusals go to ``errors``."""
    labels: list[str] | None = None
    extra_changed = False
    for fid, value in fields.items():
        if fid == "project":
            if not creating:
                errors["project"] = "Field 'project' cannot be set. It is not on the appropriate screen, or unknown."
                continue
            ref = value.get("key") or value.get("id") if isinstance(value, dict) else value
            p = store.project(str(ref)) if ref is not None else None
            if p is None:
                errors["project"] = "Specify a valid project ID or key"
            else:
                values["project_key"] = p["key"]
        elif fid == "issuetype":
            name = _ref_name(value, model.ISSUE_TYPES)
            if name is None:
                errors["issuetype"] = "The issue type selected is invalid." if value else "Specify an issue type"
            else:
                values["issuetype"] = name
        elif fid == "summary":
            if not isinstance(value, str) or not value.strip():
                errors["summary"] = "You must specify a summary of the issue."
            elif len(value) > 255:
                errors["summary"] = "Summary must be less than 255 characters."
            else:
                values["summary"] = value
        elif fid in ("description", "environment"):
            try:
                adf, text = rich_input_to_storage(value, v2)
            except ValueError as exc:
                errors[fid] = str(exc)
                continue
            if fid == "description":
                values["description_adf"], values["description_text"] = adf, text
            else:
                values["environment"] = text
        elif fid == "priority":
            name = _ref_name(value, model.PRIORITIES)
            if value is not None and name is None:
                errors["priority"] = "The priority selected is invalid."
            else:
                values["priority"] = name
        elif fid in ("assignee", "reporter"):
            if value is None:
                values[fid] = None
                continue
            account_id = value.get("accountId") if isinstance(value, dict) else None
            u = store.user(account_id)
            if u is None or not u["active"]:
                errors[fid] = (f"User '{account_id}' cannot be assigned issues." if fid == "assignee"
                               else "Specify a valid value for reporter")
            else:
                values[fid] = account_id
        elif fid == "labels":
            if not isinstance(value, list) or not all(isinstance(l, str) for l in value):
                errors["labels"] = "Labels must be a list of strings."
            elif any(" " in l for l in value):
                bad = next(l for l in value if " " in l)
                errors["labels"] = f"The label '{bad}' contains spaces which is invalid."
            else:
                labels = list(dict.fromkeys(value))
        elif fid == "resolution":
            name = _ref_name(value, model.RESOLUTIONS)
            if value is not None and name is None:
                errors["resolution"] = "The resolution selected is invalid."
            else:
                values["resolution"] = name
        elif fid in model.CUSTOM_FIELDS:
            extra_changed = _custom_field_input(fid, value, extra, errors) or extra_changed
        else:
            errors[fid] = f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."
    return labels, extra_changed


def _apply_update(
    store: Store, update: dict, *, v2: bool, row: Any, labels: list[str] | None,
    values: dict[str, Any], errors: dict[str, str],
) -> tuple[list[str] | None, list[dict]]:
    """IssueUpdateDetails ``update`` operations: the labels after them and the comments to add."""
    comments: list[dict] = []
    for fid, ops in update.items():
        if not isinstance(ops, list):
            errors[fid] = "Operations must be a list."
            continue
        if fid == "labels":
            current = labels if labels is not None else (store.labels_of(row["id"]) if row is not None else [])
            for op in ops:
                if "set" in op:
                    current = list(op["set"] or [])
                elif "add" in op:
                    if op["add"] not in current:
                        current.append(op["add"])
                elif "remove" in op:
                    current = [l for l in current if l != op["remove"]]
            labels = current
        elif fid == "summary":
            for op in ops:
                if "set" in op:
                    values["summary"] = op["set"]
        elif fid == "comment":
            for op in ops:
                add = op.get("add") if isinstance(op, dict) else None
                if not isinstance(add, dict):
                    errors["comment"] = "Comment operation must be {\"add\": {\"body\": ...}}."
                    continue
                try:
                    adf, text = rich_input_to_storage(add.get("body"), v2)
                except ValueError as exc:
                    errors["comment"] = str(exc)
                    continue
                comments.append({"adf": json.loads(adf) if adf else text_to_adf(text), "properties": add.get("properties")})
        else:
            errors[fid] = f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."
    return labels, comments


def apply_issue_input(
    sim: Simulator, body: dict, *, v2: bool, creating: bool, row: Any = None,
) -> tuple[dict[str, Any], list[str] | None, list[dict]]:
    """Turn an IssueUpdateDetails body into column values, new labels and comments to add."""
    store = sim.store
    if not isinstance(body, dict):
        raise JiraError(400, "Can not deserialize the request body: expected an object.")
    fields = body.get("fields") or {}
    update = body.get("update") or {}
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise JiraError(400, "Can not deserialize the request body: 'fields' and 'update' must be objects.")
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    extra = json.loads(row["extra"]) if row is not None and row["extra"] else {}
    labels, extra_changed = _apply_fields(store, fields, v2=v2, creating=creating, values=values, extra=extra, errors=errors)
    labels, comments = _apply_update(store, update, v2=v2, row=row, labels=labels, values=values, errors=errors)

    if creating:
        if "project_key" not in values and "project" not in errors:
            errors["project"] = "Specify a valid project ID or key"
        if "issuetype" not in values and "issuetype" not in errors:
            errors["issuetype"] = "Specify an issue type"
        if "summary" not in values and "summary" not in errors:
            errors["summary"] = "You must specify a summary of the issue."
    if errors:
        raise JiraError(400, [], errors)
    if extra_changed:
        values["extra"] = json.dumps(extra) if extra else None
    return values, labels, comments
