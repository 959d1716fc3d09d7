"""Scrub secrets out of text before it reaches a log line or an exception message."""
from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Basic xxx / Bearer xxx (header dumps, curl lines, reprs)
    (re.compile(r"(?i)\b(authorization|proxy-authorization)(['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+"), r"\1\2" + REDACTED),
    (re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + REDACTED),
    # key=value / "key": "value" pairs whose key names a secret
    (
        re.compile(
            r"(?i)(['\"]?\b(?:password|passwd|pwd|api[_-]?token|token|access[_-]?token|"
            r"refresh[_-]?token|secret|client[_-]?secret|jwt|apikey|api[_-]?key)['\"]?\s*[:=]\s*['\"]?)"
            r"[^'\"&\s,}]+"
        ),
        r"\1" + REDACTED,
    ),
    # user:password@host in URLs
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@"), r"\1" + REDACTED + "@"),
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


def safe_url(url: str) -> str:
    """scheme://host[:port]/path of a URL: no user-info, no query string, no fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
