"""The EQL subset of the simulator: parse a ``filter`` into a SQLAlchemy condition on cards.

Grammar (keywords case-insensitive)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | comparison
    comparison := $attr$ op literal | $attr$ "in" "(" literal ("," literal)* ")"
    op         := "=" | "<>" | "!=" | ">" | "<" | ">=" | "<="
    literal    := 'text' | number

Strings are single-quoted; a quote inside is written ``''`` or ``\\'`` and a backslash
``\\\\``. ``=``/``<>``/``in`` compare the stored text of a value (static values by their
value text, references by the referenced card's name -- as Efecte does, e.g.
``$support_group$ = 'IT Support'`` -- or by its data card id, datetimes as UTC
``YYYY-MM-DDTHH:MM:SSZ``). ``>``/``<``/``>=``/``<=`` work on date, datetime and number
attributes only; date literals may be ``2021-03-24``, ``2021-03-24 10:57``, ISO 8601 with
offset or ``24.03.2021 10:57`` (naive times are UTC), or relative like Efecte's
``'now - 2w'``, ``'start_week'`` (see ``relative_date``). ``<>`` also matches cards that
have no value for the attribute.
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from .templates import INDEXED_TYPES, Template, ValueProblem, parse_date, parse_datetime, parse_number


# above this many matching values a filter probes per card instead of listing ids
DENSE_MATCHES = 5000


class EqlError(ValueError):
    """Invalid filter; the message says where and why."""


@dataclass
class _Tok:
    kind: str  # attr, str, num, op, lpar, rpar, comma, kw, end
    text: str
    pos: int
    value: Any = None


_KEYWORDS = {"and", "or", "not", "in"}


def _tokenise(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "$":
            j = text.find("$", i + 1)
            if j < 0:
                raise EqlError(f"Invalid EQL filter at position {i}: attribute name not closed with '$'")
            name = text[i + 1 : j].strip()
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
                raise EqlError(f"Invalid EQL filter at position {i}: bad attribute name '{name}'")
            toks.append(_Tok("attr", name, i))
            i = j + 1
        elif c == "'":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise EqlError(f"Invalid EQL filter at position {i}: text value not closed with a quote")
                ch = text[j]
                if ch == "\\" and j + 1 < n:
                    buf.append(text[j + 1])
                    j += 2
                elif ch == "'" and j + 1 < n and text[j + 1] == "'":
                    buf.append("'")
                    j += 2
                elif ch == "'":
                    break
                else:
                    buf.append(ch)
                    j += 1
            toks.append(_Tok("str", text[i : j + 1], i, "".join(buf)))
            i = j + 1
        elif c in "()," :
            toks.append(_Tok({"(": "lpar", ")": "rpar", ",": "comma"}[c], c, i))
            i += 1
        elif text.startswith(("<>", "!=", ">=", "<="), i):
            toks.append(_Tok("op", text[i : i + 2], i))
            i += 2
        elif c in "=<>":
            toks.append(_Tok("op", c, i))
            i += 1
        else:
            m = re.match(r"-?\d+(\.\d+)?", text[i:])
            if m:
                toks.append(_Tok("num", m.group(0), i, m.group(0)))
                i += len(m.group(0))
                continue
            m = re.match(r"[A-Za-z_]+", text[i:])
            if m and m.group(0).lower() in _KEYWORDS:
                toks.append(_Tok("kw", m.group(0).lower(), i))
                i += len(m.group(0))
                continue
            word = m.group(0) if m else c
            raise EqlError(f"Invalid EQL filter at position {i}: unexpected '{word}'")
    toks.append(_Tok("end", "", n))
    return toks


@dataclass
class _Equals:
    """``$attr$ = 'x'`` or ``$attr$ in ('x', ...)``, kept apart from SQL until its OR is known:
    an OR of these on one attribute (what ``esm.eql.any_of`` sends) is planned as one ``in``.

    Same result by construction: a card matches ``$a$ = 'x' or $a$ = 'y'`` when it has a value
    of ``a`` equal to x or one equal to y, i.e. a value in (x, y) -- for references as well
    (by name or id). Planned as 50 ``id IN (...)`` tests joined by OR, SQLite walked every
    card (~1 s at 500,000 cards); as one ``in`` it is one index lookup per value."""

    attr: Any
    texts: list[str]


Node = "sa.ColumnElement[bool] | _Equals"


class _Parser:
    def __init__(self, text: str, template: Template, cards: sa.Table, values: sa.Table,
                 estimate: Callable[..., int] | None):
        self.estimate = estimate
        self.toks = _tokenise(text)
        self.i = 0
        self.template = template
        self.cards = cards
        self.values = values

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok: _Tok, expected: str) -> EqlError:
        found = tok.text or "end of filter"
        return EqlError(f"Invalid EQL filter at position {tok.pos}: expected {expected}, found '{found}'")

    def parse(self) -> sa.ColumnElement[bool]:
        if self.peek().kind == "end":
            raise EqlError("Invalid EQL filter: the filter is empty")
        cond = self.expr()
        if self.peek().kind != "end":
            raise self.fail(self.peek(), "'and', 'or' or the end of the filter")
        return self.sql(cond)

    def sql(self, node: Node) -> sa.ColumnElement[bool]:
        if isinstance(node, _Equals):
            return self.match(node.attr.code, self.equals(node.attr, node.texts))
        return node

    def expr(self) -> Node:
        parts = [self.and_expr()]
        while self.peek().kind == "kw" and self.peek().text == "or":
            self.take()
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        # equalities on one attribute anywhere in this OR become one `in` (first place kept);
        # anything else (<>, ranges, and/not groups, other attributes) stays as written
        merged: list[Node] = []
        by_attr: dict[str, _Equals] = {}
        for part in parts:
            if isinstance(part, _Equals):
                seen = by_attr.get(part.attr.code)
                if seen is not None:
                    seen.texts.extend(t for t in part.texts if t not in seen.texts)
                    continue
                part = by_attr[part.attr.code] = _Equals(part.attr, list(dict.fromkeys(part.texts)))
            merged.append(part)
        if len(merged) == 1:
            return merged[0]
        return sa.or_(*(self.sql(p) for p in merged))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.peek().kind == "kw" and self.peek().text == "and":
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else sa.and_(*(self.sql(p) for p in parts))

    def not_expr(self) -> Node:
        tok = self.peek()
        if tok.kind == "kw" and tok.text == "not":
            self.take()
            return sa.not_(self.sql(self.not_expr()))
        if tok.kind == "lpar":
            self.take()
            inner = self.expr()
            if self.peek().kind != "rpar":
                raise self.fail(self.peek(), "')'")
            self.take()
            return inner
        return self.comparison()

    def literal(self) -> _Tok:
        tok = self.take()
        if tok.kind not in ("str", "num"):
            raise self.fail(tok, "a quoted value")
        return tok

    def comparison(self) -> Node:
        tok = self.take()
        if tok.kind != "attr":
            raise self.fail(tok, "an attribute like $status$, 'not' or '('")
        attr = self.template.attributes.get(tok.text)
        if attr is None:
            raise EqlError(
                f"Invalid EQL filter at position {tok.pos}: template '{self.template.code}' "
                f"has no attribute '{tok.text}'"
            )
        if attr.type not in INDEXED_TYPES:
            raise EqlError(
                f"Invalid EQL filter at position {tok.pos}: attribute '{attr.code}' of type "
                f"{attr.type} cannot be filtered"
            )
        op = self.take()
        if op.kind == "kw" and op.text == "in":
            if self.take().kind != "lpar":
                raise self.fail(self.toks[self.i - 1], "'(' after 'in'")
            items = [self.literal()]
            while self.peek().kind == "comma":
                self.take()
                items.append(self.literal())
            if self.take().kind != "rpar":
                raise self.fail(self.toks[self.i - 1], "')' closing the 'in' list")
            return _Equals(attr, [self.canon(attr, t) for t in items])
        if op.kind != "op":
            raise self.fail(op, "an operator (=, <>, >, <, >=, <=, in)")
        lit = self.literal()
        text = self.canon(attr, lit)
        v = self.values.c.value
        if op.text == "=":
            return _Equals(attr, [text])
        if op.text in ("<>", "!="):
            return self.match(attr.code, self.equals(attr, [text]), negate=True)
        if attr.type in ("date", "datetime"):
            cond = {">": v > text, "<": v < text, ">=": v >= text, "<=": v <= text}[op.text]
        elif attr.type == "number":
            num = sa.cast(v, sa.Float)
            value = float(text)
            cond = {">": num > value, "<": num < value, ">=": num >= value, "<=": num <= value}[op.text]
        else:
            raise EqlError(
                f"Invalid EQL filter at position {op.pos}: '{op.text}' works on date and number "
                f"attributes only, '{attr.code}' is {attr.type}"
            )
        return self.match(attr.code, cond)

    def equals(self, attr: Any, texts: list[str]) -> sa.ColumnElement[bool]:
        """Stored value equals one of ``texts``; a reference value names the referenced card
        by its name (as Efecte's EQL does) or by its data card id."""
        v = self.values.c.value
        if attr.type != "reference":
            return v == texts[0] if len(texts) == 1 else v.in_(texts)
        c = self.cards
        named = sa.select(sa.cast(c.c.id, sa.Text)).where(c.c.name.in_(texts))
        if attr.target:
            named = named.where(c.c.template.in_(attr.target))
        return sa.or_(v.in_(texts), v.in_(named))

    def canon(self, attr, lit: _Tok) -> str:
        try:
            if attr.type in ("date", "datetime"):
                relative = relative_date(str(lit.value))
                if relative is not None:
                    value = relative.strftime("%Y-%m-%dT%H:%M:%SZ")
                    return value if attr.type == "datetime" else value[:10]
            if attr.type == "datetime":
                return parse_datetime(lit.value, attr.code)
            if attr.type == "date":
                return parse_date(lit.value, attr.code)
            if attr.type == "number":
                return str(parse_number(lit.value, attr.code))
        except ValueProblem as exc:
            raise EqlError(f"Invalid EQL filter at position {lit.pos}: {exc}") from None
        return str(lit.value)

    def match(self, attr_code: str, cond: sa.ColumnElement[bool], negate: bool = False) -> sa.ColumnElement[bool]:
        """Cards having a value of ``attr_code`` that satisfies ``cond``.

        Few matching values: ``id IN (ids from the value index)`` (a key lookup is a few
        index probes). Many: a correlated ``EXISTS`` probe per card, so a page of a large
        result walks the card index instead of materialising every matching id per page."""
        vt = self.values
        where = (vt.c.template == self.template.code, vt.c.attr == attr_code, cond)
        dense = self.estimate is not None and self.estimate(*where) > DENSE_MATCHES
        if dense:  # probe through the (card_id, attr, value) index
            found = sa.exists(sa.select(sa.literal(1)).where(vt.c.card_id == self.cards.c.id, vt.c.attr == attr_code, cond))
        else:
            found = self.cards.c.id.in_(sa.select(vt.c.card_id).where(*where))
        return sa.not_(found) if negate else found


_UNITS = {"s": "seconds", "sec": "seconds", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def relative_date(text: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """Efecte's relative date values: ``now``, ``now - 2w``, ``now + 3d`` (units s, min, h,
    d, w, M = months, y), ``today``, ``start_day``, ``start_week`` (Monday), ``start_month``,
    ``start_year``; all in UTC. None when ``text`` is not one of them."""
    now = now or dt.datetime.now(dt.timezone.utc)
    t = text.strip()
    low = t.lower()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = {
        "today": today, "start_day": today, "start_week": today - dt.timedelta(days=today.weekday()),
        "start_month": today.replace(day=1), "start_year": today.replace(month=1, day=1),
    }
    if low in starts:
        return starts[low]
    m = re.fullmatch(r"(?i:now)(?:\s*([+-])\s*(\d+)\s*(s|sec|min|h|d|w|M|y))?", t)
    if not m:
        return None
    if not m.group(1):
        return now.replace(microsecond=0)
    sign = 1 if m.group(1) == "+" else -1
    n, unit = int(m.group(2)), m.group(3)
    if unit in ("M", "y"):
        months = n * (12 if unit == "y" else 1) * sign
        total = now.year * 12 + now.month - 1 + months
        year, month = divmod(total, 12)
        day = min(now.day, calendar.monthrange(year, month + 1)[1])
        return now.replace(year=year, month=month + 1, day=day, microsecond=0)
    return (now + sign * dt.timedelta(**{_UNITS[unit]: n})).replace(microsecond=0)


def compile_filter(text: str, template: Template, cards: sa.Table, values: sa.Table,
                   estimate: Callable[..., int] | None = None) -> sa.ColumnElement[bool]:
    """EQL text -> condition on ``cards`` (raises EqlError). ``estimate(*conditions)`` counts
    matching value rows (capped) to pick the query shape; without it IN is always used."""
    return _Parser(text, template, cards, values, estimate).parse()
