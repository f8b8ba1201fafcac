"""The STAC API's search parameters, parsed once into one :class:`Search` for GET and POST alike.

STAC item search takes the same parameters in two spellings: a query string (``bbox=1,2,3,4``,
``sortby=-properties.datetime``, ``fields=id,-geometry``, ``filter`` in CQL2 text) and a JSON
body (``"bbox": [1, 2, 3, 4]``, ``"sortby": [{"field": ..., "direction": "desc"}]``, ``filter``
in CQL2 JSON). Each parameter has one small ``_<name>`` function accepting both forms; a value
the API cannot use raises :class:`StacError`, which the face answers ``400`` with
``{"code", "description"}`` as STAC API servers do. CQL2 is parsed by the ``cql2`` package, never
here. The paging token is opaque to clients: the offset, base64url'd.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cql2
import numpy as np
import orjson
import shapely

__all__ = ["Search", "StacError", "decode_token", "encode_token", "parse_datetime", "search_of"]

DEFAULT_LIMIT = 10
"""Items per page when the request names no ``limit`` (stac-fastapi's and Terrascope's)."""

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


class StacError(Exception):
    """A request the STAC API cannot answer: ``status`` with ``{"code", "description"}``."""

    def __init__(self, description: str, code: str = "BadRequest", status: int = 400) -> None:
        super().__init__(description)
        self.description, self.code, self.status = description, code, status


@dataclass(frozen=True)
class Search:
    """One item search, checked and normalised; ``None`` means "not constrained"."""

    collections: tuple[str, ...] | None = None
    ids: tuple[str, ...] | None = None
    area: shapely.Geometry | None = None
    start: np.datetime64 | None = None
    end: np.datetime64 | None = None
    filter: cql2.Expr | None = None
    sortby: tuple[tuple[str, bool], ...] = ()  # (field, ascending)
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    echo: dict[str, Any] = field(default_factory=dict)  # the parameters, for next/prev links


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset})).decode().rstrip("=")


def decode_token(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        offset = orjson.loads(raw)["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise StacError(f"token {token[:60]!r} is not one this server issued") from None
    if not isinstance(offset, int) or offset < 0:
        raise StacError(f"token {token[:60]!r} is not one this server issued")
    return offset


def parse_datetime(text: str) -> np.datetime64:
    """An RFC 3339 date-time (any offset, any fraction) as naive-UTC datetime64[ms]."""
    match = _RFC3339.match(text.strip())
    if not match:
        raise StacError(
            f"datetime {text!r} is not an RFC 3339 date-time such as 2020-07-23T00:00:00Z"
        )
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int(((fraction or ".")[1:] + "000000")[:6])
    zone = dt.UTC
    if offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        zone = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    try:
        instant = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, zone
        )
    except ValueError as error:
        raise StacError(f"datetime {text!r} is not a valid date-time: {error}") from None
    return np.datetime64(instant.astimezone(dt.UTC).replace(tzinfo=None), "ms")


def _datetime(value: Any) -> tuple[np.datetime64 | None, np.datetime64 | None]:
    """An instant, or a closed or half-open interval (``a/b``, ``../b``, ``a/..``, ``/b``, ``a/``)."""
    if value is None:
        return None, None
    if not isinstance(value, str):
        raise StacError(f"datetime must be a string, got {value!r}")
    parts = value.split("/")
    if len(parts) == 1:
        instant = parse_datetime(parts[0])
        return instant, instant
    if len(parts) != 2:
        raise StacError(f"datetime {value!r} has more than one '/'")
    bounds = [None if p in ("", "..") else parse_datetime(p) for p in parts]
    if bounds[0] is None and bounds[1] is None:
        raise StacError(f"datetime {value!r} is open at both ends")
    if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
        raise StacError(f"datetime {value!r} ends before it starts")
    return bounds[0], bounds[1]


def _numbers(value: Any, name: str, post: bool = False) -> list[float]:
    if isinstance(value, str) and post:
        raise StacError(f"{name} in a POST body is a JSON array of numbers, got {value!r}")
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        raise StacError(f"{name} must be a list of numbers, got {value!r}")
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError):
        raise StacError(f"{name} must be numbers, got {value!r}") from None
    if not all(np.isfinite(numbers)):
        raise StacError(f"{name} must be finite numbers, got {value!r}")
    return numbers


def _bbox(value: Any, post: bool) -> shapely.Geometry | None:
    """4 or 6 numbers (the 6 with heights, ignored); west > east crosses the antimeridian."""
    if value is None or (value == "" and not post):
        return None
    numbers = _numbers(value, "bbox", post)
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    elif len(numbers) != 4:
        raise StacError(f"bbox must have 4 or 6 numbers, got {len(numbers)}: {value!r}")
    west, south, east, north = numbers
    if south > north or not all(-90 <= v <= 90 for v in (south, north)):
        raise StacError(f"bbox latitudes out of order or range: {value!r}")
    if not all(-180 <= v <= 180 for v in (west, east)):
        raise StacError(f"bbox longitudes out of range: {value!r}")
    if west <= east:
        return shapely.box(west, south, east, north)
    return shapely.union(
        shapely.box(west, south, 180, north), shapely.box(-180, south, east, north)
    )


def _intersects(value: Any) -> shapely.Geometry | None:
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    try:
        geometry = shapely.from_geojson(text)
    except (shapely.errors.GEOSException, ValueError):
        raise StacError(f"intersects is not a GeoJSON geometry: {text[:200]!r}") from None
    if geometry is None or geometry.is_empty:
        raise StacError("intersects is an empty geometry")
    return geometry


def _strings(value: Any, name: str) -> tuple[str, ...] | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise StacError(f"{name} must be a list of strings, got {value!r}")
    return tuple(v.strip() for v in value if v.strip()) or None


def _limit(value: Any, maximum: int, refuse: bool = False) -> int:
    """Items per page; above the server's maximum the maximum (as the STAC API spec says), or,
    with ``refuse``, a 400 worded as stac-fastapi's request validation words it."""
    if value is None or value == "":
        return min(DEFAULT_LIMIT, maximum)
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise StacError(f"limit must be an integer, got {value!r}") from None
    if isinstance(value, float | bool) or limit < 1:
        raise StacError(f"limit must be a whole number of at least 1, got {value!r}")
    if refuse and limit > maximum:
        raise StacError(
            f"[{{'type': 'less_than_equal', 'loc': ('query', 'limit'), 'msg': 'Input should be "
            f"less than or equal to {maximum}', 'input': {str(value)!r}, 'ctx': {{'le': "
            f"{maximum}}}}}]",
            "RequestValidationError",
        )
    return min(limit, maximum)


