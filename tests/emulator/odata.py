"""The OData query options Microsoft Graph supports on directory objects: `$filter`,
`$select`, `$top` and server-driven paging with `$skiptoken`.

Supported `$filter` forms are the ones directory objects accept without advanced query
headers: `prop eq 'value'`, `startswith(prop,'value')`, `coll/any(x:x eq 'value')`, joined
with `and` / `or` and parentheses. String literals escape `'` as `''`.
https://learn.microsoft.com/graph/filter-query-parameter and
https://learn.microsoft.com/graph/aad-advanced-queries
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<punct>[(),:])
    | (?P<word>[A-Za-z_$@][A-Za-z0-9_./$@-]*)
    )""", re.VERBOSE)


class QueryError(Exception):
    """A query option Graph would reject; carries Graph's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Token:
    kind: str
    text: str


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise QueryError("BadRequest", f"Invalid filter clause: syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind)))
        pos = match.end()
    return tokens


class FilterParser:
    """Parses one `$filter` expression into a predicate over Graph JSON objects.

    `filterable` maps each property Graph lets you filter on for this entity type to
    "scalar" or "collection"; anything else is rejected as Graph does.
    """

    def __init__(self, text: str, entity: str, filterable: dict[str, str]) -> None:
        self.text = text
        self.entity = entity
        self.filterable = filterable
        self.tokens = _tokenize(text)
        self.pos = 0

    def parse(self) -> Predicate:
        """The predicate; raises QueryError for syntax or unsupported clauses."""
        if not self.tokens:
            raise QueryError("BadRequest", "Invalid filter clause: the filter expression is empty.")
        predicate = self._or()
        if self.pos != len(self.tokens):
            raise self._syntax_error()
        return predicate

    # Grammar -------------------------------------------------------------------------
    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._accept_word("or"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda obj: any(p(obj) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._primary()]
        while self._accept_word("and"):
            parts.append(self._primary())
        return parts[0] if len(parts) == 1 else (lambda obj: all(p(obj) for p in parts))

    def _primary(self) -> Predicate:
        token = self._next()
        if token.kind == "punct" and token.text == "(":
            inner = self._or()
            self._expect("punct", ")")
            return inner
        if token.kind != "word":
            raise self._syntax_error()
        if token.text.lower() == "startswith":
            self._expect("punct", "(")
            prop = self._property(self._next(), "scalar")
            self._expect("punct", ",")
            value = self._literal()
            self._expect("punct", ")")
            return lambda obj: isinstance(_get(obj, prop), str) and _fold(_get(obj, prop)).startswith(_fold(value))
        if token.text.lower() in ("not", "endswith", "contains"):
            raise QueryError("Request_UnsupportedQuery",
                             f"Operator '{token.text}' is not supported because the required parameters might be missing. "
                             "Try adding $count=true query parameter and ConsistencyLevel:eventual header.")
        if token.text.endswith("/any"):
            prop = self._property(_Token("word", token.text[:-4]), "collection")
            self._expect("punct", "(")
            variable = self._next()
            self._expect("punct", ":")
            self._expect("word", variable.text)
            self._expect_word("eq")
            value = self._literal()
            self._expect("punct", ")")
            return lambda obj: any(_equal(item, value) for item in (_get(obj, prop) or []))
        prop = self._property(token, "scalar")
        operator = self._next()
        if operator.kind != "word" or operator.text.lower() not in ("eq", "ne", "gt", "ge", "lt", "le", "in"):
            raise self._syntax_error()
        if operator.text.lower() != "eq":
            raise QueryError("Request_UnsupportedQuery",
                             f"Operator '{operator.text.lower()}' is not supported because the required parameters might be missing. "
                             "Try adding $count=true query parameter and ConsistencyLevel:eventual header.")
        value = self._literal()
        return lambda obj: _equal(_get(obj, prop), value)

    # Helpers -------------------------------------------------------------------------
    def _property(self, token: _Token, shape: str) -> str:
        if token.kind != "word":
            raise self._syntax_error()
        if self.filterable.get(token.text) != shape:
            raise QueryError("Request_UnsupportedQuery",
                             f"Unsupported or invalid query filter clause specified for property '{token.text}' "
                             f"of resource '{self.entity}'.")
        return token.text

    def _literal(self) -> Any:
        token = self._next()
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'")
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.kind == "word" and token.text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.text]
        raise self._syntax_error()

    def _next(self) -> _Token:
        if self.pos >= len(self.tokens):
            raise self._syntax_error()
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _expect(self, kind: str, text: str) -> None:
        token = self._next()
        if token.kind != kind or token.text != text:
            raise self._syntax_error()

    def _expect_word(self, word: str) -> None:
        token = self._next()
        if token.kind != "word" or token.text.lower() != word:
            raise self._syntax_error()

    def _accept_word(self, word: str) -> bool:
        if self.pos < len(self.tokens) and self.tokens[self.pos].kind == "word" and self.tokens[self.pos].text.lower() == word:
            self.pos += 1
            return True
        return False

    def _syntax_error(self) -> QueryError:
        return QueryError("BadRequest", f"Invalid filter clause: syntax error in '{self.text}'.")


def _get(obj: dict[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _fold(value: str) -> str:
    return value.casefold()


def _equal(actual: Any, expected: Any) -> bool:
    # Directory string comparisons are case-insensitive (displayName eq 'app' matches 'App').
    if isinstance(actual, str) and isinstance(expected, str):
        return _fold(actual) == _fold(expected)
    return bool(actual == expected)


def parse_filter(text: str, entity: str, filterable: dict[str, str]) -> Predicate:
    """A predicate for a `$filter` value; raises QueryError like Graph."""
    return FilterParser(text, entity, filterable).parse()


def parse_select(text: str | None, entity_type: str, known: set[str]) -> list[str] | None:
    """The properties named by `$select`, or None; unknown names are an error as in Graph."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in known:
            raise QueryError("Request_BadRequest", f"Could not find a property named '{name}' on type '{entity_type}'.")
    return names


def apply_select(obj: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    """The object reduced to the `$select`ed properties."""
    if select is None:
        return obj
    return {name: obj.get(name) for name in select}


def parse_top(text: str | None, default: int = 100) -> int:
    """Page size from `$top` (1..999 for directory objects)."""
    if text is None:
        return default
    try:
        top = int(text)
    except ValueError as exc:
        raise QueryError("BadRequest", f"Invalid $top value '{text}'.") from exc
    if not 1 <= top <= 999:
        raise QueryError("Request_BadRequest", f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.")
    return top


def encode_skiptoken(offset: int) -> str:
    """An opaque continuation token (Graph's are opaque too: clients must follow nextLink)."""
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_skiptoken(token: str) -> int:
    """The offset inside a continuation token made by `encode_skiptoken`."""
    try:
        padded = token + "=" * (-len(token) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded.encode()))["o"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(offset)
        return offset
    except (ValueError, KeyError, TypeError) as exc:
        raise QueryError("Request_BadRequest", "Invalid paging token: '$skiptoken' is malformed or expired.") from exc
