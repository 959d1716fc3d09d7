from __future__ import annotations

import pytest

from jira_esm_connector.mapping import adf_to_text, text_to_adf


def p(*inline):
    return {"type": "paragraph", "content": list(inline)}


def t(text, **marks):
    node = {"type": "text", "text": text}
    if "href" in marks:
        node["marks"] = [{"type": "link", "attrs": {"href": marks["href"]}}]
    return node


def doc(*blocks):
    return {"type": "doc", "version": 1, "content": list(blocks)}


def test_rich_document_to_text():
    adf = doc(
        {"type": "heading", "attrs": {"level": 2}, "content": [t("Summary")]},
        p(t("Hello "), {"type": "mention", "attrs": {"id": "5b10", "text": "@Ann Admin"}}, t(", see "),
          t("docs", href="https://example.com/docs"), t("."), {"type": "hardBreak"}, t("Second line")),
        {"type": "bulletList", "content": [
            {"type": "listItem", "content": [p(t("one"))]},
            {"type": "listItem", "content": [p(t("two")), {"type": "bulletList", "content": [
                {"type": "listItem", "content": [p(t("nested"))]}]}]},
        ]},
        {"type": "orderedList", "attrs": {"order": 3}, "content": [
            {"type": "listItem", "content": [p(t("third"))]},
            {"type": "listItem", "content": [p(t("fourth"))]},
        ]},
        {"type": "codeBlock", "attrs": {"language": "python"}, "content": [t("print('x')\nprint('y')")]},
        {"type": "table", "content": [
            {"type": "tableRow", "content": [
                {"type": "tableHeader", "content": [p(t("Host"))]},
                {"type": "tableHeader", "content": [p(t("State"))]}]},
            {"type": "tableRow", "content": [
                {"type": "tableCell", "content": [p(t("srv1"))]},
                {"type": "tableCell", "content": [p(t("down"))]}]},
        ]},
        {"type": "blockquote", "content": [p(t("quoted"))]},
        {"type": "rule"},
        p(t("https://x.test", href="https://x.test"), t(" "), {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
          t(" "), {"type": "inlineCard", "attrs": {"url": "https://jira/browse/SUP-2"}},
          t(" "), {"type": "status", "attrs": {"text": "DONE"}}, t(" "), {"type": "date", "attrs": {"timestamp": "1714521600000"}}),
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [p(t("note"))]},
        {"type": "someFutureNode", "content": [p(t("future"))]},
    )
    assert adf_to_text(adf) == (
        "Summary\n\n"
        "Hello @Ann Admin, see docs (https://example.com/docs).\nSecond line\n\n"
        "- one\n- two\n  - nested\n\n"
        "3. third\n4. fourth\n\n"
        "print('x')\nprint('y')\n\n"
        "Host | State\nsrv1 | down\n\n"
        "> quoted\n\n"
        "---\n\n"
        "https://x.test 😄 https://jira/browse/SUP-2 DONE 2024-05-01\n\n"
        "note\n\n"
        "future"
    )


def test_none_string_and_empty():
    assert adf_to_text(None) is None
    assert adf_to_text("already text") == "already text"
    assert adf_to_text(doc()) == ""
    assert adf_to_text(doc(p())) == ""
    assert text_to_adf(None) is None
    assert text_to_adf("") == {"type": "doc", "version": 1, "content": []}


def test_text_to_adf_shape():
    assert text_to_adf("a\nb\n\nc") == doc(
        p(t("a"), {"type": "hardBreak"}, t("b")),
        p(t("c")),
    )
    # Windows line ends, several blank lines, whitespace-only lines
    assert text_to_adf("a\r\n\r\n \n\r\nb") == doc(p(t("a")), p(t("b")))
    # empty line inside a paragraph never produces an empty text node
    for block in text_to_adf("x\n\ny\nz")["content"]:
        assert all(n.get("text", "x") != "" for n in block["content"])


@pytest.mark.parametrize("text", [
    "single line",
    "line one\nline two",
    "para one\n\npara two\nwith break\n\npara three",
    "Ünïcödé 日本語 ☃ \"quotes\" <tags> & {{ braces }}",
    "  indented line\ntrailing spaces  ",
    "x" * 10000,
])
def test_round_trip(text):
    assert adf_to_text(text_to_adf(text)) == text


def test_round_trip_adf_to_text_to_adf_for_simple_docs():
    original = doc(p(t("a"), {"type": "hardBreak"}, t("b")), p(t("c")))
    assert text_to_adf(adf_to_text(original)) == original


def test_media_renders_the_address_of_an_external_image_and_the_name_of_an_attachment():
    def single(**attrs):
        return doc({"type": "mediaSingle", "content": [{"type": "media", "attrs": attrs}]})

    assert adf_to_text(single(type="external", url="https://example.com/a.png")) == "[image: https://example.com/a.png]"
    assert adf_to_text(single(type="external", url="https://example.com/b.png", alt="plan")) == (
        "[image: plan (https://example.com/b.png)]")
    # another address is another text: the card is written again when the image changes
    assert adf_to_text(single(type="external", url="https://example.com/a.png")) != adf_to_text(
        single(type="external", url="https://example.com/c.png"))
    assert adf_to_text(single(type="file", id="6e7c7f2c", collection="x", alt="report.pdf")) == "[attachment: report.pdf]"
