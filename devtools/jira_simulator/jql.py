"""A JQL subset: tokenizer, parser and compiler to a parameterised SQLite WHERE / ORDER BY.

Supported (what connector tasks and common clients use):

- fields: project, key/issuekey/issue, id, issuetype/type, status, statusCategory, resolution,
  priority, assignee, reporter, creator, labels, summary, description, environment, comment,
  text, created/createdDate, updated/updatedDate, resolved/resolutiondate, and the custom
  fields by id, ``cf[nnnnn]`` or name (text ``~``, number/date comparisons, select ``=``/``IN``);
- operators: ``= != IN (..) NOT IN (..) ~ !~ > >= < <= IS [NOT] EMPTY|NULL``;
- ``AND OR NOT`` (also ``&& || !``), parentheses, ``ORDER BY f [ASC|DESC], ...`` (max 7);
- values: quoted ("..." or '...', with backslash escapes) or unquoted words and numbers;
  dates ``"yyyy/MM/dd HH:mm"``, ``"yyyy-MM-dd HH:mm"``, ``yyyy/MM/dd``, ``yyyy-MM-dd`` in the
  caller's time zone, unquoted epoch milliseconds, relative periods (``-5d``, ``"-2w 3d"``);
- functions: ``currentUser()``, ``membersOf("group")``, ``now()``, ``startOfDay([±n unit])``,
  ``endOfDay([±n unit])``.

Errors raise :class:`JqlError` whose message is what Jira puts in ``errorMessages``.
User values never reach the SQL text: every value is a ``?`` parameter.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence
from zoneinfo import ZoneInfo

__all__ = [
    "JqlError",
    "Query",
    "parse",
    "Catalog",
    "CompiledQuery",
    "compile_query",
]


class JqlError(ValueError):
    """Invalid JQL; ``str(err)`` is Jira's error message."""


# --- tokens ---------------------------------------------------------------------------------

_OPS = ("!=", "!~", ">=", "<=", "&&", "||", "=", "~", ">", "<", "(", ")", ",", "!", "&", "|")
_WORD_STOP = set(" \t\r\n=!~<>(),\"'&|")
_KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}


@dataclass(frozen=True)
class Token:
    kind: str  # "op", "str" (quoted), "word" (unquoted), "eof"
    text: str
    pos: int  # 1-based character position

    def kw(self) -> str | None:
        return self.text.lower() if self.kind == "word" and self.text.lower() in _KEYWORDS else None


_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r", " ": " "}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "\"'":
            quote, start, i = c, i, i + 1
            buf: list[str] = []
            while True:
                if i >= n:
                    raise JqlError(
                        f"Error in the JQL Query: The quoted string '{text[start + 1:]}' has not "
                        f"been completed. (line 1, character {start + 1})"
                    )
                ch = text[i]
                if ch == "\\":
                    if i + 1 >= n:
                        raise JqlError(
                            "Error in the JQL Query: The escape sequence '\\' is not valid. "
                            f"(line 1, character {i + 1})"
                        )
                    nxt = text[i + 1]
                    if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6] or ""):
                        buf.append(chr(int(text[i + 2 : i + 6], 16)))
                        i += 6
                        continue
                    if nxt not in _ESCAPES:
                        raise JqlError(
                            f"Error in the JQL Query: The escape sequence '\\{nxt}' in the quoted "
                            f"string is not valid. (line 1, character {i + 1})"
                        )
                    buf.append(_ESCAPES[nxt])
                    i += 2
                    continue
                if ch == quote:
                    i += 1
                    break
                buf.append(ch)
                i += 1
            tokens.append(Token("str", "".join(buf), start + 1))
            continue
        matched = next((op for op in _OPS if text.startswith(op, i)), None)
        if matched:
            tokens.append(Token("op", matched, i + 1))
            i += len(matched)
            continue
        start = i
        while i < n and text[i] not in _WORD_STOP:
            if text[i] == "\\" and i + 1 < n:
                i += 2
                continue
            i += 1
        word = text[start:i].replace("\\", "")
        tokens.append(Token("word", word, start + 1))
    tokens.append(Token("eof", "", n + 1))
    return tokens


