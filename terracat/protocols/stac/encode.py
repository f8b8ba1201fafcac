"""A checked search request -> a STAC API item search (the JSON body of ``POST /search``).

The request's values arrive protocol-neutral (:mod:`terracat.request`); here they become the
STAC spellings: ``start``/``end`` one ``datetime`` interval (open ends ``..``; a bare ``end``
date includes its whole day, as on OpenSearch), ``bbox`` an array, ``geometry`` a GeoJSON
``intersects``, and every property filter one CQL2 JSON expression (``and`` of the parts), the
form the Filter extension takes by POST. :func:`as_query` writes the same search as GET query
parameters, the filter in CQL2 text. Pure: no network, so hypothesis checks it.

>>> body = encode(SearchRequest.for_products("c", start="2022-02-01", cloudCover=(None, 60)))
>>> body["datetime"], body["filter"]
('2022-02-01T00:00:00Z/..', {'op': '<=', 'args': [{'property': 'eo:cloud_cover'}, 60]})
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

import cql2
import shapely

from terracat.exceptions import ParameterParserException
from terracat.request import (
    Area,
    Box,
    Instant,
    Interval,
    SearchRequest,
    Verbatim,
    format_datetime,
    show,
)

__all__ = [
    "PROPERTIES",
    "TILE_PROPERTIES",
    "as_query",
    "conjunction",
    "encode",
    "filter_of",
    "query_of",
    "tile_property",
]

PROPERTIES = {
    "cloudCover": "eo:cloud_cover",
    "relativeOrbitNumber": "sat:relative_orbit",
    "orbitDirection": "sat:orbit_state",
    "productType": "product:type",
    "title": "title",
    "platform": "platform",
    "publicationDate": "published",
    "modificationDate": "updated",
}
"""The STAC property each OpenSearch-named filter means the same as."""

TILE_PROPERTIES = ("grid:code", "mgrs:grid_square", "s2:mgrs_tile")
"""Where catalogues hold an MGRS tile, in the order they are preferred (:func:`tile_property`).

``grid:code`` (``MGRS-31UFS``: Terrascope, the Data Space, the local catalogue) is the default;
``s2:mgrs_tile`` (``31UFS``: Planetary Computer) and the ``mgrs:*`` triple (Earth Search) are
chosen when a collection's queryables offer them and not ``grid:code``.
"""

NOT_FILTERS = frozenset({"accessedFrom"})
"""Named parameters that choose how products are read, not which are found."""

QUERY_OPERATORS = {
    "=": "eq",
    "<>": "neq",
    "<": "lt",
    "<=": "lte",
    ">": "gt",
    ">=": "gte",
    "in": "in",
}
"""The CQL2 comparisons the Query extension can say, and its names for them."""

_END_OF_DAY = dt.timedelta(days=1, milliseconds=-1)  # STAC intervals are closed; servers use ms
_INTERVAL_TEXT = re.compile(r"^\s*(\[)?\s*([^\[\],]*?)\s*(?:,\s*([^\[\],]*?)\s*)?(\])?\s*$")


def tile_property(queryables: Mapping[str, Any] | None) -> str:
    """The property a tile filter compares, from a collection's queryables (``None``: unknown).

    ``mgrs:grid_square`` stands for the ``mgrs:*`` triple (:func:`_tile_filter` writes all
    three), so that any of Earth Search's spellings is used only when the catalogue has it.
    """
    if not queryables:
        return TILE_PROPERTIES[0]
    if "mgrs:grid_square" not in queryables and "mgrs:utm_zone" in queryables:
        return "mgrs:grid_square"
    return next((name for name in TILE_PROPERTIES if name in queryables), TILE_PROPERTIES[0])


def _property(name: str) -> dict[str, str]:
    return {"property": name}


def _compare(op: str, name: str, value: Any) -> dict[str, Any]:
    return {"op": op, "args": [_property(name), value]}


def conjunction(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One CQL2 JSON expression that holds when all ``parts`` hold (``None`` for none)."""
    if not parts:
        return None
    flat = [arg for part in parts for arg in (part["args"] if part.get("op") == "and" else [part])]
    return flat[0] if len(flat) == 1 else {"op": "and", "args": flat}


def _time(instant: Instant, *, end: bool = False) -> str:
    value = instant.value
    if end and instant.is_date:
        value = value + _END_OF_DAY
    return format_datetime(value)


def _datetime(request: SearchRequest) -> str | None:
    start, end = request.filters.get("start"), request.filters.get("end")
    if start is None and end is None:
        return None
    low = ".." if start is None else _time(start)
    high = ".." if end is None else _time(end, end=True)
    return f"{low}/{high}"


