"""Data card rules shared by every write endpoint, and the JSON shapes cards are served in."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .store import CardRow, Store
from .templates import Catalog, Template, ValueProblem


def info_element(template: str, card_id: int, name: str) -> dict[str, Any]:
    """RESTDataCardInfoElement."""
    return {"dataCardId": str(card_id), "name": name, "url": f"/dc/{template}/data/{card_id}"}


def error(attribute_code: str, attribute_type: str, message: str) -> dict[str, Any]:
    """RESTError (UpdateError)."""
    return {"attributeCode": attribute_code, "attributeType": attribute_type, "message": message,
            "error": "Bad Request"}


@dataclass
class Prepared:
    """A card write that passed (errors empty) or was refused (errors listed)."""
    errors: list[dict[str, Any]] = field(default_factory=list)
    folder: str = ""
    name: str = ""
    data: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def referenced_ids(body: Any, tpl: Template) -> set[int]:
    """Every dataCardId named in the values of ``tpl``'s reference attributes (for one batched
    existence query; :func:`prepare` looks no other value up)."""
    out: set[int] = set()
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return out
    data = body["data"]
    for code in tpl.reference_codes:
        spec = data.get(code)
        if isinstance(spec, dict) and isinstance(spec.get("values"), list):
            for v in spec["values"]:
                ref = str(v.get("dataCardId", "")) if isinstance(v, dict) else ""
                if ref.isdigit() and len(ref) < 19:
                    out.add(int(ref))
    return out


def prepare(catalog: Catalog, tpl: Template, body: Any, existing: CardRow | None, author: str,
            refs: dict[int, tuple[str, str, bool]], *, append_multi: bool = False) -> Prepared:
    """Check one create (existing None) or modify request against the template.

    Worklog attributes only ever gain entries (Efecte worklogs are append-only); other
    attributes are replaced by the given values (an empty list clears them), or, with
    ``append_multi``, gain the values (attribute POST)."""
    out = Prepared()
    if not isinstance(body, dict):
        out.errors.append(error("data", "card", "Each data card must be a JSON object"))
        return out
    data_in = body.get("data")
    if not isinstance(data_in, dict):
        out.errors.append(error("data", "card", "The data card has no 'data' object"))
        data_in = {}

    folder = body.get("folderCode")
    if folder is None or folder == "":
        if existing is None:
            out.errors.append(error("folderCode", "folder",
                                    "Folder is missing: a new data card needs 'folderCode'"))
        else:
            folder = existing.folder
    elif not isinstance(folder, str) or folder not in catalog.folders:
        out.errors.append(error("folderCode", "folder", f"Folder '{folder}' does not exist"))
    elif folder not in tpl.allowed_folders:
        out.errors.append(error(
            "folderCode", "folder",
            f"Folder '{folder}' is not allowed for template '{tpl.code}' "
            f"(allowed: {', '.join(tpl.allowed_folders)})"))
    out.folder = folder if isinstance(folder, str) else ""

    # the stored values of an edited card, copied (value elements are flat: a copy of each
    # is a deep copy, at a fraction of copy.deepcopy's cost)
    data = {code: [dict(v) for v in values] for code, values in existing.data.items()} if existing else {}
    for code, spec in data_in.items():
        attr = tpl.attributes.get(code)
        if attr is None:
            out.errors.append(error(code, "unknown", f"Template '{tpl.code}' has no attribute '{code}'"))
            continue
        if not isinstance(spec, dict) or "values" not in spec:
            out.errors.append(error(code, attr.type, f"Attribute '{code}' must be given as {{\"values\": [...]}}"))
            continue
        try:
            values = attr.normalise(spec["values"], author)
        except ValueProblem as exc:
            out.errors.append(error(code, attr.type, str(exc)))
            continue
        if attr.type == "reference":
            bad = False
            for v in values:
                rid = int(v["dataCardId"])
                found = refs.get(rid)
                if found is None:
                    msg = f"Referenced data card {rid} does not exist"
                elif found[2]:
                    msg = f"Referenced data card {rid} is in the trash can"
                elif attr.target and found[1] not in attr.target:
                    msg = (f"Referenced data card {rid} is a '{found[1]}', attribute '{code}' "
                           f"takes {', '.join(attr.target)}")
                else:
                    continue
                out.errors.append(error(code, attr.type, msg))
                bad = True
            if bad:
                continue
            # a reference list names each card once
            seen: set[str] = set()
            values = [v for v in values if not (v["dataCardId"] in seen or seen.add(v["dataCardId"]))]
        if attr.type == "worklog":
            data[code] = data.get(code, []) + values
        elif append_multi and data.get(code):
            if not attr.multi_value:
                out.errors.append(error(code, attr.type,
                                        f"Attribute '{code}' is single-valued and already has a value"))
                continue
            merged = data[code] + values
            if attr.type == "reference":
                seen = set()
                merged = [v for v in merged if not (v["dataCardId"] in seen or seen.add(v["dataCardId"]))]
            data[code] = merged
        else:
            data[code] = values
        if not data[code]:
            del data[code]
    out.data = data
    name_values = data.get(tpl.name_attribute) or []
    out.name = str(name_values[0].get("value", "")) if name_values else ""
    return out


def render_card(store: Store, catalog: Catalog, row: CardRow, selected: list[str] | None,
                refs: dict[int, tuple[str, str, bool]] | None = None) -> dict[str, Any]:
    """RESTDataCard; ``refs`` (id -> brief) may be passed in to batch reference lookups."""
    tpl = catalog.templates[row.template]
    if refs is None:
        refs = store.brief(reference_ids_of([row], catalog))
    codes = selected if selected is not None else list(tpl.attributes)
    data = {code: render_element(catalog, tpl, code, row, refs) for code in codes}
    folder = catalog.folders.get(row.folder)
    return {
        "name": row.name,
        "dataCardId": str(row.id),
        "templateName": tpl.name,
        "templateCode": tpl.code,
        "templateId": tpl.template_id,
        "folderName": folder.name if folder else row.folder,
        "folderCode": row.folder,
        "data": data,
        "hidden": False,
        "deleted": row.deleted,
    }


def render_element(catalog: Catalog, tpl: Template, code: str, row: CardRow,
                   refs: dict[int, tuple[str, str, bool]]) -> dict[str, Any]:
    """RESTDataCardElement."""
    attr = tpl.attributes[code]
    stored = row.data.get(code, [])
    if attr.type == "worklog":
        values = list(reversed(stored))  # newest entry first, as Efecte shows worklogs
    elif attr.type == "reference":
        values = []
        for v in stored:
            rid = int(v["dataCardId"])
            brief = refs.get(rid)
            if brief is None:
                values.append({"dataCardId": v["dataCardId"], "deleted": True, "hidden": False})
                continue
            name, template, deleted = brief
            ref_tpl = catalog.templates.get(template)
            values.append({
                "name": name, "dataCardId": v["dataCardId"],
                "templateName": ref_tpl.name if ref_tpl else template, "templateCode": template,
                "url": f"/dc/{template}/data/{rid}", "deleted": deleted, "hidden": False,
            })
    else:
        values = [dict(v) for v in stored]
    return {"name": attr.name, "type": attr.element_type, "values": values}


def reference_ids_of(rows: list[CardRow], catalog: Catalog) -> set[int]:
    out: set[int] = set()
    for row in rows:
        tpl = catalog.templates.get(row.template)
        if tpl is None:
            continue
        for code, values in row.data.items():
            attr = tpl.attributes.get(code)
            if attr is not None and attr.type == "reference":
                out.update(int(v["dataCardId"]) for v in values)
    return out