# --- AST ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    kind: str  # "str" | "word" | "empty" | "func" | "list"
    text: str = ""
    args: tuple[Any, ...] = ()  # function args (str) or list items (Value)
    pos: int = 0


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # "=", "!=", "~", "!~", ">", ">=", "<", "<=", "in", "not in", "is", "is not"
    value: Value
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass
class Query:
    where: Any | None
    order_by: list[tuple[str, str]] = field(default_factory=list)  # (field, "asc"|"desc")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def error(self, message: str, tok: Token | None = None) -> JqlError:
        tok = tok or self.tok
        return JqlError(f"Error in the JQL Query: {message} (line 1, character {tok.pos})")

    def parse(self) -> Query:
        where = None
        if not (self.tok.kw() == "order" or self.tok.kind == "eof"):
            where = self.parse_or()
        order: list[tuple[str, str]] = []
        if self.tok.kw() == "order":
            self.advance()
            if self.tok.kw() != "by":
                raise self.error("Expecting 'by' but got '%s'." % (self.tok.text or "EOF"))
            self.advance()
            while True:
                t = self.tok
                if t.kind not in ("word", "str") or t.kw() in ("and", "or", "order"):
                    raise self.error(
                        "Expecting a field name at position but got '%s'." % (t.text or "EOF")
                    )
                self.advance()
                direction = "asc"
                if self.tok.kw() in ("asc", "desc"):
                    direction = self.advance().text.lower()
                order.append((t.text, direction))
                if self.tok.kind == "op" and self.tok.text == ",":
                    self.advance()
                    continue
                break
        if self.tok.kind != "eof":
            raise self.error(
                "Expecting operator but got '%s'. Valid operators are 'AND', 'OR' and 'ORDER BY'."
                % self.tok.text
                if where is not None
                else "Expecting a field name but got '%s'." % self.tok.text
            )
        return Query(where, order)

    def parse_or(self) -> Any:
        items = [self.parse_and()]
        while self.tok.kw() == "or" or (self.tok.kind == "op" and self.tok.text in ("||", "|")):
            self.advance()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def parse_and(self) -> Any:
        items = [self.parse_not()]
        while self.tok.kw() == "and" or (self.tok.kind == "op" and self.tok.text in ("&&", "&")):
            self.advance()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def parse_not(self) -> Any:
        t = self.tok
        if t.kw() == "not" or (t.kind == "op" and t.text == "!"):
            self.advance()
            return Not(self.parse_not())
        if t.kind == "op" and t.text == "(":
            self.advance()
            inner = self.parse_or()
            if not (self.tok.kind == "op" and self.tok.text == ")"):
                raise self.error("Expecting ')' but got '%s'." % (self.tok.text or "EOF"))
            self.advance()
            return inner
        return self.parse_clause()

    def parse_clause(self) -> Clause:
        t = self.tok
        if t.kind == "eof":
            raise self.error("Expecting a field name but got the end of the query.")
        if t.kind not in ("word", "str") or (t.kind == "word" and t.kw() is not None):
            raise self.error("Expecting a field name but got '%s'." % t.text)
        self.advance()
        field_name = t.text
        op_tok = self.tok
        op: str
        if op_tok.kind == "op" and op_tok.text in ("=", "!=", "~", "!~", ">", ">=", "<", "<="):
            op = self.advance().text
        elif op_tok.kw() == "in":
            self.advance()
            op = "in"
        elif op_tok.kw() == "not":
            self.advance()
            if self.tok.kw() != "in":
                raise self.error("Expecting 'IN' but got '%s'." % (self.tok.text or "EOF"))
            self.advance()
            op = "not in"
        elif op_tok.kw() == "is":
            self.advance()
            op = "is"
            if self.tok.kw() == "not":
                self.advance()
                op = "is not"
        else:
            raise self.error(
                "Expecting operator but got '%s'. Valid operators are: "
                "'=', '!=', '~', '!~', '<', '<=', '>', '>=', 'IN', 'NOT IN', 'IS' and 'IS NOT'."
                % (op_tok.text or "EOF"),
                op_tok,
            )
        value = self.parse_operand(op)
        return Clause(field_name, op, value, t.pos)

    def parse_operand(self, op: str) -> Value:
        t = self.tok
        if op in ("in", "not in"):
            if not (t.kind == "op" and t.text == "("):
                if t.kind == "word" and self.tokens[self.i + 1].text == "(":
                    return self.parse_value()  # a function returning a list, e.g. membersOf()
                raise self.error("Expecting '(' but got '%s'." % (t.text or "EOF"))
            self.advance()
            items = [self.parse_value()]
            while self.tok.kind == "op" and self.tok.text == ",":
                self.advance()
                items.append(self.parse_value())
            if not (self.tok.kind == "op" and self.tok.text == ")"):
                raise self.error("Expecting ')' but got '%s'." % (self.tok.text or "EOF"))
            self.advance()
            return Value("list", args=tuple(items), pos=t.pos)
        return self.parse_value()

    def parse_value(self) -> Value:
        t = self.tok
        if t.kind == "str":
            self.advance()
            return Value("str", t.text, pos=t.pos)
        if t.kind == "word":
            kw = t.kw()
            if kw in ("empty", "null"):
                self.advance()
                return Value("empty", t.text, pos=t.pos)
            if kw is not None:
                raise self.error(
                    f"'{t.text}' is a reserved JQL word. You must surround it in quotation marks "
                    "to use it in a query."
                )
            self.advance()
            if self.tok.kind == "op" and self.tok.text == "(":
                self.advance()
                args: list[str] = []
                while not (self.tok.kind == "op" and self.tok.text == ")"):
                    a = self.tok
                    if a.kind not in ("str", "word"):
                        raise self.error("Expecting ')' but got '%s'." % (a.text or "EOF"))
                    args.append(a.text)
                    self.advance()
                    if self.tok.kind == "op" and self.tok.text == ",":
                        self.advance()
                self.advance()
                return Value("func", t.text, tuple(args), pos=t.pos)
            return Value("word", t.text, pos=t.pos)
        raise self.error(
            "Expecting either a value, list or function but got '%s'." % (t.text or "EOF")
        )


