"""Pattern redaction, as tables of (text, secret parts that must go, text that must stay).

Passphrases with spaces, quoted values with escapes, secret names with prefixes, URL
user-info whose password contains '@', and words around secrets that must survive.
"""
from __future__ import annotations

import pytest

from jira_esm_connector.http.redact import redact

GONE_AND_KEPT = [
    # passphrases with spaces
    ("password=correct horse battery staple", ["correct", "horse", "battery", "staple"], ["password="]),
    ("login failed: password=correct horse battery staple user=bob",
     ["correct", "horse", "battery", "staple"], ["user=bob", "login failed"]),
    ("pwd = two words, then=next", ["two", "words"], ["then=next"]),
    ("--password=a b c --user=x", ["a b c"], ["--user=x"]),
    ('{"password": "a b c", "user": "bob"}', ["a b c"], ['"user": "bob"', '"password": "***"']),
    ("{'secret': 'with \\'escaped\\' quotes inside', 'n': 1}", ["escaped", "quotes inside"], ["'n': 1"]),
    ('{"api_token": "tok en 123"}', ["tok en 123"], ['"api_token"']),
    ("password: correct horse battery staple", ["correct", "horse", "battery", "staple"], ["password:"]),
    ("  db_password: correct horse battery staple\n  user: bob", ["correct", "horse"], ["user: bob"]),
    ("token='a b'", ["a b"], []),
    ('client_secret="x y z"', ["x y z"], []),
    # secret names as the end of a longer name
    ("sslpassword=hunter2hunter2&host=db", ["hunter2hunter2"], ["host=db"]),
    ("X-Api-Key: k3y-v4lue", ["k3y-v4lue"], ["X-Api-Key"]),
    ("DB_PASSWORD=s3cr3t", ["s3cr3t"], []),
    ("passphrase=my long pass phrase", ["my long pass phrase"], []),
    # URL user-info, also with '@' (and ':') inside the password
    ("https://user:p@ss@host.example/x", ["p@ss", "user:"], ["host.example/x"]),
    ("postgresql://svc:p@:ss@@db:5432/state", ["p@:ss"], ["db:5432/state"]),
    ("see https://u:pw@host/a and https://v:pw2@other/b", ["u:pw", "v:pw2"], ["host/a", "other/b"]),
    # what was already covered keeps working
    ("Authorization: Basic ZGVtb0BleGFtcGxlLmNvbTpkZW1vLXRva2Vu", ["ZGVtb0Bl"], ["Authorization"]),
    ("Bearer eyJhbGciOi.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", ["eyJhbGciOi"], []),
    ("https://x/?token=abc123&page=2", ["abc123"], ["page=2"]),
]

UNCHANGED = [
    "The Jira connection has no password: set it to the API token.",
    "issue key=SUP-1 status=Done",
    "token_expires=2026-05-01",
    "postgresql://svc@db/state",
    "https://host.example/path?email=a@b.example",
    "jira_key=SUP-12 summary=Printer broken",
]


@pytest.mark.parametrize(("text", "gone", "kept"), GONE_AND_KEPT)
def test_secret_parts_are_removed_and_the_rest_stays(text, gone, kept):
    out = redact(text)
    for part in gone:
        assert part not in out, (text, out)
    for part in kept:
        assert part in out, (text, out)
    assert "***" in out


def test_a_sentence_after_a_secret_name_keeps_its_other_words():
    # "password: x" in running text hides one word, not the rest of the message
    assert redact("The Jira connection has no password: set it to the API token.") == (
        "The Jira connection has no password: *** it to the API token."
    )


@pytest.mark.parametrize("text", UNCHANGED[1:])
def test_text_without_secrets_is_left_alone(text):
    assert redact(text) == text


@pytest.mark.parametrize(("text", "gone", "kept"), GONE_AND_KEPT)
def test_redaction_is_idempotent(text, gone, kept):
    once = redact(text)
    assert redact(once) == once