def _number(text: str, parameter: str, whole: str) -> int | float:
    try:
        number = float(text)
    except ValueError:
        raise ParameterParserException(
            f"Failed to parse the value of the '{parameter}' parameter: {show(whole)}. "
            f"{text!r} is not a number; expected a number or an interval such as '[10,60]'."
        ) from None
    return int(number) if number.is_integer() else number


def _read_interval_text(text: str, parameter: str) -> Interval:
    """OpenSearch's interval text (``[10,60]``, ``60]``, ``[10``, ``15``) as an Interval."""
    match = _INTERVAL_TEXT.match(text)
    if match is None or (not match.group(2) and not match.group(3)):
        raise ParameterParserException(
            f"Failed to parse the value of the '{parameter}' parameter: {show(text)}. "
            "Expected an interval such as '[10,60]', '60]' or '[10', or a number."
        )
    opened, first, second, closed = match.groups()
    if second is not None:  # [a,b]
        return Interval(
            _number(first, parameter, text) if first else None,
            _number(second, parameter, text) if second else None,
        )
    value = _number(first, parameter, text)
    if opened and not closed:
        return Interval(value, None)
    if closed and not opened:
        return Interval(None, value)
    return Interval(value, value)


def _bound(value: Any) -> Any:
    return {"timestamp": format_datetime(value.value)} if isinstance(value, Instant) else value


def _range(name: str, interval: Interval) -> dict[str, Any]:
    parts = []
    if interval.lower is not None:
        parts.append(_compare(">=", name, _bound(interval.lower)))
    if interval.upper is not None:
        parts.append(_compare("<=", name, _bound(interval.upper)))
    if (
        len(parts) == 2
        and not isinstance(interval.lower, Instant)
        and interval.lower == interval.upper
    ):
        return _compare("=", name, interval.lower)
    return conjunction(parts)  # type: ignore[return-value] # an Interval has a bound


def _tile_filter(tile: str, name: str) -> dict[str, Any]:
    """``31UFS`` as the catalogue holds it: ``grid:code`` ``MGRS-31UFS``, else the bare tile."""
    bare = tile.removeprefix("MGRS-")
    if name == "grid:code":
        return _compare("=", name, f"MGRS-{bare}")
    if name == "mgrs:grid_square":
        match = re.fullmatch(r"(\d{1,2})([C-X])([A-Z]{2})", bare.upper())
        if match is None:
            return _compare("=", "s2:mgrs_tile", bare)
        zone, band, square = match.groups()
        return conjunction(
            [
                _compare("=", "mgrs:utm_zone", int(zone)),
                _compare("=", "mgrs:latitude_band", band),
                _compare("=", "mgrs:grid_square", square),
            ]
        )  # type: ignore[return-value]
    return _compare("=", name, bare)


def _filter_part(name: str, value: Any, tile: str) -> dict[str, Any] | None:
    """One named filter as CQL2 JSON (``None``: not a property filter)."""
    if name in ("start", "end", "bbox", "geometry") or name in NOT_FILTERS:
        return None
    if name == "tileId":
        return _tile_filter(value.text if isinstance(value, Verbatim) else value, tile)
    target = PROPERTIES.get(name, name)
    if isinstance(value, Verbatim):
        if name == "relativeOrbitNumber" or name == "cloudCover":
            return _range(target, _read_interval_text(value.text, name))
        value = value.text
    if isinstance(value, Interval):
        return _range(target, value)
    if isinstance(value, Instant):
        return _compare("=", target, {"timestamp": format_datetime(value.value)})
    if name == "orbitDirection":  # STAC writes it in lower case, OpenSearch in upper
        return _compare("=", target, value.lower())
    return _compare("=", target, value)


def _user_filter(value: Any) -> dict[str, Any]:
    """``filter=``: CQL2 text or JSON (a dict or its text), as CQL2 JSON."""
    if isinstance(value, cql2.Expr):
        return value.to_json()
    if isinstance(value, Mapping):
        value = dict(value)
    elif not isinstance(value, str):
        raise ParameterParserException(
            f"Failed to parse the value of the 'filter' parameter: {show(value)}. "
            "Expected CQL2 text, or CQL2 JSON as a dict."
        )
    try:
        return cql2.Expr(value).to_json()
    except Exception as error:  # cql2 raises its own ValueError kinds
        raise ParameterParserException(
            f"Failed to parse the value of the 'filter' parameter: {show(value)}. "
            f"It is not CQL2 text or JSON: {error}."
        ) from None