def parse(text: str) -> Query:
    """Parse JQL text into a :class:`Query` (raises :class:`JqlError`)."""
    return _Parser(text or "").parse()


# --- compilation ----------------------------------------------------------------------------


class Catalog(Protocol):
    """What the compiler needs to know about the data (names -> stored values)."""

    def resolve_project(self, value: str) -> str | None: ...
    def resolve_status(self, value: str) -> str | None: ...
    def resolve_status_category(self, value: str) -> str | None: ...
    def resolve_issuetype(self, value: str) -> str | None: ...
    def resolve_resolution(self, value: str) -> str | None: ...
    def resolve_priority(self, value: str) -> str | None: ...
    def resolve_users(self, value: str) -> list[str]: ...
    def group_members(self, group_name: str) -> list[str] | None: ...
    def resolve_option(self, field_id: str, value: str) -> str | None: ...
    def former_key_issue(self, project_key: str, num: int) -> int | None: ...
    def key_issue(self, project_key: str, num: int) -> int | None: ...


@dataclass
class CompiledQuery:
    where_sql: str  # "" when unbounded
    params: list[Any]
    order: list[tuple[str, str, Any]]  # (sql expression, "asc"|"desc", empty default)
    # column -> the only values it can hold in a match: ``=``/``in`` clauses on enum fields
    # joined by top-level ANDs (``project in (A, B) AND ...``); Store.search seeks with them
    pinned: dict[str, list[Any]] = field(default_factory=dict)


