"""One OpenSearch answer (OGC 17-047r1 GeoJSON) decoded: totals, paging links, raw features.

msgspec splits a page into ids, raw geometry and raw properties; nothing else of a product is
read here (its rows are made by :mod:`terracat.protocols.opensearch.rows` and
:mod:`~terracat.protocols.opensearch.arrow_rows`, in the frame builder's batches).
"""

from __future__ import annotations

from typing import Any

import msgspec

from terracat.protocols.answers import is_utf8

__all__ = ["Page", "decode_page"]


class _Links(msgspec.Struct):
    first: list[dict[str, Any]] = []
    previous: list[dict[str, Any]] = []
    next: list[dict[str, Any]] = []
    last: list[dict[str, Any]] = []


class _PageProperties(msgspec.Struct):
    links: _Links = msgspec.field(default_factory=_Links)


class _Feature(msgspec.Struct):
    id: str | int | float  # GeoJSON allows a number; the frame's id column is text
    properties: msgspec.Raw = msgspec.Raw(b"null")  # absent: read as GeoJSON's null
    geometry: msgspec.Raw = msgspec.Raw(b"null")


class Page(msgspec.Struct):
    """One catalogue answer: totals, paging links, and features kept as raw JSON."""

    features: list[_Feature] = []
    totalResults: int | None = None  # the protocol's camelCase names
    startIndex: int | None = None
    itemsPerPage: int | None = None
    properties: _PageProperties = msgspec.field(default_factory=_PageProperties)


_page_decoder = msgspec.json.Decoder(Page)


def decode_page(body: bytes) -> Page:
    """Decode a catalogue page (a ``msgspec.ValidationError``/``DecodeError`` when malformed).

    JSON is UTF-8, and msgspec does not check the raw parts it keeps, so the whole body is
    checked first (by Arrow, without a copy): no column is ever made of bytes that are not text.
    msgspec recurses once per nesting level, bounded by Python's recursion limit, and skipping
    a raw part recurses as much as reading it: a page nested deeper is refused here, whole (a
    scan of the depth beforehand would cost several times the decoding).
    """
    if not is_utf8(body):
        raise msgspec.DecodeError("the page is not UTF-8 text")
    try:
        return _page_decoder.decode(body)
    except RecursionError:
        raise msgspec.DecodeError(
            "the page nests arrays and objects too deeply to be read (deeper than Python's "
            "recursion limit)"
        ) from None