def filter_of(request: SearchRequest, *, tile: str = TILE_PROPERTIES[0]) -> dict[str, Any] | None:
    """Every property filter of ``request`` as one CQL2 JSON expression (``None`` for none).

    The named filters in :data:`terracat.request.FILTERS` order, then extra keywords (equality
    on the property of that name), then the user's ``filter=``, all and-ed.
    """
    parts = [
        part
        for name, value in request.filters.items()
        if (part := _filter_part(name, value, tile)) is not None
    ]
    for name, value in request.extra.items():
        if name == "filter":
            continue
        if isinstance(value, str):
            value = str.__str__(value)  # a (str, Enum) member's value
        elif not isinstance(value, bool | int | float):
            raise ParameterParserException(
                f"Failed to parse the value of the '{name}' parameter: {show(value)}. "
                "On a STAC catalogue it is compared with the item property of that name: "
                "give a str or a number, or pass filter= in CQL2."
            )
        parts.append(_compare("=", name, value))
    if "filter" in request.extra:
        parts.append(_user_filter(request.extra["filter"]))
    return conjunction(parts)


def encode(
    request: SearchRequest, *, tile: str = TILE_PROPERTIES[0], collections: list[str] | None = None
) -> dict[str, Any]:
    """The JSON body of a STAC item search for ``request`` (no ``limit``: paging adds it).

    ``collections`` are the STAC ids searched (the request's collection as given by default);
    ``tile`` the property a ``tileId`` compares (:func:`tile_property`).
    """
    body: dict[str, Any] = {}
    if request.collection is not None:
        body["collections"] = collections or [request.collection]
    if (interval := _datetime(request)) is not None:
        body["datetime"] = interval
    box = request.filters.get("bbox")
    if isinstance(box, Box):
        body["bbox"] = list(box.numbers)
    area = request.filters.get("geometry")
    if isinstance(area, Area):
        body["intersects"] = json.loads(shapely.to_geojson(area.geometry))
    expression = filter_of(request, tile=tile)
    if expression is not None:
        body["filter"] = expression
        body["filter-lang"] = "cql2-json"
    return body


def _query_part(part: Mapping[str, Any]) -> tuple[str, str, Any] | None:
    """``(property, query operator, value)`` of one CQL2 JSON comparison the Query extension
    can say (a property against a literal), else ``None``."""
    operator = QUERY_OPERATORS.get(str(part.get("op")))
    args = part.get("args")
    if operator is None or not isinstance(args, list) or len(args) != 2:
        return None
    target, value = args
    if not (isinstance(target, Mapping) and set(target) == {"property"}):
        return None
    if operator == "in":
        literal = isinstance(value, list) and all(isinstance(v, str | int | float) for v in value)
    else:
        literal = isinstance(value, str | int | float) and not isinstance(value, bool)
    return (str(target["property"]), operator, value) if literal else None


def query_of(expression: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A CQL2 JSON filter as the Query extension's ``query`` object and what it cannot say.

    Each part of the top-level ``and`` that compares a property with a literal (``=``, ``<>``,
    ``<``, ``<=``, ``>``, ``>=``, ``in``) goes into ``query`` (``{"eo:cloud_cover": {"lte": 60}}``);
    the rest (an ``or``, a ``not``, a spatial or time comparison, the same operator twice on one
    property) is returned as one CQL2 JSON expression for the client to apply (``None``: none).

    >>> query_of({"op": "<=", "args": [{"property": "eo:cloud_cover"}, 60]})
    ({'eo:cloud_cover': {'lte': 60}}, None)
    """
    if expression is None:
        return {}, None
    parts = expression["args"] if expression.get("op") == "and" else [expression]
    query: dict[str, dict[str, Any]] = {}
    rest: list[dict[str, Any]] = []
    for part in parts:
        said = _query_part(part) if isinstance(part, Mapping) else None
        if said is None or said[1] in query.get(said[0], {}):
            rest.append(dict(part))
            continue
        name, operator, value = said
        query.setdefault(name, {})[operator] = value
    return query, conjunction(rest)


def as_query(body: Mapping[str, Any]) -> dict[str, str]:
    """The GET query parameters of a search body: lists comma-joined, the filter as CQL2 text."""
    query: dict[str, str] = {}
    for name, value in body.items():
        if name == "filter":
            query["filter"] = cql2.Expr(value).to_text()
            query["filter-lang"] = "cql2-text"
        elif name == "filter-lang":
            continue
        elif name == "intersects":
            query[name] = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, list | tuple):
            query[name] = ",".join(map(str, value))
        else:
            query[name] = str(value)
    return query
