"""The comment import's watermark candidate was taken from listing pages read *while* the
comments of earlier issues were being read, so a comment added (to an issue whose comments
were already read) before a later issue's change was pushed past by the watermark. It is
now the newest change the search shows before the listing starts, as for generic imports
(``newest_jql``, see pipeline/extract.py)."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from jira_esm_connector.markers import worklog_marker
from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import by_attr, esm_cards, run_id


def _adf(text: str) -> dict:
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


def test_comment_added_while_a_comment_import_runs_is_not_lost(jira, jira_sim, esm, state, staging, monkeypatch):
    now = datetime.now(timezone.utc)
    made = {}
    for name, minutes_ago in (("X", 40), ("Z", 30)):
        made[name] = jira_sim.admin("POST", "issues", json={
            "project": "SUP", "summary": f"Comment race {name}",
            "comments": [{"body": f"first comment on {name}", "created": (now - timedelta(minutes=minutes_ago + 1)).isoformat()}],
            "updated": (now - timedelta(minutes=minutes_ago)).isoformat(),
        }).json()["key"]
    x, z = made["X"], made["Z"]
    jql = f"key in ({x}, {z})"
    issues = make_task(ISSUES_TASK, name="race_issues", jql=jql)
    run_import(issues, jira, esm, state, staging, run_id(1))

    comments_task = make_task({
        "name": "race_comments", "kind": "scheduled", "jira_conn_id": "jira_default",
        "esm_conn_id": "esm_default", "schedule": "*/30 * * * *", "mode": "incremental",
        "mapping_type": "comment", "jql": jql, "template": "incident", "page_size": 1,
        "comments": {"card_key_attribute": "jira_key", "worklog_attribute": "worklog"},
    })

    # While the first run reads X's comments, a person comments on X; a few minutes later
    # (the run is long: thousands of issues) someone edits Z, which the listing has not reached.
    x_read = threading.Event()
    added: dict = {}
    real_comments = jira.iter_comments
    real_pages = jira.iter_search_pages

    def iter_comments(key, *args, **kwargs):
        out = list(real_comments(key, *args, **kwargs))
        if key == x and not added:
            added.update(jira.add_comment(x, _adf("added by a person while the import ran")))
            later = datetime.now(timezone.utc) + timedelta(minutes=5)
            jira_sim.admin("PATCH", f"issues/{z}", json={"summary": "edited later", "updated": later.isoformat()})
            x_read.set()
        yield from out

    def iter_search_pages(*args, **kwargs):
        for page in real_pages(*args, **kwargs):
            yield page
            if any(i.get("key") == x for i in page.issues):
                assert x_read.wait(30)  # the listing reaches Z after X's comments were read

    monkeypatch.setattr(jira, "iter_comments", iter_comments)
    monkeypatch.setattr(jira, "iter_search_pages", iter_search_pages)
    first = run_import(comments_task, jira, esm, state, staging, run_id(1))
    assert first["refused"] == 0 and added
    monkeypatch.undo()

    # the next scheduled run, nothing else changed
    run_import(comments_task, jira, esm, state, staging, run_id(2))

    cards = by_attr(esm_cards(esm, "incident", issues.name), "jira_key")
    texts = [e.get("value") or "" for e in esm.get_attribute("incident", cards[x].data_card_id, "worklog")]
    assert any(t.endswith(worklog_marker(added["id"])) for t in texts), (
        f"comment {added['id']} on {x} never reached ESM; watermark {state.get_watermark(comments_task.name)}; "
        f"worklog: {texts}"
    )