_ENUM_FIELDS = {
    "project": ("project_key", "resolve_project", False),
    "issuetype": ("issuetype", "resolve_issuetype", False),
    "status": ("status", "resolve_status", False),
    "statuscategory": ("status_category", "resolve_status_category", False),
    "resolution": ("resolution", "resolve_resolution", True),
    "priority": ("priority", "resolve_priority", True),
}
_USER_FIELDS = {"assignee": "assignee", "reporter": "reporter", "creator": "reporter"}
_TEXT_FIELDS = {
    "summary": ["summary"],
    "description": ["description_text"],
    "environment": ["environment"],
    "comment": ["__comment__"],
    "text": ["summary", "description_text", "environment", "__comment__"],
}
_DATE_FIELDS = {
    "created": "created",
    "createddate": "created",
    "updated": "updated",
    "updateddate": "updated",
    "resolved": "resolved",
    "resolutiondate": "resolved",
}
_ALIASES = {"type": "issuetype", "issuekey": "key", "issue": "key", "label": "labels", "cat": "statuscategory"}

_ORDER_EXPR: dict[str, list[tuple[str, Any]]] = {
    "key": [("project_key", ""), ("num", 0)],
    "issuekey": [("project_key", ""), ("num", 0)],
    "id": [("id", 0)],
    "created": [("created", 0)],
    "updated": [("updated", 0)],
    "resolved": [("COALESCE(resolved, 0)", 0)],
    "resolutiondate": [("COALESCE(resolved, 0)", 0)],
    "summary": [("summary", "")],
    "status": [("status", "")],
    "priority": [("COALESCE(priority, '')", "")],
    "project": [("project_key", "")],
    "issuetype": [("issuetype", "")],
    "type": [("issuetype", "")],
    "assignee": [("COALESCE(assignee, '')", "")],
    "reporter": [("COALESCE(reporter, '')", "")],
    "resolution": [("COALESCE(resolution, '')", "")],
}

_DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
_PERIOD = re.compile(r"^\s*([-+]?)\s*((?:\d+\s*[wdhm]\s*)+)$", re.IGNORECASE)
_PERIOD_PART = re.compile(r"(\d+)\s*([wdhm])", re.IGNORECASE)
_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-(\d+)$")


def _custom_field(name: str) -> tuple[str, str] | None:
    """(field id, kind) of a custom field named by id, cf[nnnnn] or its (case-insensitive) name."""
    from .model import CUSTOM_FIELDS  # local import: jql.py stays usable on its own

    low = name.strip().lower()
    m = re.fullmatch(r"cf\[(\d+)\]", low)
    if m:
        low = f"customfield_{m.group(1)}"
    for field_id, (fname, _schema, kind) in CUSTOM_FIELDS.items():
        if low in (field_id, fname.lower()):
            return field_id, kind
    return None