def _sortby(value: Any) -> tuple[tuple[str, bool], ...]:
    if value is None or value == "" or value == []:
        return ()
    specs: list[tuple[str, bool]] = []
    if isinstance(value, str):
        for part in value.split(","):
            part = part.strip()
            if part:
                specs.append((part.lstrip("+-"), not part.startswith("-")))
    elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
        for spec in value:
            direction = str(spec.get("direction", "asc")).lower()
            if not isinstance(spec.get("field"), str) or direction not in ("asc", "desc"):
                raise StacError(f"sortby entries are {{field, direction: asc|desc}}, got {spec!r}")
            specs.append((spec["field"], direction == "asc"))
    else:
        raise StacError(f"sortby must be a string or a list of {{field, direction}}, got {value!r}")
    return tuple(specs)


def _fields(value: Any, post: bool) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """``include``/``exclude`` from ``fields=a,-b`` or ``{"include": [...], "exclude": [...]}``.

    ``include`` is ``None`` when not given (the full item, less ``exclude``) and ``()`` when a
    POST body gives it empty (the default set, less ``exclude``), as stac-api-validator reads
    the fields extension.
    """
    if value is None:
        if post:
            raise StacError("fields must be an object {include, exclude}, not null")
        return None, ()
    include: list[str] | None = None
    exclude: list[str] = []
    if isinstance(value, str) and not post:
        for part in value.split(","):
            part = part.strip()
            if part.startswith("-"):
                exclude.append(part[1:])
            elif part:
                include = [*(include or []), part.lstrip("+")]
    elif isinstance(value, dict) and post:
        given = value.get("include")
        exclude = list(value.get("exclude") or [])
        if "include" in value:
            include = list(given or [])
        if not given and not exclude:
            return None, ()
    else:
        raise StacError(
            f"fields must be a string (GET) or {{include, exclude}} (POST), got {value!r}"
        )
    if not all(isinstance(f, str) for f in [*(include or []), *exclude]):
        raise StacError(f"fields names must be strings, got {value!r}")
    return (tuple(include) if include is not None else None), tuple(exclude)


def _filter(value: Any, lang: Any, default_lang: str) -> cql2.Expr | None:
    if value is None or value == "":
        return None
    lang = lang or default_lang
    if lang not in ("cql2-text", "cql2-json"):
        raise StacError(f"filter-lang must be cql2-text or cql2-json, got {lang!r}")
    try:
        if lang == "cql2-json":
            tree = orjson.loads(value) if isinstance(value, str) else value
            expression = cql2.Expr(_flat_between(tree))
        elif isinstance(value, str):
            expression = cql2.Expr(value)
        else:
            raise StacError(f"a cql2-text filter must be a string, got {value!r}")
        expression.validate()
    except StacError:
        raise
    except Exception as error:  # cql2 raises plain Exception, ParseError or ValidationError
        raise StacError(f"filter is not valid {lang}: {error}") from None
    return expression


