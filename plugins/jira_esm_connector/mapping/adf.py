"""Atlassian Document Format (ADF) <-> plain text.

Jira Cloud REST v3 carries rich text (descriptions, comments) as ADF JSON; ESM text
attributes want readable plain text, and text pushed to Jira must become ADF again.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

__all__ = ["adf_to_text", "text_to_adf"]

# Block nodes are separated by a blank line in the text form.
_BLOCK_SEPARATOR = "\n\n"


def adf_to_text(adf: Any) -> str | None:
    """Readable plain text of an ADF document (or node). ``None`` stays ``None``.

    Paragraphs and other blocks are separated by a blank line, hard breaks become line
    breaks, list items ``- `` / ``1. `` (nested lists indented), headings and code
    blocks keep their text, mentions their ``@name``, links ``text (url)`` when the text
    is not the url itself, and tables one row per line with ``|`` between cells.
    A plain string (older API versions) is returned unchanged; a list of nodes gives their blocks.
    """
    if adf is None:
        return None
    if isinstance(adf, str):
        return adf
    if isinstance(adf, (list, tuple)):  # a node's content (``fields.description.content``): its blocks
        return _blocks([n for n in adf if isinstance(n, dict)], 0).strip("\n")
    if not isinstance(adf, dict):
        return str(adf)
    return _block(adf, 0).strip("\n")


def _children(node: dict) -> list[dict]:
    content = node.get("content")
    return [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []


def _blocks(nodes: list[dict], indent: int) -> str:
    parts = [_block(n, indent) for n in nodes]
    return _BLOCK_SEPARATOR.join(p for p in parts if p != "")


def _inline(nodes: list[dict]) -> str:
    return "".join(_inline_node(n) for n in nodes)


def _inline_node(node: dict) -> str:
    kind = node.get("type")
    if kind == "text":  # by far the most common node: before anything else
        text = str(node.get("text", ""))
        for mark in node.get("marks") or []:
            if isinstance(mark, dict) and mark.get("type") == "link":
                href = (mark.get("attrs") or {}).get("href")
                if href and href != text:
                    text = f"{text} ({href})"
        return text
    attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        text = attrs.get("text") or attrs.get("id") or ""
        return text if str(text).startswith("@") else f"@{text}"
    if kind == "emoji":
        return str(attrs.get("text") or attrs.get("shortName") or "")
    if kind in ("inlineCard", "blockCard", "embedCard"):
        return str(attrs.get("url") or "")
    if kind == "status":
        return str(attrs.get("text") or "")
    if kind == "date":
        stamp = attrs.get("timestamp")
        try:
            return datetime.fromtimestamp(int(stamp) / 1000, tz=timezone.utc).date().isoformat()
        except (TypeError, ValueError):
            return str(stamp or "")
    if kind in ("media", "mediaInline"):
        url = attrs.get("url") if attrs.get("type") == "external" else None
        if url:  # an image linked from the web: its address is what the text can keep (and what changes)
            return f"[image: {attrs['alt']} ({url})]" if attrs.get("alt") else f"[image: {url}]"
        return f"[attachment: {attrs.get('alt') or attrs.get('id') or 'file'}]"
    # Unknown inline node: keep whatever text it carries.
    if "text" in node:
        return str(node["text"])
    return _inline(_children(node))


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


def _list_item(item: dict, marker: str, indent: int) -> str:
    children = _children(item)
    if children and all(c.get("type") not in _BLOCK_TYPES for c in children):
        body = _inline(children)  # a taskItem holds inline nodes: one line of text
    else:
        body = _blocks(children, indent + 1)
    # Inside a list item, blocks are separated by single line breaks, continuation indented.
    body = body.replace(_BLOCK_SEPARATOR, "\n")
    lines = body.split("\n")
    pad = " " * len(marker)
    first = marker + lines[0] if lines else marker
    rest = [(pad + line if line else line) for line in lines[1:]]
    return "\n".join([first, *rest])


def _block(node: dict, indent: int) -> str:
    kind = node.get("type")
    if kind == "doc":
        return _blocks(_children(node), indent)
    if kind in ("paragraph", "heading"):
        return _inline(_children(node))
    attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
    if kind == "codeBlock":
        return "".join(str(c.get("text", "")) for c in _children(node))
    if kind == "blockquote":
        return _indent(_blocks(_children(node), indent), "> ")
    if kind == "rule":
        return "---"
    if kind == "bulletList":
        return "\n".join(_list_item(i, "- ", indent) for i in _children(node))
    if kind == "orderedList":
        start = attrs.get("order", 1)
        start = start if isinstance(start, int) else 1
        return "\n".join(
            _list_item(item, f"{start + n}. ", indent) for n, item in enumerate(_children(node))
        )
    if kind == "taskList":
        return "\n".join(
            _list_item(i, "[x] " if (i.get("attrs") or {}).get("state") == "DONE" else "[ ] ", indent)
            for i in _children(node)
        )
    if kind in ("listItem", "taskItem", "decisionItem"):
        children = _children(node)
        if children and all(c.get("type") not in _BLOCK_TYPES for c in children):
            return _inline(children)
        return _blocks(children, indent)
    if kind == "table":
        rows = []
        for row in _children(node):
            cells = [
                _blocks(_children(cell), indent).replace("\n", " ").strip()
                for cell in _children(row)
            ]
            rows.append(" | ".join(cells))
        return "\n".join(rows)
    if kind == "expand" or kind == "nestedExpand":
        title = attrs.get("title")
        body = _blocks(_children(node), indent)
        return f"{title}\n{body}" if title else body
    if kind == "mediaSingle" or kind == "mediaGroup":
        return " ".join(_inline_node(c) for c in _children(node))
    if kind in ("panel", "layoutSection", "layoutColumn", "decisionList", "bodiedExtension"):
        return _blocks(_children(node), indent)
    if kind in _INLINE_TYPES or kind in ("blockCard", "embedCard"):
        return _inline_node(node)
    # Unknown block: try blocks, then inline text.
    children = _children(node)
    if children:
        if any(c.get("type") in _BLOCK_TYPES for c in children):
            return _blocks(children, indent)
        return _inline(children)
    return str(node.get("text", ""))


_BLOCK_TYPES = {
    "paragraph", "heading", "codeBlock", "blockquote", "rule", "bulletList", "orderedList",
    "taskList", "table", "expand", "nestedExpand", "mediaSingle", "mediaGroup", "panel",
    "layoutSection", "decisionList", "bodiedExtension",
}
_INLINE_TYPES = {
    "text", "hardBreak", "mention", "emoji", "inlineCard", "status", "date", "media", "mediaInline",
}

_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)*")


def text_to_adf(text: str | None) -> dict[str, Any] | None:
    """Plain text -> a valid ADF document.

    Blank lines separate paragraphs; single line breaks become ``hardBreak`` nodes.
    ``None`` stays ``None``; empty text gives a document with no content.
    """
    if text is None:
        return None
    text = str(text).replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    content: list[dict[str, Any]] = []
    if text.strip():
        for para in _BLANK_LINES.split(text):
            inline: list[dict[str, Any]] = []
            for n, line in enumerate(para.split("\n")):
                if n:
                    inline.append({"type": "hardBreak"})
                if line:
                    inline.append({"type": "text", "text": line})
            content.append({"type": "paragraph", "content": inline})
    return {"type": "doc", "version": 1, "content": content}
