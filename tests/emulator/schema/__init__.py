"""Microsoft Graph v1.0 as Microsoft publishes it per deployment: which names exist where.

The tables in tests/emulator/data/schema/ are generated from Microsoft's CSDL (`$metadata`) by
`python -m tests.emulator.schema.generate` (see that module). This module answers, for one cloud,
what a URL addresses, whether the names in `$select`, `$expand`, `$orderby`, `$filter` and in a
request body exist on that type (or its base types), and which properties a response may carry.
It is used by the emulator for every Graph request and by the end-to-end suite to check the
collection's request log; it has no emulator state and raises `SchemaError` (status 400, code,
message) that callers render in Graph's error shape.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qsl, unquote

TABLE_DIR = Path(__file__).resolve().parents[1] / "data" / "schema"
# Cloud of this collection -> Graph deployment whose v1.0 schema it serves
# (https://learn.microsoft.com/graph/deployments): L4 and L5 (DoD) share the US Government one.
DEPLOYMENT_OF_CLOUD = {"public": "Prod", "usgov": "Fairfax", "usgov_dod": "Fairfax", "china": "Mooncake"}
NAMESPACE = "microsoft.graph"
# Directory extension properties on open directory types: extension_{appId without hyphens}_{name}
# (https://learn.microsoft.com/graph/extensibility-overview#microsoft-entra-directory-extensions).
EXTENSION_PROPERTY = re.compile(r"^extension_[0-9a-fA-F]{32}_[A-Za-z0-9_]+$")
_FILTER_WORDS = frozenset({"and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "has", "true", "false", "null",
                           "add", "sub", "mul", "div", "mod"})


class SchemaError(Exception):
    """A name the schema does not have: Graph answers 400 with this code and message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _element(type_ref: str) -> tuple[str, bool]:
    """(element type, is a collection) of a type reference such as `Collection(appRole)`."""
    if type_ref.startswith("Collection(") and type_ref.endswith(")"):
        return type_ref[11:-1], True
    return type_ref, False


def qualified(type_name: str) -> str:
    """`application` -> `microsoft.graph.application` (other namespaces are kept whole in the tables)."""
    return type_name if "." in type_name else f"{NAMESPACE}.{type_name}"


def _local(name: str) -> str:
    """`microsoft.graph.addPassword` or `#microsoft.graph.x` -> the name the tables use."""
    name = name.lstrip("#")
    return name[len(NAMESPACE) + 1:] if name.startswith(NAMESPACE + ".") and "." not in name[len(NAMESPACE) + 1:] else name


@dataclass
class Addressed:
    """What a Graph URL path addresses."""

    type: str | None  # entity type of the addressed object(s); None for `$count`, `$ref` and the like
    collection: bool
    action: str | None = None
    action_parameters: dict[str, str] = field(default_factory=dict)
    action_returns: str | None = None
    segments: list[str] = field(default_factory=list)


