"""The comment load tells which comments a card's worklog already holds by the marker that
ends each entry (markers.imported_comment_id, as reconciliation and the ping-pong check do)."""
from __future__ import annotations

from jira_esm_connector.markers import worklog_marker
from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, comment_task, make_task
from .helpers import by_attr, esm_cards, run_id


def test_a_marker_quoted_in_a_worklog_entry_does_not_keep_that_comment_out(jira, jira_sim, esm, state, staging):
    """The load knows which comments a worklog holds by the marker that ENDS each entry: an
    entry quoting another comment's marker ("see [Jira comment N]") does not make comment N
    count as already there, which would keep it out of ESM for good."""
    key = jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": "quoted", "comments": [{"body": "the first word"}],
    }).json()["key"]
    run_import(make_task(ISSUES_TASK, name="quoted_issues", jql=f"key = {key}"), jira, esm, state, staging, run_id(1))
    first_id = next(iter(jira.iter_comments(key)))["id"]
    card = by_attr(esm_cards(esm, "incident"), "jira_key")[key]
    # a person (or an earlier entry) quotes the first comment's marker before it was imported
    esm.add_attribute_value("incident", card.data_card_id, "worklog",
                            {"value": f"as said in {worklog_marker(first_id)}, see above"})
    comments_task = comment_task("quoted_comments", f"key = {key}")
    result = run_import(comments_task, jira, esm, state, staging, run_id(1))
    texts = [e.get("value") or "" for e in esm.get_attribute("incident", card.data_card_id, "worklog")]
    assert result["created"] == 1, result
    assert any(t.startswith("the first word") and t.endswith(worklog_marker(first_id)) for t in texts), texts



def test_a_card_deleted_while_its_comments_load_refuses_them_for_the_next_run(jira, jira_sim, esm, state, staging):
    """A card found by the look-up and deleted for good before its worklog was read: the
    client raises CardNotFoundError (a real ESM answers the read with 403 "Resource not found";
    the simulator keeps deleted cards in its trash, readable, so the answer is injected). Its
    comments are refused and retried next run; the other cards' comments load."""
    from jira_esm_connector.esm.errors import CardNotFoundError

    keys = [jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": f"card {n}", "comments": [{"body": f"comment {n}"}],
    }).json()["key"] for n in range(2)]
    run_import(make_task(ISSUES_TASK, name="gone_issues", jql=f"key in ({', '.join(keys)})"), jira, esm, state, staging, run_id(1))
    gone = by_attr(esm_cards(esm, "incident"), "jira_key")[keys[0]].data_card_id
    real_read = esm.get_attribute

    def get_attribute(template, card_id, attribute):
        if str(card_id) == str(gone):
            raise CardNotFoundError.for_card(template, str(card_id))
        return real_read(template, card_id, attribute)

    esm.get_attribute = get_attribute
    comments_task = comment_task("gone_comments", f"key in ({', '.join(keys)})")
    result = run_import(comments_task, jira, esm, state, staging, run_id(1))
    assert (result["created"], result["refused"]) == (1, 1), result
    assert "was deleted while its comments were loaded" in result["refused_records"][0]["reason"]


def test_a_comment_whose_author_is_gone_is_imported_by_the_example_task(jira, jira_sim, esm, state, staging):
    """Jira leaves `author` out of a comment whose account is gone (the contract marks it
    optional): the example's `{{ author.displayName }}` renders empty for it instead of
    stopping the whole comment import."""
    import yaml

    from jira_esm_connector.config import parse_task

    from .conftest import REPO_ROOT

    key = jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": "orphan comment", "comments": [{"body": "nobody wrote this", "author": "gone-account"}],
    }).json()["key"]
    assert "author" not in next(iter(jira.iter_comments(key)))
    run_import(make_task(ISSUES_TASK, name="orphan_issues", jql=f"key = {key}"), jira, esm, state, staging, run_id(1))
    example = yaml.safe_load((REPO_ROOT / "include" / "mappings" / "import_4_comments_to_worklog.yaml").read_text())
    example.update(jql=f"key = {key}", after=None, schedule="*/30 * * * *")
    task = parse_task(example, "import_4_comments_to_worklog.yaml")

    result = run_import(task, jira, esm, state, staging, run_id(1))

    assert (result["created"], result["refused"]) == (1, 0), result
    card = by_attr(esm_cards(esm, "incident"), "jira_key")[key]
    entries = esm.get_attribute("incident", card.data_card_id, task.comments.worklog_attribute)
    assert any((e.get("value") or "").startswith("nobody wrote this") for e in entries), entries
