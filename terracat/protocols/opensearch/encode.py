"""A checked search request -> OpenSearch query parameters, in the catalogue's value syntax.

Terrascope's catalogue reads one spelling per parameter: ``bbox=4.1,50.0,5.5,51.0``,
``cloudCover=[10,60]`` (an interval; ``60]`` an upper bound, ``[10`` a lower one),
``start=2021-02-20T10:11:12Z`` or a bare date ``2020-01-01``, geometries as WKT. The values
arrive checked and protocol-neutral (:mod:`terracat.request`); this module only writes them, and
writes what the user gave in the catalogue's own syntax (a str) exactly as given.

>>> product_query("urn:eop:VITO:TERRASCOPE_S2_TOC_V2", start=dt.date(2022, 2, 1),
...               bbox=[4.1, 50.0, 5.5, 51.0], cloudCover=(None, 60))
{'collection': 'urn:eop:VITO:TERRASCOPE_S2_TOC_V2', 'start': '2022-02-01', \
'bbox': '4.1,50.0,5.5,51.0', 'cloudCover': '60]'}
"""

from __future__ import annotations

import datetime as dt  # noqa: F401 - the examples use it
from typing import Any

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

__all__ = ["collection_query", "encode", "product_query", "write_time"]


def write_time(instant: Instant) -> str:
    """A time as the catalogue reads it: a calendar date as ``2020-01-01``, else UTC ``...Z``."""
    value = instant.value
    if instant.is_date:
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    return format_datetime(value)


def _write_bound(bound: Any) -> str:
    return write_time(bound) if isinstance(bound, Instant) else str(bound)


def _write_interval(interval: Interval) -> str:
    if interval.lower is None:
        return f"{_write_bound(interval.upper)}]"
    if interval.upper is None:
        return f"[{_write_bound(interval.lower)}"
    return f"[{_write_bound(interval.lower)},{_write_bound(interval.upper)}]"


def _write(value: Any) -> str:
    """One neutral filter value in OpenSearch's value syntax."""
    if isinstance(value, Verbatim):
        return value.text
    if isinstance(value, Instant):
        return write_time(value)
    if isinstance(value, Interval):
        return _write_interval(value)
    if isinstance(value, Box):
        return value.text if value.text is not None else ",".join(map(str, value.numbers))
    if isinstance(value, Area):
        return value.wkt
    return str(value)  # text filters and orbit numbers


def _write_extra(name: str, value: Any) -> str:
    """A parameter terracat does not know: passed through as text, as the reference does."""
    if isinstance(value, str):
        return str.__str__(value)  # a (str, Enum) member's value, not 'Class.MEMBER'
    try:
        return str(value)
    except Exception as error:  # a user's object may fail to stringify; say which parameter
        raise ParameterParserException(
            f"Failed to parse the value of the '{name}' parameter: {show(value)}. "
            f"It cannot be written as text: {error!r}."
        ) from error


def encode(request: SearchRequest) -> dict[str, str]:
    """The query parameters of ``request``: the collection first, then the filters in the order
    of :data:`terracat.request.FILTERS`, then the extra parameters as given."""
    query = {} if request.collection is None else {"collection": request.collection}
    query.update((name, _write(value)) for name, value in request.filters.items())
    query.update((name, _write_extra(name, value)) for name, value in request.extra.items())
    return query


def product_query(collection: Any, **parameters: Any) -> dict[str, str]:
    """The OpenSearch query of a product search (the filters of :class:`SearchRequest`)."""
    return encode(SearchRequest.for_products(collection, **parameters))


def collection_query(**parameters: Any) -> dict[str, str]:
    """The OpenSearch query of a search of collections."""
    return encode(SearchRequest.for_collections(**parameters))
