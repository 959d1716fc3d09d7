"""A bulk import's per-card results are paired with the cards sent by position only when the
answer keeps the order (every edit's result names the card sent). The ESM contract does not
promise the order: paired blindly, a reordered answer gave a new card's id to another key
(and later edits went to the wrong card)."""
from __future__ import annotations

from jira_esm_connector.esm import CardInput, EsmClient


def _client() -> EsmClient:
    return EsmClient("https://esm.example.com/rest-api/itsm/v1", "integration", "secret-password")


def _result(card_id: str) -> dict:
    return {"dataCard": {"dataCardId": card_id}}


def test_results_in_the_order_sent_are_paired_by_position():
    cards = [(0, CardInput({"jira_key": "SUP-1"}, data_card_id="11")), (1, CardInput({"jira_key": "SUP-2"}))]
    outcomes = _client()._match_outcomes("incident", cards, {"data": [_result("11"), _result("99")]})
    assert [(o.status, o.data_card_id) for o in outcomes] == [("updated", "11"), ("created", "99")]


def test_results_in_another_order_are_matched_by_card_id_and_new_cards_stay_unknown(caplog):
    cards = [(0, CardInput({"jira_key": "SUP-1"})), (1, CardInput({"jira_key": "SUP-2"}, data_card_id="22"))]
    # ESM answered the edit first: by position, SUP-1 would get card 22 and SUP-2 the new card
    outcomes = _client()._match_outcomes("incident", cards, {"data": [_result("22"), _result("99")]})
    assert [(o.status, o.data_card_id, o.uncertain) for o in outcomes] == [
        ("refused", None, True),  # not known which new card is SUP-1's: the next run finds it by key
        ("updated", "22", False),
    ]
    assert "not in the order sent" in caplog.text


def test_errors_the_answer_lists_outside_the_per_card_results_are_logged(caplog):
    """RESTDataCardListResponse.meta is RESTMetaData, which has an ``errors`` list of its own:
    ESM's reasons there were dropped, and the operator only read that ESM did not say what
    happened to the card."""
    cards = [(0, CardInput({"jira_key": "SUP-1"}, data_card_id="11")), (1, CardInput({"jira_key": "SUP-2"}, data_card_id="12"))]
    answer = {"data": [_result("11")], "meta": {"errors": [
        {"attributeCode": "status", "message": "Couldn't find static-value with value: Done"}]}}
    outcomes = _client()._match_outcomes("incident", cards, answer)
    assert [(o.status, o.uncertain) for o in outcomes] == [("updated", False), ("refused", True)]
    assert "lists 1 error(s) not tied to a card: status: Couldn't find static-value with value: Done" in caplog.text
