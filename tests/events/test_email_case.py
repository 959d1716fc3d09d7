"""E-mail addresses are compared without regard to case, non-ASCII letters too ("ÅSA@..." is
"åsa@..."): before, only A-Z were folded, so an ESM card spelling a Nordic address in capitals
named no user. Folding must still not make a look-alike equal to an ASCII letter (U+017F long s
case-folds to "s", U+212A Kelvin sign to "k": tests/events/test_operations.py)."""
from __future__ import annotations

import pytest

from jira_esm_connector.events import delete_user, remove_user_from_group
from jira_esm_connector.markers import EventRef, email_key, user_with_email

from .conftest import unique


@pytest.mark.parametrize("given, stored", [
    ("ÅSA@example.com", "åsa@example.com"),
    ("JÖRG.MÜLLER@Example.COM", "jörg.müller@example.com"),
    ("ΣΟΦΙΑ@example.com", "σοφια@example.com"),
    ("ÉLODIE@exemple.fr", "élodie@exemple.fr"),
])
def test_non_ascii_letters_match_in_either_case(given, stored):
    user = {"accountId": "a1", "emailAddress": stored}
    assert user_with_email([user], given) is user
    assert email_key(given) == email_key(stored)


@pytest.mark.parametrize("lookalike, ascii_letter", [
    ("\u017f", "s"),  # LATIN SMALL LETTER LONG S
    ("\u212a", "k"),  # KELVIN SIGN
    ("\u0130", "i"),  # LATIN CAPITAL LETTER I WITH DOT ABOVE (lower: "i" + combining dot)
    ("\ufb00", "ff"),  # LATIN SMALL LIGATURE FF
    ("\u1e9e", "ss"),  # LATIN CAPITAL LETTER SHARP S (case-folds to "ss")
])
def test_a_non_ascii_letter_never_folds_to_ascii(lookalike, ascii_letter):
    user = {"accountId": "a1", "emailAddress": f"{ascii_letter}upport@example.com"}
    assert user_with_email([user], f"{lookalike}upport@example.com") is None


def test_capital_sharp_s_is_small_sharp_s():
    assert email_key("STRAẞE@example.de") == email_key("straße@example.de")


def test_an_event_finds_a_user_by_a_non_ascii_address_in_other_case(jira, request, close_accounts_after):
    email = f"åsa.öberg-{unique('u')}@example.com"
    account_id = jira.create_user(email, ["jira-software"])["accountId"]
    close_accounts_after.append(account_id)
    group = jira.create_group(unique("nordic"))
    request.addfinalizer(lambda: jira.delete_group(group_id=group["groupId"]))
    jira.add_user_to_group(account_id, group_id=group["groupId"])
    shouted = email.upper()
    removed = remove_user_from_group(jira, EventRef("t", unique()), group_name=group["name"], email=shouted)
    assert removed["account_id"] == account_id and removed["changed"] is True
    assert delete_user(jira, EventRef("t", unique()), email=shouted) == {"account_id": account_id, "deleted": True}