class GraphSchema:
    """The v1.0 schema table of one Graph deployment."""

    def __init__(self, table: dict[str, Any]) -> None:
        self.table = table
        self.deployment: str = table["deployment"]
        self.clouds: list[str] = table["clouds"]
        self.entity_sets: dict[str, str] = table["entity_sets"]
        self.singletons: dict[str, str] = table["singletons"]
        self.types: dict[str, dict[str, Any]] = table["types"]
        self.actions: dict[str, dict[str, dict[str, Any]]] = table["actions"]

    # Types -----------------------------------------------------------------------------
    def has_type(self, name: str) -> bool:
        """Whether the table describes this type."""
        return _local(name) in self.types

    def lineage(self, type_name: str) -> Iterator[str]:
        """The type and its base types, most derived first."""
        name: str | None = _local(type_name)
        while name:
            spec = self.types.get(name)
            if spec is None:
                raise SchemaError("BadRequest", f"The type '{qualified(name)}' is not part of the {self.deployment} schema.")
            yield name
            name = spec.get("base")

    def properties(self, type_name: str) -> dict[str, str]:
        """Structural properties (name -> type) of a type, inherited ones included."""
        merged: dict[str, str] = {}
        for name in self.lineage(type_name):
            merged = {**self.types[name]["properties"], **merged}
        return merged

    def navigation(self, type_name: str) -> dict[str, str]:
        """Navigation properties (name -> type) of a type, inherited ones included."""
        merged: dict[str, str] = {}
        for name in self.lineage(type_name):
            merged = {**self.types[name].get("navigation", {}), **merged}
        return merged

    def is_open(self, type_name: str) -> bool:
        """Open types accept dynamic properties; in the directory those are extension properties."""
        return any(self.types[name].get("open") for name in self.lineage(type_name))

    def derives_from(self, type_name: str, base: str) -> bool:
        """Whether `type_name` is `base` or derives from it."""
        return _local(base) in self.lineage(type_name)

    def bound_actions(self, type_name: str, collection: bool = False) -> dict[str, dict[str, Any]]:
        """Actions bound to the type (or a base type), or to a collection of it."""
        merged: dict[str, dict[str, Any]] = {}
        for name in self.lineage(type_name):
            key = f"Collection({name})" if collection else name
            merged = {**self.actions.get(key, {}), **merged}
        return merged

    # URLs ------------------------------------------------------------------------------
    def resolve(self, path: str) -> Addressed:
        """What a path relative to the version (`/v1.0/applications/{id}/addPassword`) addresses.

        Raises SchemaError for a segment the schema does not have, with Graph's message for it.
        """
        text = unquote(path).split("?", 1)[0]
        text = re.sub(r"^/?v1\.0/", "", text).strip("/")
        segments = [s for s in re.split(r"/(?![^()]*\))", text) if s]
        if not segments:
            raise SchemaError("BadRequest", "Resource not found for the segment ''.")
        head, key = _split_key(segments[0])
        if head in self.entity_sets:
            current: Addressed = Addressed(self.entity_sets[head], key is None, segments=segments)
        elif head in self.singletons and key is None:
            current = Addressed(self.singletons[head], False, segments=segments)
        else:
            raise _segment_error(head)
        rest = segments[1:]
        while rest:
            segment = rest.pop(0)
            if current.type is None or current.action:
                raise _segment_error(segment)
            if segment in ("$count", "$ref", "$value"):
                current = Addressed(None, False, segments=segments)
                continue
            name, key = _split_key(segment)
            local = _local(name)
            if current.collection:
                actions = self.bound_actions(current.type, collection=True)
                if local in actions:
                    current = self._action(local, actions[local], segments)
                elif self.has_type(local) and "." in name and self.derives_from(local, current.type):
                    current = Addressed(local, True, segments=segments)  # type cast
                else:
                    current = Addressed(current.type, False, segments=segments)  # a key segment
                continue
            navigation = self.navigation(current.type)
            actions = self.bound_actions(current.type)
            if name in navigation:
                target, many = _element(navigation[name])
                current = Addressed(target, many and key is None, segments=segments)
            elif local in actions:
                current = self._action(local, actions[local], segments)
            elif "." in name and self.has_type(local) and self.derives_from(local, current.type):
                current = Addressed(local, False, segments=segments)  # type cast
            else:
                raise _segment_error(segment)
        return current

    @staticmethod
    def _action(name: str, spec: dict[str, Any], segments: list[str]) -> Addressed:
        return Addressed(None, False, name, dict(spec.get("parameters", {})), spec.get("returns"), segments)

    # Query options -----------------------------------------------------------------------
    def check_query(self, addressed: Addressed, query: dict[str, str]) -> None:
        """`$select`, `$expand`, `$orderby` and the property names of `$filter` exist on the addressed type.

        Graph parses these options against its metadata and answers 400 naming the property and type
        (captures: https://github.com/microsoftgraph/microsoft-graph-docs/issues/9988 for $select,
        "Could not find a property named 'x' on type 'microsoft.graph.y'."); the directory workload
        answers with code Request_BadRequest
        (https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/3474).
        """
        type_name = addressed.type
        if type_name is None:
            return
        if query.get("$select"):
            for name in _split_top(query["$select"]):
                self._check_selectable(type_name, name)
        if query.get("$expand"):
            for item in _split_top(query["$expand"]):
                name, dummy, options = item.partition("(")
                name = name.strip()
                if name in ("*", ""):
                    continue
                if name not in self.navigation(type_name):
                    raise _no_property(name, type_name)
                target = _element(self.navigation(type_name)[name])[0]
                nested = dict(_split_options(options[:-1])) if options.endswith(")") else {}
                self.check_query(Addressed(target, True), nested)
        if query.get("$orderby"):
            for item in _split_top(query["$orderby"]):
                words = item.split()
                self.check_path(type_name, words[0] if words else "")
        if query.get("$filter"):
            for name in filter_property_paths(query["$filter"]):
                self.check_path(type_name, name)

    def _check_selectable(self, type_name: str, name: str) -> None:
        if name == "*" or (self.is_open(type_name) and EXTENSION_PROPERTY.match(name)):
            return
        if "/" in name:  # a type-cast qualified property: microsoft.graph.x/prop
            cast, dummy, name = name.rpartition("/")
            if not self.has_type(cast) or not self.derives_from(cast, type_name):
                raise _no_property(cast, type_name)
            type_name = _local(cast)
        if name not in self.properties(type_name) and name not in self.navigation(type_name):
            raise _no_property(name, type_name)

    def check_path(self, type_name: str, path: str) -> None:
        """A property path (`web/redirectUris`) exists, segment by segment, from the type."""
        current = type_name
        for part in path.split("/"):
            if current is None or not self.has_type(current):
                raise _no_property(part, current or type_name)
            if self.is_open(current) and EXTENSION_PROPERTY.match(part):
                return
            props, navs = self.properties(current), self.navigation(current)
            if part in props:
                current = _element(props[part])[0]
            elif part in navs:
                current = _element(navs[part])[0]
            elif self.has_type(part) and "." in part:
                current = _local(part)
            else:
                raise _no_property(part, current)
            if not self.has_type(current):
                current = None  # a primitive or enumeration: nothing below it

    # Bodies --------------------------------------------------------------------------------
    def check_body(self, type_name: str, body: Any, prefix: str = "") -> None:
        """Every name in a request body exists on the type, nested complex values included.

        Graph's answer for a name the type does not have: 400 Request_BadRequest "Property 'x' does
        not exist as a declared property or extension property." (directory objects; the emulator's
        captures in tests/emulator/tests/test_graph_applications.py). Nested names are given as a path.
        """
        if not isinstance(body, dict):
            return
        declared = body.get("@odata.type")
        if isinstance(declared, str) and self.has_type(declared) and self.derives_from(declared, type_name):
            type_name = _local(declared)
        props, navs = self.properties(type_name), self.navigation(type_name)
        for key, value in body.items():
            name, at, annotation = key.partition("@")
            if not name:
                continue  # an instance annotation such as @odata.type
            if at and annotation == "odata.bind":
                if name not in navs:
                    raise _no_body_property(prefix + name)
                continue
            if at:
                continue  # a property annotation
            if name in props:
                element, dummy = _element(props[name])
                if self.has_type(element) and self.types[_local(element)]["kind"] == "complex":
                    for item in value if isinstance(value, list) else [value]:
                        self.check_body(element, item, f"{prefix}{name}.")
            elif name in navs:
                continue  # deep insert: the emulator does not go further
            elif not (self.is_open(type_name) and EXTENSION_PROPERTY.match(name)):
                raise _no_body_property(prefix + name)

    def check_action_body(self, addressed: Addressed, body: Any) -> None:
        """An action's body carries only the action's parameters (each checked like a body).

        An unknown parameter is refused by Graph's OData reader with "The parameter 'x' in the
        request payload is not a valid parameter for the operation 'y'."
        (Microsoft.OData.Core, ODataParameterReaderCore: https://github.com/OData/odata.net).
        """
        if not isinstance(body, dict):
            return
        for key, value in body.items():
            if key.startswith("@"):
                continue
            if key not in addressed.action_parameters:
                raise SchemaError("Request_BadRequest", f"The parameter '{key}' in the request payload is not a valid "
                                  f"parameter for the operation '{addressed.action}'.")
            element, dummy = _element(addressed.action_parameters[key])
            if self.has_type(element) and self.types[_local(element)]["kind"] == "complex":
                for item in value if isinstance(value, list) else [value]:
                    self.check_body(element, item, f"{key}.")

    # Responses --------------------------------------------------------------------------------
    def shape(self, type_name: str, obj: Any) -> Any:
        """A response object with only the properties the type has in this deployment (recursively).

        A deployment's Graph returns what its schema declares; the national clouds lack properties
        the global service has (see ../shared/reference/graph-metadata/README.md).
        """
        if isinstance(obj, list):
            return [self.shape(type_name, item) for item in obj]
        if not isinstance(obj, dict):
            return obj
        declared = obj.get("@odata.type")
        if isinstance(declared, str) and self.has_type(declared) and self.derives_from(declared, type_name):
            type_name = _local(declared)
        props = self.properties(type_name)
        shaped: dict[str, Any] = {}
        for key, value in obj.items():
            if "@" in key:
                shaped[key] = value
            elif key in props:
                element = _element(props[key])[0]
                nested = self.has_type(element) and self.types[_local(element)]["kind"] == "complex"
                shaped[key] = self.shape(element, value) if nested else value
        return shaped

    def unknown_names(self, type_name: str, obj: Any, prefix: str = "") -> list[str]:
        """Names in a response object that the type does not have here (for tests)."""
        if isinstance(obj, list):
            return [name for item in obj for name in self.unknown_names(type_name, item, prefix)]
        if not isinstance(obj, dict):
            return []
        declared = obj.get("@odata.type")
        if isinstance(declared, str) and self.has_type(declared) and self.derives_from(declared, type_name):
            type_name = _local(declared)
        props = self.properties(type_name)
        found = []
        for key, value in obj.items():
            if "@" in key:
                continue
            if key not in props:
                found.append(prefix + key)
                continue
            element = _element(props[key])[0]
            if self.has_type(element) and self.types[_local(element)]["kind"] == "complex":
                found += self.unknown_names(element, value, f"{prefix}{key}.")
        return found

    def check_request(self, method: str, path: str, query: dict[str, str], body: Any) -> Addressed:
        """Everything above for one request (what the emulator and the request-log test run)."""
        addressed = self.resolve(path)
        self.check_query(addressed, query)
        if method in ("POST", "PATCH", "PUT") and body is not None:
            if addressed.action:
                self.check_action_body(addressed, body)
            elif addressed.type is not None:
                self.check_body(addressed.type, body)
        return addressed