def _period_ms(text: str) -> int | None:
    m = _PERIOD.match(text)
    if not m:
        return None
    unit_ms = {"w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000}
    total = sum(int(n) * unit_ms[u.lower()] for n, u in _PERIOD_PART.findall(m.group(2)))
    return -total if m.group(1) == "-" else total


class _Compiler:
    def __init__(self, catalog: Catalog, account_id: str | None, tz: str, now_ms: int) -> None:
        self.catalog = catalog
        self.account_id = account_id
        self.tz = ZoneInfo(tz)
        self.now_ms = now_ms
        self.params: list[Any] = []
        self.enum_values: dict[Clause, tuple[str, list[str]]] = {}  # = / in clause -> column, values

    # values ----------------------------------------------------------------
    def _values(self, v: Value) -> list[Value]:
        return list(v.args) if v.kind == "list" else [v]

    def _date_ms(self, fname: str, v: Value) -> int:
        if v.kind == "func":
            return self._date_func(v)
        text = v.text.strip()
        if v.kind == "word" and re.fullmatch(r"-?\d+", text):
            return int(text)
        period = _period_ms(text)
        if period is not None:
            return self.now_ms + period
        for fmt in _DATE_FORMATS:
            try:
                local = _dt.datetime.strptime(text, fmt)
            except ValueError:
                continue
            return int(local.replace(tzinfo=self.tz).timestamp() * 1000)
        raise JqlError(
            f"Date value '{v.text}' for field '{fname}' is invalid. Valid formats include: "
            "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
            "or a period format e.g. '-5d', '4w 2d'."
        )

    def _date_func(self, v: Value) -> int:
        name = v.text.lower()
        now = _dt.datetime.fromtimestamp(self.now_ms / 1000, self.tz)
        if name == "now":
            return self.now_ms
        if name in ("startofday", "endofday"):
            start = now.replace(hour=0, minute=0, second=0, microsecond=0)
            if v.args:
                off = _period_ms(v.args[0])
                if off is None:
                    raise JqlError(
                        f"The argument '{v.args[0]}' for the function '{v.text}' is invalid."
                    )
                start = start + _dt.timedelta(milliseconds=off)
            ms = int(start.timestamp() * 1000)
            return ms if name == "startofday" else ms + 86_400_000 - 1
        raise JqlError(f"Unable to find JQL function '{v.text}()'.")

    def _users(self, fname: str, v: Value) -> list[str]:
        if v.kind == "func":
            name = v.text.lower()
            if name == "currentuser":
                return [self.account_id] if self.account_id else []
            if name == "membersof":
                if not v.args:
                    raise JqlError("Function 'membersOf' expected '1' arguments but received '0'.")
                members = self.catalog.group_members(v.args[0])
                if members is None:
                    raise JqlError(
                        f"The value '{v.args[0]}' does not exist for the field 'membersOf'."
                    )
                return members
            raise JqlError(f"Unable to find JQL function '{v.text}()'.")
        found = self.catalog.resolve_users(v.text)
        if not found:
            raise JqlError(f"The value '{v.text}' does not exist for the field '{fname}'.")
        return found

    # clauses ---------------------------------------------------------------
    def compile(self, node: Any) -> str:
        if isinstance(node, BoolOp):
            joiner = " AND " if node.op == "and" else " OR "
            return "(" + joiner.join(self.compile(i) for i in node.items) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.compile(node.item)})"
        return self.clause(node)

    def _p(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def _in(self, values: Sequence[Any]) -> str:
        return "(" + ", ".join(self._p(x) for x in values) + ")" if values else "(NULL)"

    def _unsupported(self, c: Clause, fname: str) -> JqlError:
        return JqlError(f"The operator '{c.op.upper()}' is not supported by the '{fname}' field.")

    def clause(self, c: Clause) -> str:
        fname = c.field
        lname = _ALIASES.get(fname.lower(), fname.lower())
        if lname in _ENUM_FIELDS:
            return self.enum_clause(c, fname, lname)
        if lname in _USER_FIELDS:
            return self.user_clause(c, fname, _USER_FIELDS[lname])
        if lname in _DATE_FIELDS:
            return self.date_clause(c, fname, _DATE_FIELDS[lname])
        if lname in _TEXT_FIELDS:
            return self.text_clause(c, fname, _TEXT_FIELDS[lname])
        if lname == "labels":
            return self.labels_clause(c, fname)
        if lname in ("key", "id"):
            return self.key_clause(c, fname)
        custom = _custom_field(fname)
        if custom is not None:
            return self.custom_clause(c, fname, *custom)
        raise JqlError(f"Field '{fname}' does not exist or you do not have permission to view it.")

    def _empty_check(self, c: Clause, fname: str, col: str, nullable: bool) -> str | None:
        """Handle IS [NOT] EMPTY and = / != EMPTY; return SQL or None if not an emptiness test."""
        if c.op in ("is", "is not"):
            if c.value.kind != "empty":
                raise JqlError(
                    "Error in the JQL Query: Expecting 'EMPTY' or 'NULL' after 'IS' / 'IS NOT' "
                    f"but got '{c.value.text}'. (line 1, character {c.value.pos})"
                )
            positive = c.op == "is"
        elif c.value.kind == "empty" and c.op in ("=", "!="):
            positive = c.op == "="
        else:
            return None
        if not nullable:
            return "(0)" if positive else "(1)"
        return f"({col} IS NULL)" if positive else f"({col} IS NOT NULL)"

    def enum_clause(self, c: Clause, fname: str, lname: str) -> str:
        col, resolver, nullable = _ENUM_FIELDS[lname]
        empty = self._empty_check(c, fname, col, nullable)
        if empty is not None:
            return empty
        if c.op not in ("=", "!=", "in", "not in"):
            raise self._unsupported(c, fname)
        resolved: list[str | None] = []
        for v in self._values(c.value):
            if v.kind == "empty":
                resolved.append(None)
                continue
            if v.kind == "func":
                raise JqlError(f"Unable to find JQL function '{v.text}()'.")
            if lname == "resolution" and v.text.lower() == "unresolved":
                resolved.append(None)
                continue
            found = getattr(self.catalog, resolver)(v.text)
            if found is None:
                raise JqlError(f"The value '{v.text}' does not exist for the field '{fname}'.")
            resolved.append(found)
        names = [r for r in resolved if r is not None]
        has_empty = any(r is None for r in resolved)
        if c.op in ("=", "in"):
            if names and not has_empty:
                self.enum_values[c] = (col, names)
            parts = [f"{col} IN {self._in(names)}"] if names else []
            if has_empty:
                parts.append(f"{col} IS NULL")
            return "(" + " OR ".join(parts) + ")" if parts else "(0)"
        # != / NOT IN: Jira never matches an empty field with a negative operator
        parts = [f"{col} NOT IN {self._in(names)}"] if names else []
        if nullable:
            parts.append(f"{col} IS NOT NULL")
        return "(" + " AND ".join(parts) + ")" if parts else "(1)"

    def user_clause(self, c: Clause, fname: str, col: str) -> str:
        empty = self._empty_check(c, fname, col, True)
        if empty is not None:
            return empty
        if c.op not in ("=", "!=", "in", "not in"):
            raise self._unsupported(c, fname)
        ids: list[str] = []
        has_empty = False
        for v in self._values(c.value):
            if v.kind == "empty":
                has_empty = True
                continue
            ids.extend(self._users(fname, v))
        if c.op in ("=", "in"):
            parts = [f"{col} IN {self._in(ids)}"] if ids else []
            if has_empty:
                parts.append(f"{col} IS NULL")
            return "(" + " OR ".join(parts) + ")" if parts else "(0)"
        parts = [f"{col} NOT IN {self._in(ids)}"] if ids else []
        parts.append(f"{col} IS NOT NULL")
        return "(" + " AND ".join(parts) + ")"

    def date_clause(self, c: Clause, fname: str, col: str) -> str:
        empty = self._empty_check(c, fname, col, col == "resolved")
        if empty is not None:
            return empty
        if c.op in ("~", "!~"):
            raise self._unsupported(c, fname)
        if c.op in ("in", "not in"):
            values = [self._date_ms(fname, v) for v in self._values(c.value)]
            neg = "NOT " if c.op == "not in" else ""
            return f"({col} IS NOT NULL AND {col} {neg}IN {self._in(values)})"
        ms = self._date_ms(fname, c.value)
        sql_op = {"=": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}[c.op]
        return f"({col} {sql_op} {self._p(ms)})"

    def _like_terms(self, v: Value) -> list[str]:
        text = v.text.strip()
        if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
            return [text[1:-1]]  # exact phrase
        terms = [t.rstrip("*?") for t in re.split(r"\s+", text) if t.strip("*?")]
        return [t for t in terms if t.lower() not in ("and", "or", "not")]

    def text_clause(self, c: Clause, fname: str, cols: list[str]) -> str:
        nullable_cols = [x for x in cols if x in ("description_text", "environment")]
        if c.op in ("is", "is not") or (c.value.kind == "empty" and c.op in ("=", "!=")):
            if fname.lower() not in ("description", "environment"):
                raise self._unsupported(c, fname)
            return self._empty_check(c, fname, nullable_cols[0], True) or "(1)"
        if c.op not in ("~", "!~"):
            raise self._unsupported(c, fname)
        if c.value.kind not in ("str", "word"):
            raise JqlError(
                f"The operator '{c.op}' is not supported by the '{fname}' field with this value."
            )
        terms = self._like_terms(c.value)
        if not terms:
            raise JqlError(
                f"The field '{fname}' does not support searching for an empty string."
            )
        term_sqls = []
        for term in terms:
            pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            per_col = []
            for col in cols:
                if col == "__comment__":
                    per_col.append(
                        "EXISTS (SELECT 1 FROM comments cm WHERE cm.issue_id = issues.id "
                        f"AND cm.body_text LIKE {self._p(pattern)} ESCAPE '\\')"
                    )
                else:
                    per_col.append(f"{col} LIKE {self._p(pattern)} ESCAPE '\\'")
            term_sqls.append("(" + " OR ".join(per_col) + ")")
        positive = "(" + " AND ".join(term_sqls) + ")"
        return positive if c.op == "~" else f"(NOT {positive})"

    def labels_clause(self, c: Clause, fname: str) -> str:
        has_labels = "EXISTS (SELECT 1 FROM labels l WHERE l.issue_id = issues.id)"
        if c.op in ("is", "is not") or (c.value.kind == "empty" and c.op in ("=", "!=")):
            positive = c.op in ("is", "=")
            if c.op in ("is", "is not") and c.value.kind != "empty":
                self._empty_check(c, fname, "x", True)
            return f"(NOT {has_labels})" if positive else f"({has_labels})"
        if c.op not in ("=", "!=", "in", "not in"):
            raise self._unsupported(c, fname)
        labels = [v.text for v in self._values(c.value) if v.kind in ("str", "word")]
        has_empty = any(v.kind == "empty" for v in self._values(c.value))
        match = (
            "EXISTS (SELECT 1 FROM labels l WHERE l.issue_id = issues.id "
            f"AND l.label IN {self._in(labels)})"
        )
        if c.op in ("=", "in"):
            return f"({match} OR NOT {has_labels})" if has_empty else f"({match})"
        return f"({has_labels} AND NOT {match})"

    def key_clause(self, c: Clause, fname: str) -> str:
        if c.op in ("is", "is not") or c.value.kind == "empty":
            return "(0)" if c.op in ("is", "=") else "(1)"
        if c.op in ("~", "!~"):
            raise self._unsupported(c, fname)

        def one(v: Value) -> tuple[str, int] | int | None:
            text = v.text.strip()
            if re.fullmatch(r"\d+", text):
                return int(text)
            m = _KEY.match(text)
            if not m:
                raise JqlError(f"The issue key '{text}' for field '{fname}' is invalid.")
            return (m.group(1).upper(), int(m.group(2)))

        if c.op in ("in", "not in", "=", "!="):
            parts = []
            for v in self._values(c.value):
                k = one(v)
                if isinstance(k, int):
                    parts.append(f"id = {self._p(k)}")
                elif k is not None:
                    former = self.catalog.former_key_issue(*k)  # a key from before a move or key change
                    if former is None and self.catalog.key_issue(*k) is None:
                        # Jira checks the keys a query names: one no issue has fails the search
                        raise JqlError(f"An issue with key '{k[0]}-{k[1]}' does not exist for field '{fname}'.")
                    parts.append(f"(project_key = {self._p(k[0])} AND num = {self._p(k[1])})")
                    if former is not None:
                        parts.append(f"id = {self._p(former)}")
            match = "(" + " OR ".join(parts) + ")" if parts else "(0)"
            return match if c.op in ("in", "=") else f"(NOT {match})"
        k = one(c.value)
        sql_op = c.op
        if isinstance(k, int):
            return f"(id {sql_op} {self._p(k)})"
        return f"(project_key = {self._p(k[0])} AND num {sql_op} {self._p(k[1])})"

    def custom_clause(self, c: Clause, fname: str, field_id: str, kind: str) -> str:
        col = f"json_extract(extra, '$.{field_id}')"
        empty = self._empty_check(c, fname, col, True)
        if empty is not None:
            return empty
        values = self._values(c.value)
        if kind == "string":
            if c.op not in ("~", "!~"):
                raise self._unsupported(c, fname)
            terms = self._like_terms(c.value)
            if not terms:
                raise JqlError(f"The field '{fname}' does not support searching for an empty string.")
            likes = []
            for term in terms:
                pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                likes.append(f"{col} LIKE {self._p(pattern)} ESCAPE '\\'")
            positive = "(" + " AND ".join(likes) + ")"
            return positive if c.op == "~" else f"({col} IS NOT NULL AND NOT {positive})"
        if kind in ("number", "datetime"):
            def num(v: Value) -> Any:
                if kind == "datetime":
                    return self._date_ms(fname, v)
                try:
                    return float(v.text) if "." in v.text else int(v.text)
                except ValueError:
                    raise JqlError(f"The value '{v.text}' for field '{fname}' is invalid - please specify a numeric value.") from None
            if c.op in ("in", "not in"):
                nums = [num(v) for v in values if v.kind != "empty"]
                neg = "NOT " if c.op == "not in" else ""
                return f"({col} IS NOT NULL AND {col} {neg}IN {self._in(nums)})"
            if c.op in ("~", "!~"):
                raise self._unsupported(c, fname)
            return f"({col} {c.op} {self._p(num(c.value))})"
        # option (select list): by option value or id
        if c.op not in ("=", "!=", "in", "not in"):
            raise self._unsupported(c, fname)
        options = []
        for v in values:
            if v.kind == "empty":
                continue
            found = self.catalog.resolve_option(field_id, v.text)
            if found is None:
                raise JqlError(f"The option '{v.text}' for field '{fname}' does not exist.")
            options.append(found)
        if c.op in ("=", "in"):
            return f"({col} IN {self._in(options)})"
        return f"({col} IS NOT NULL AND {col} NOT IN {self._in(options)})"

    def order(self, order_by: list[tuple[str, str]]) -> list[tuple[str, str, Any]]:
        if len(order_by) > 7:
            raise JqlError("The 'ORDER BY' clause can contain a maximum of 7 fields.")
        result: list[tuple[str, str, Any]] = []
        seen: set[str] = set()
        for fname, direction in order_by:
            exprs = _ORDER_EXPR.get(fname.lower())
            custom = _custom_field(fname) if exprs is None else None
            if custom is not None:
                empty: Any = 0 if custom[1] in ("number", "datetime") else ""
                exprs = [(f"COALESCE(json_extract(extra, '$.{custom[0]}'), {empty!r})", empty)]
            if exprs is None:
                if fname.lower() in _TEXT_FIELDS or fname.lower() in ("labels", "comment"):
                    raise JqlError(f"Field '{fname}' does not support sorting.")
                raise JqlError(
                    f"Field '{fname}' does not exist or you do not have permission to view it."
                )
            for expr, default in exprs:
                if expr not in seen:
                    seen.add(expr)
                    result.append((expr, direction, default))
        return result


def compile_query(
    query: Query, catalog: Catalog, *, account_id: str | None, tz: str, now_ms: int
) -> CompiledQuery:
    """Turn a parsed query into SQL over the ``issues`` table (see store.py)."""
    comp = _Compiler(catalog, account_id, tz, now_ms)
    where = comp.compile(query.where) if query.where is not None else ""
    order = comp.order(query.order_by)
    pinned: dict[str, list[Any]] = {}
    if query.where is not None:
        _pin(query.where, comp.enum_values, pinned)
    return CompiledQuery(where, comp.params, order, pinned)


def _pin(node: Any, enum_values: dict[Clause, tuple[str, list[str]]], pinned: dict[str, list[Any]]) -> None:
    """Collect the enum ``=``/``in`` clauses every match satisfies (reached through ANDs only)."""
    if isinstance(node, BoolOp) and node.op == "and":
        for item in node.items:
            _pin(item, enum_values, pinned)
    elif isinstance(node, Clause) and node in enum_values:
        col, values = enum_values[node]
        if col in pinned:  # two clauses on one column: a match satisfies both
            values = [v for v in pinned[col] if v in values]
        pinned[col] = sorted(set(values))
