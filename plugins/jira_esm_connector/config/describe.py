"""Markdown descriptions of tasks for the DAGs' ``doc_md`` (what the Airflow UI shows)."""
from __future__ import annotations

from .event import EventTask
from .params import params_schema
from .scheduled import ScheduledTask

__all__ = ["describe_task"]


def _cell(text: object) -> str:
    """Safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(text: object) -> str:
    return "`" + _cell(text).replace("`", "'") + "`"


def describe_task(task: ScheduledTask | EventTask, *, warning: str | None = None, source: str | None = None) -> str:
    """Markdown for ``doc_md``: what the task does, its settings and its mapping.
    ``warning`` (e.g. from :func:`schedule_warning`) is shown first; ``source`` names the file."""
    lines: list[str] = [f"# {task.name}", ""]
    if warning:
        lines += [f"> **Warning:** {warning}", ""]
    if task.description:
        lines += [task.description, ""]
    if source:
        lines += [f"Defined in {_code(source)}.", ""]
    if isinstance(task, ScheduledTask):
        rows = [
            ("kind", f"scheduled {task.mapping_type} import, {task.mode}"),
            ("schedule", _code(task.schedule) if task.schedule else "manual only"),
            ("Jira connection", _code(task.jira_conn_id)),
            ("ESM connection", _code(task.esm_conn_id)),
            ("ESM template / folder", f"{_code(task.template)} / {_code(task.folder or '-')}"),
        ]
        if task.jql:
            rows.append(("JQL", _code(task.jql)))
        if task.key:
            rows.append(("key", f"Jira {_code(task.key.jira)} ↔ ESM {_code(task.key.esm)}"))
        rows.append(("task id attribute", _code(task.task_id_attribute)))
        removal = task.removal
        if removal:
            rows.append(("removed records", f"{_code(removal.attribute)} = {_code(removal.value)} "
                                            f"(at most {removal.max_share:.0%} per run)"))
            rows.append(("removal after a smaller fetch", f"none when a run fetched more than {removal.max_shrink:.0%} "
                                                          "fewer records than the last successful run"))
            active = _code(removal.active_value) if removal.active_value else "its mapped value"
            rows.append(("record back in Jira", f"card re-activated ({active})" if removal.reactivate
                         else "card stays disabled"))
        if task.cache is not None:
            rows.append(("cache clear hours (UTC)", ", ".join(map(str, task.cache.clear_hours)) or "never"))
        if task.comments:
            rows.append(("worklog", f"{_code(task.comments.worklog_attribute)} on the card whose "
                                    f"{_code(task.comments.card_key_attribute)} is the issue key"))
        lines += ["| setting | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
        lines += ["## Mapping", "", "| ESM attribute | from Jira |", "|---|---|"]
        lines += [f"| {_code(name)} | {_cell(spec.describe())} |" for name, spec in task.effective_attributes.items()]
        if task.quality:
            lines += ["", "## Data quality", ""]
            lines += [f"- {_code(q.name)} {q.kwargs}" for q in task.quality]
    else:
        rows = [
            ("operation", _code(task.operation)),
            ("Jira connection", _code(task.jira_conn_id)),
            ("ESM connection", _code(task.esm_conn_id)),
        ]
        if task.write_back:
            rows.append(("write-back", f"{_code(task.write_back.template)}.{_code(task.write_back.attribute)}"))
        lines += ["| setting | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
        schema = params_schema(task)
        lines += ["## Payload (DAG run conf)", "", "| key | type | required | notes |", "|---|---|---|---|"]
        for key, prop in schema["properties"].items():
            kind = prop["type"] if isinstance(prop["type"], str) else prop["type"][-1]
            notes = [_cell(prop.get("description", "")).rstrip(".")]
            if "format" in prop:
                notes.append(f"format {prop['format']}")
            if "enum" in prop:
                notes.append("one of " + ", ".join(_code(v) for v in prop["enum"] if v is not None))
            if "maxLength" in prop:
                notes.append(f"max {prop['maxLength']} chars")
            lines.append(f"| {_code(key)} | {kind} | {'yes' if key in schema['required'] else 'no'} | "
                         f"{'; '.join(n for n in notes if n)} |")
        if task.specs():
            lines += ["", "## Mapping", "", "| Jira | from payload |", "|---|---|"]
            lines += [f"| {_code('.'.join(path))} | {_cell(spec.describe())} |" for path, spec in task.specs()]
    return "\n".join(lines).replace("|  |", "| |") + "\n"
