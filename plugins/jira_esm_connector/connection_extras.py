"""Reading a connection's extra fields, shared by the Jira and ESM hooks.

Airflow stores UI extra fields by plain name (``verify``); forms of older Airflow
versions used ``extra__<conn_type>__<name>``: both are accepted. Bad values give a plain
error naming the field, never the value of a secret field (these are not secrets).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


def check_extras_text(raw: Any, *, service: str, conn_id: str) -> None:
    """Raise a plain ValueError when a connection's extra text is not a JSON object.

    Airflow's ``extra_dejson`` turns such text into ``{}`` with only a log line, and the
    connection would quietly lose its CA bundle, timeouts or http opt-in (the error the
    operator then sees blames something else). The message says where the JSON breaks,
    never what it holds."""
    if raw is None or isinstance(raw, dict) or not str(raw).strip():
        return
    try:
        value = json.loads(raw)
    except ValueError as exc:
        where = f" ({exc.msg} at line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ValueError(
            f"{service} connection '{conn_id}': its extra fields are not valid JSON{where}; write them as a JSON "
            'object, e.g. {"verify": true} (double quotes, no trailing comma)'
        ) from None
    if value is not None and not isinstance(value, dict):
        raise ValueError(
            f"{service} connection '{conn_id}': its extra fields must be a JSON object of field names to values, "
            f'e.g. {{"verify": true}}, not a JSON {type(value).__name__}'
        )


def extra_value(extras: dict[str, Any], name: str, conn_type: str) -> Any:
    for key in (name, f"extra__{conn_type}__{name}"):
        if key in extras and extras[key] not in (None, ""):
            return extras[key]
    return None


def extra_bool(value: Any, name: str, default: bool, *, service: str) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{service} connection extra '{name}' must be true or false, not {str(value)[:20]!r}")


def extra_seconds(value: Any, name: str, default: float, *, service: str) -> float:
    if value in (None, ""):
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{service} connection extra '{name}' must be a number of seconds, not {str(value)[:20]!r}") from None
    if seconds <= 0:
        raise ValueError(f"{service} connection extra '{name}' must be more than 0 seconds")
    return seconds


def warn_if_unverified(logger: logging.Logger | logging.LoggerAdapter, service: str, conn_id: str, verify: Any) -> None:
    """The same loud warning for every connection with certificate checks turned off."""
    if verify is False:
        logger.warning(
            "%s connection '%s' has certificate verification turned off (verify=false); use only for local testing.",
            service,
            conn_id,
        )


def private_dir(name: str = "jira-esm-connector") -> Path:
    """A folder only this user can use: ``<runtime or temp dir>/<name>-<uid>``, mode 0700.

    The shared temp folder is writable by every local user, so a predictable path there
    could be created first by someone else (with their files in it). The folder is created
    0700 and then checked: a real folder (not a symlink), owned by this user, with no
    access for group or others; otherwise a plain error names it.
    """
    # the platform's per-user runtime folder, not a connector setting (see config/settings.py)
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    uid = os.getuid() if hasattr(os, "getuid") else None
    path = Path(base) / (f"{name}-{uid}" if uid is not None else name)
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise ValueError(f"cannot create the private folder {path}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ValueError(f"{path} exists but is not a folder (a symlink or file?); remove it")
    if uid is not None:
        if info.st_uid != uid:
            raise ValueError(f"{path} belongs to another user (uid {info.st_uid}); remove it or set XDG_RUNTIME_DIR")
        if stat.S_IMODE(info.st_mode) & 0o077:
            # ours but too open (e.g. a umask or an old version): close it, then trust it
            os.chmod(path, 0o700)
    return path


def _same_content(path: Path, data: bytes) -> bool:
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            return False
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def ca_bundle_path(value: str) -> str:
    """The CA bundle file for a ``ca_bundle`` extra, which may hold a path or the PEM text
    itself (handy with secrets backends).

    PEM text is written to :func:`private_dir` under a name derived from its hash. An
    existing file is used only when it holds exactly this text (and is ours); otherwise it
    is rewritten through a temporary file and a rename, so a reader never sees half a file.
    """
    text = str(value).strip()
    if "-----BEGIN" not in text:  # PEM text may have comment lines before it (certifi, openssl)
        return os.path.expanduser(text)
    data = (text + "\n").encode()
    folder = private_dir()
    path = folder / f"ca-{hashlib.sha256(data).hexdigest()[:32]}.pem"
    if _same_content(path, data):
        return str(path)
    fd, tmp = tempfile.mkstemp(prefix=".ca-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return str(path)
