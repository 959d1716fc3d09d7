"""E-mail addresses are compared without regard to case, non-ASCII letters too ("ÅSA@..." is
"åsa@..."): before, only A-Z were folded, so an ESM card spelling a Nordic address in capitals
named no user. Folding must still not make a look-alike equal to an ASCII letter (U+017F long s
case-folds to "s", U+212A Kelvin sign to "k": tests/events/test_operations.py)."""
from __future__ import annotations

import pytest

from jira_esm_connector.events import EventRefused, delete_user, remove_user_from_group
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


@pytest.mark.parametrize("one, other", [
    ("\u00b5ller@example.com", "\u03bcller@example.com"),  # MICRO SIGN / GREEK SMALL LETTER MU
    ("\u03c3\u03bf\u03c6\u03b9\u03b1\u03c2@example.gr", "\u03c3\u03bf\u03c6\u03b9\u03b1\u03c3@example.gr"),  # final sigma / sigma
    ("\u03b8eta@example.com", "\u03d1eta@example.com"),  # GREEK SMALL LETTER THETA / THETA SYMBOL
])
def test_two_lowercase_letters_jira_holds_apart_stay_apart(one, other):
    """Jira compares addresses without case (lowercased), nothing more: two different small
    letters are two addresses, two users. casefold() makes them one (micro sign and mu, final
    and other sigma), so an event naming one address could select -- and delete -- the other."""
    assert one.lower() != other.lower()
    assert email_key(one) != email_key(other)
    assert user_with_email([{"accountId": "a1", "emailAddress": one}], other) is None


def test_a_final_capital_sigma_is_the_small_final_sigma_as_jira_lowercases_it():
    assert email_key("\u03a3\u039f\u03a6\u0399\u0391\u03a3@example.gr") == email_key("\u03c3\u03bf\u03c6\u03b9\u03b1\u03c2@example.gr")


def test_deleting_by_an_address_no_user_has_never_deletes_a_look_alike_user(jira, close_accounts_after):
    """Only a user with a micro-sign address exists; the event names the Greek-mu address.
    Jira's search finds no one, the scan of all users (for a deactivated one) must not take
    the micro-sign user for it: the event is refused and that user stays."""
    u = unique("u")
    micro = f"\u00b5ller-{u}@example.com"
    account_id = jira.create_user(micro, ["jira-software"])["accountId"]
    close_accounts_after.append(account_id)
    with pytest.raises(EventRefused, match="no user, active or deactivated"):
        delete_user(jira, EventRef("t", unique()), email=f"\u03bcller-{u}@example.com")
    assert jira.get_user(account_id)["accountId"] == account_id


def test_a_capital_sigma_beside_a_look_alike_is_not_taken_for_a_small_sigma():
    """An address with a look-alike kept as it is is lowercased letter by letter, which
    cannot tell a final capital sigma (Jira: "\u03c2") from another: kept as it is too, so
    two addresses Jira holds apart ("\u212a\u03bf\u03c2@" and "\u212a\u03bf\u03c3@") stay apart."""
    one, other = "\u212a\u039f\u03a3@example.com", "\u212a\u03bf\u03c3@example.com"
    assert one.lower() != other.lower()
    assert email_key(one) != email_key(other)