@lru_cache(maxsize=None)
def for_deployment(deployment: str) -> GraphSchema:
    """The schema of a Graph deployment (Prod, Fairfax, Mooncake) from its committed table."""
    with (TABLE_DIR / f"{deployment}.json").open(encoding="utf-8") as handle:
        return GraphSchema(json.load(handle))


def for_cloud(cloud: str) -> GraphSchema:
    """The schema of the Graph deployment that serves a cloud of this collection."""
    if cloud not in DEPLOYMENT_OF_CLOUD:
        raise ValueError(f"unknown cloud {cloud!r}; expected one of {', '.join(DEPLOYMENT_OF_CLOUD)}")
    return for_deployment(DEPLOYMENT_OF_CLOUD[cloud])


def check_log_entry(entry: dict[str, Any]) -> str | None:
    """What is outside the cloud's v1.0 schema in one Graph entry of the emulator's request log, or None.

    Checks the path, the query options and the body of writes (logged with secret values redacted,
    names kept); `$batch` round trips are skipped, the requests they carried have entries of their own.
    """
    if entry.get("service") != "graph" or not entry.get("cloud") or entry["path"].rstrip("/").endswith("/$batch"):
        return None
    body = entry.get("body")
    query = dict(parse_qsl(entry.get("query") or "", keep_blank_values=True))
    try:
        for_cloud(entry["cloud"]).check_request(entry["method"], entry["path"], query, body if isinstance(body, dict) else None)
    except SchemaError as exc:
        where = entry["path"] + (f"?{unquote(entry['query'])}" if entry.get("query") else "")
        return f"{entry['cloud']}: {entry['method']} {where}: {exc.message}"
    return None


