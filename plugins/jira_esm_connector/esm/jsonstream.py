"""Read the ``data`` array of a large JSON document item by item.

``GET /dc/{template}/data/stream`` returns every card of a template in one JSON body
(``{"meta": {...}, "data": [ ... ]}``). For hundreds of thousands of cards we do not
want the whole body in memory, so this walks the top-level object with the standard
library's ``JSONDecoder.raw_decode`` and yields the elements of ``data`` as soon as each
one is complete. Other top-level keys are collected into ``meta`` (available after the
iteration). A top-level array is accepted too.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

_WS = re.compile(r"[ \t\n\r]*")


class JsonStreamError(ValueError):
    """The body is not the JSON document we expected (message says where)."""


class ArrayItemReader:
    def __init__(self, chunks: Iterable[str], array_key: str = "data") -> None:
        self._chunks = iter(chunks)
        self._key = array_key
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._decoder = json.JSONDecoder()
        self.other: dict[str, Any] = {}  # the top-level keys other than array_key

    # -- buffer handling
    def _fill(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._buf = self._buf[self._pos :] + chunk
                self._pos = 0
                return True
        self._eof = True
        return False

    def _peek(self) -> str | None:
        while True:
            self._pos = _WS.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return None

    def _expect(self, chars: str) -> str:
        c = self._peek()
        if c is None or c not in chars:
            raise JsonStreamError(f"expected one of {chars!r} in the streamed JSON, found {c!r}")
        self._pos += 1
        return c

    def _value(self) -> Any:
        while True:
            self._peek()
            try:
                obj, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._fill():
                    continue
                raise JsonStreamError(f"the streamed JSON ends in the middle of a value ({exc.msg})") from None
            # a number or literal that ends exactly at the buffer's end may be cut short
            if end == len(self._buf) and not self._eof and self._fill():
                continue
            self._pos = end
            return obj

    # -- structure
    def _items(self) -> Iterator[Any]:
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            yield self._value()
            if self._expect(",]") == "]":
                return

    def __iter__(self) -> Iterator[Any]:
        first = self._expect("{[")
        if first == "[":
            yield from self._items()
            return
        if self._peek() == "}":
            self._pos += 1
            return
        while True:
            key = self._value()
            if not isinstance(key, str):
                raise JsonStreamError("object key is not a string in the streamed JSON")
            self._expect(":")
            if key == self._key and self._peek() == "[":
                self._pos += 1
                yield from self._items()
            else:
                self.other[key] = self._value()
            if self._expect(",}") == "}":
                return


def iter_array_items(chunks: Iterable[str], array_key: str = "data") -> Iterator[Any]:
    """Yield the items of ``array_key`` (or of a top-level array) from text ``chunks``."""
    return iter(ArrayItemReader(chunks, array_key))