def _flat_between(tree: Any) -> Any:
    """Pre-1.0 CQL2 JSON wrote ``between`` as ``[property, [low, high]]`` (still sent by
    stac-api-validator); CQL2 1.0, which ``cql2`` parses, as ``[property, low, high]``."""
    if isinstance(tree, list):
        return [_flat_between(t) for t in tree]
    if not isinstance(tree, dict):
        return tree
    tree = {k: _flat_between(v) for k, v in tree.items()}
    args = tree.get("args")
    legacy = isinstance(args, list) and len(args) == 2 and isinstance(args[1], list)
    if tree.get("op") == "between" and legacy and len(args[1]) == 2:
        tree["args"] = [args[0], *args[1]]
    return tree


QUERY_OPERATORS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
"""The Query extension's comparisons and the CQL2 operator each means (``in`` apart)."""


def _query(value: Any, post: bool) -> cql2.Expr | None:
    """The Query extension's ``{"eo:cloud_cover": {"lte": 60}}`` (JSON text in a GET) as the
    CQL2 expression it means, so that one matcher answers both extensions."""
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, str) and not post:
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise StacError(f"query is not JSON: {value[:200]!r}") from None
    if not isinstance(value, dict):
        raise StacError(f"query must be an object {{property: {{operator: value}}}}, got {value!r}")
    parts: list[dict[str, Any]] = []
    for name, comparisons in value.items():
        if not isinstance(comparisons, dict) or not comparisons:
            raise StacError(f"query[{name!r}] must be an object {{operator: value}}")
        for operator, operand in comparisons.items():
            if operator == "in" and isinstance(operand, list):
                parts.append({"op": "in", "args": [{"property": name}, operand]})
            elif operator in QUERY_OPERATORS and isinstance(operand, str | int | float):
                parts.append(
                    {"op": QUERY_OPERATORS[operator], "args": [{"property": name}, operand]}
                )
            else:
                known = ", ".join([*QUERY_OPERATORS, "in"])
                raise StacError(
                    f"query[{name!r}]: {operator!r} with {operand!r} is not a comparison this "
                    f"server takes ({known})"
                )
    return cql2.Expr(parts[0] if len(parts) == 1 else {"op": "and", "args": parts})


def _both(first: cql2.Expr | None, second: cql2.Expr | None) -> cql2.Expr | None:
    if first is None or second is None:
        return first or second
    return cql2.Expr({"op": "and", "args": [first.to_json(), second.to_json()]})


def search_of(
    parameters: Mapping[str, Any],
    *,
    maximum: int,
    post: bool,
    collection: str | None = None,
    refuse: bool = False,
    filtering: str = "filter",
) -> Search:
    """The search that GET query ``parameters`` (``post=False``) or a POST body describe.

    ``collection`` is the path's collection for ``/collections/{id}/items``; ``refuse`` answers
    a ``limit`` above ``maximum`` with a 400 rather than serve ``maximum`` items; ``filtering``
    is the extension the server declares (``filter``, ``query`` or ``none``): the other's
    parameter is refused with a 400, so that a client sending what was not declared shows.
    """
    for name, extension in (("filter", "filter"), ("query", "query")):
        if parameters.get(name) not in (None, "", {}) and filtering != extension:
            raise StacError(
                f"{name} is not supported: this server does not declare the {extension.title()} "
                "extension"
            )
    if parameters.get("bbox") not in (None, "") and parameters.get("intersects") not in (None, ""):
        raise StacError("bbox and intersects exclude each other")
    area = _bbox(parameters.get("bbox"), post) or _intersects(parameters.get("intersects"))
    start, end = _datetime(parameters.get("datetime") or None)
    include, exclude = _fields(parameters["fields"], post) if "fields" in parameters else (None, ())
    collections = _strings(parameters.get("collections"), "collections")
    if collection is not None:
        collections = (collection,)
    token = parameters.get("token")
    echo = {k: v for k, v in parameters.items() if k != "token"}
    return Search(
        collections=collections,
        ids=_strings(parameters.get("ids"), "ids"),
        area=area,
        start=start,
        end=end,
        filter=_both(
            _filter(
                parameters.get("filter"),
                parameters.get("filter-lang"),
                "cql2-json" if post else "cql2-text",
            ),
            _query(parameters.get("query"), post),
        ),
        sortby=_sortby(parameters.get("sortby")),
        include=include,
        exclude=exclude,
        limit=_limit(parameters.get("limit"), maximum, refuse),
        offset=decode_token(str(token)) if token else 0,
        echo=echo,
    )