def check_log(entries: list[dict[str, Any]]) -> list[str]:
    """Every finding of `check_log_entry` in a request log."""
    return [finding for finding in (check_log_entry(entry) for entry in entries) if finding]


def filter_property_paths(text: str) -> list[str]:
    """The property paths a `$filter` expression names (not functions, operators, literals or lambda variables)."""
    from ..odata import QueryError, _tokenize  # local: odata has no dependency on this module

    try:
        tokens = _tokenize(text)
    except QueryError:
        return []  # a syntax error is the parser's to report
    variables = {tokens[i].text for i in range(len(tokens) - 1) if tokens[i].kind == "word" and tokens[i + 1].text == ":"}
    paths = []
    for index, token in enumerate(tokens):
        if token.kind != "word" or token.text.lower() in _FILTER_WORDS:
            continue
        following = tokens[index + 1].text if index + 1 < len(tokens) else ""
        if following in ("(", ":") and "/" not in token.text:
            continue  # a function name, or a lambda variable's declaration
        path = re.sub(r"/(any|all)$", "", token.text)
        head = path.split("/", 1)[0]
        if head in variables or head.startswith("$") or head.startswith("@"):
            continue
        paths.append(path)
    return paths


def _split_key(segment: str) -> tuple[str, str | None]:
    """`applications(appId='x')` -> ("applications", "appId='x'")."""
    match = re.match(r"^([^()]+)\((.*)\)$", segment)
    return (match.group(1), match.group(2)) if match else (segment, None)


def _split_top(text: str, separator: str = ",") -> list[str]:
    """Split on a separator outside parentheses and quotes."""
    parts, depth, quoted, current = [], 0, False, ""
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == separator and depth == 0 and not quoted:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _split_options(text: str) -> list[tuple[str, str]]:
    """Nested options of an `$expand` item: `$select=id;$filter=...`."""
    return [(k.strip(), v) for k, dummy, v in (item.partition("=") for item in _split_top(text, ";"))]


def _segment_error(segment: str) -> SchemaError:
    # https://learn.microsoft.com/graph/errors ; Graph's message for a path it cannot map.
    return SchemaError("BadRequest", f"Resource not found for the segment '{segment}'.")


def _no_property(name: str, type_name: str) -> SchemaError:
    return SchemaError("Request_BadRequest", f"Could not find a property named '{name}' on type '{qualified(type_name)}'.")


def _no_body_property(path: str) -> SchemaError:
    return SchemaError("Request_BadRequest", f"Property '{path}' does not exist as a declared property or extension property.")
