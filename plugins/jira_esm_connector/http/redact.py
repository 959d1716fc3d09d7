"""Scrub secrets out of text before it reaches a log line or an exception message."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

REDACTED = "***"

# Names whose value is a secret; also as the end of a longer name (``db_password``,
# ``sslpassword``, ``client_secret``, ``X-Api-Key``) but not as its start (``token_expires``).
_KEY = (
    r"\b[A-Za-z0-9_-]*?(?:password|passwd|passphrase|pwd|token|secret|jwt|apikey|api[_-]?key)\b"
)
# One token of an unquoted value: stops at quotes, '&' (query strings) and closing braces.
_WORD = r"[^\s'\"&}]+"
# A following word that is itself ``name=`` / ``name:`` starts the next pair, not the value.
_NEXT_KEY = r"""['"]?[\w.-]+['"]?\s*[:=]"""


def _userinfo(match: re.Match[str]) -> str:
    # only user:password@ (a bare user@ carries no secret and stays readable)
    return match.group(1) + REDACTED + "@" if ":" in match.group(2) else match.group(0)


_PATTERNS: tuple[tuple[re.Pattern[str], Any], ...] = (
    # Authorization: Basic xxx / Bearer xxx (header dumps, curl lines, reprs)
    (re.compile(r"(?i)\b(authorization|proxy-authorization)(['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+"), r"\1\2" + REDACTED),
    (re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + REDACTED),
    # "password": "a b c" / password='a b c': everything up to the closing quote
    # (backslash escapes inside it included), however many spaces the value has
    (
        re.compile(rf"""(?i)(['"]?{_KEY}['"]?\s*[:=]\s*)(["'])(?:\\.|(?!\2)[^\\])*\2"""),
        r"\1\2" + REDACTED + r"\2",
    ),
    # password=correct horse battery staple: the words up to the next name=value pair
    (
        re.compile(rf"""(?i)(['"]?{_KEY}['"]?[ \t]*=[ \t]*)(?!['"]){_WORD}(?:[ \t]+(?!{_NEXT_KEY}){_WORD})*"""),
        r"\1" + REDACTED,
    ),
    # a line that starts with "password: ..." (YAML, headers, config dumps): the rest of it
    (
        re.compile(rf"""(?im)^([ \t]*-?[ \t]*['"]?{_KEY}['"]?[ \t]*:[ \t]*)(?!['"\s]).+$"""),
        r"\1" + REDACTED,
    ),
    # "... password: xyz ..." inside a sentence: one word (more would eat the sentence)
    (
        re.compile(rf"""(?i)(['"]?{_KEY}['"]?\s*:\s*)(?!['"]|\*\*\*){_WORD}"""),
        r"\1" + REDACTED,
    ),
    # user:password@host in URLs; the password may itself contain '@' (the last '@'
    # before the path ends the user-info)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/?#\s]*)@"), _userinfo),
    # ... and a password holding '/', '?' or '#' (https://bob:pa/ss@host, bob:2024/pass@host):
    # user-info up to the last '@' of the word, unless what follows the ':' is a port whose
    # path reaches a query string, a space or the end before any '@' (host:8080/a?mail=x@y)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s:@]*:(?!\d*(?:$|\s|\?|[/#][^\s?@]*(?:$|\s|\?)))\S*@"),
     r"\1" + REDACTED + "@"),
    # bare JWTs (header.payload.signature, base64url)
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\b"), REDACTED),
)


def redact(text: object, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` as a string with credentials replaced by ``***``.

    Known secret values (API token, password, JWT) passed in ``secrets`` are removed
    verbatim wherever they appear; common secret shapes (Authorization headers,
    ``password=...``, URL user-info, JWTs) are removed by pattern.
    """
    out = str(text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            out = out.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        out = pattern.sub(replacement, out)
    return out


def safe_path(url: str) -> str:
    """The path of a URL without query string, fragment or user-info (safe to log)."""
    parts = urlsplit(url)
    return parts.path or "/"



# a query string in a logged URL or request line: up to the next space or quote
_QUERY = re.compile(r"\?[^\s'\"]+")
QUERY_HIDDEN = "?(query not logged)"


class QueryStringFilter(logging.Filter):
    """Takes query strings out of every record of the logger it is added to.

    urllib3 logs request URLs whole -- its "Retrying (...) after connection broken by ...:
    <url>" warning and its DEBUG request lines -- and a query string carries personal data
    (user searches, ESM EQL filters) or even a token. The connector logs its own retry line
    with the path only (:class:`.retry.LoggingRetry`); this keeps urllib3's lines readable
    without the query. The record is rewritten, never dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's problem, not ours
            return True
        if "?" in text:
            record.msg, record.args = _QUERY.sub(QUERY_HIDDEN, text), None
        return True


QUERY_STRING_FILTER = QueryStringFilter()
# urllib3's loggers that write request URLs (connection pool lines, retry increments)
URLLIB3_URL_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection")


def hide_urllib3_query_strings() -> None:
    """Add :data:`QUERY_STRING_FILTER` to urllib3's URL-writing loggers (once: adding it again
    changes nothing)."""
    for name in URLLIB3_URL_LOGGERS:
        logging.getLogger(name).addFilter(QUERY_STRING_FILTER)
