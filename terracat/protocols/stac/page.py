"""One STAC API ``/search`` (or ``/items``) answer decoded: counts, links, raw items.

A STAC item is a GeoJSON feature, but the frame's ``properties`` text column holds the *whole*
item (its assets, links and top-level members are part of the product), so a feature's
``properties`` here is the item's own raw JSON: the rows decoder
(:mod:`terracat.protocols.stac.rows`) reads properties, assets and times from it in the frame
builder's batches. Only the id and the geometry are read here, the two members the builder
needs apart.
"""

from __future__ import annotations

from typing import Any

import msgspec

from terracat.protocols.answers import is_utf8

__all__ = ["StacFeature", "StacPage", "decode_stac_page"]


class StacFeature(msgspec.Struct):
    """One item as :class:`terracat.frame.builder.FrameBuilder` takes it.

    ``properties`` is the whole item's JSON (not only its ``properties`` member): the frame's
    ``properties`` column holds the item, losslessly.
    """

    id: str | int | float
    properties: msgspec.Raw
    geometry: msgspec.Raw


class _ItemHead(msgspec.Struct):
    id: str | int | float
    geometry: msgspec.Raw = msgspec.Raw(b"null")


class _Context(msgspec.Struct):
    matched: int | None = None
    returned: int | None = None


class _RawPage(msgspec.Struct):
    features: list[msgspec.Raw] = []
    links: list[dict[str, Any]] = []
    numberMatched: int | None = None  # the API's camelCase names
    numberReturned: int | None = None
    context: _Context | None = None  # the Context extension of STAC API < 1.0 servers


class StacPage(msgspec.Struct):
    """One answer: its items (raw), paging links, and the counts the server gave."""

    features: list[StacFeature] = []
    links: list[dict[str, Any]] = []
    numberMatched: int | None = None
    numberReturned: int | None = None


_page_decoder = msgspec.json.Decoder(_RawPage)
_head_decoder = msgspec.json.Decoder(_ItemHead)


def decode_stac_page(body: bytes) -> StacPage:
    """Decode an ItemCollection (a ``msgspec.ValidationError``/``DecodeError`` when malformed).

    The body is checked as UTF-8 first (by Arrow, without a copy): msgspec does not check the
    raw parts it keeps, and the whole item becomes a text column. An item that is not an object
    with an ``id`` is a ``ValidationError``. A page nested deeper than Python's recursion limit
    lets msgspec follow is refused whole, as on OpenSearch. Servers of STAC API before 1.0
    give their counts in the Context extension (``context.matched``): read as the same counts.
    """
    if not is_utf8(body):
        raise msgspec.DecodeError("the page is not UTF-8 text")
    try:
        raw = _page_decoder.decode(body)
        features = []
        for item in raw.features:
            head = _head_decoder.decode(item)
            features.append(StacFeature(head.id, item, head.geometry))
    except RecursionError:
        raise msgspec.DecodeError(
            "the page nests arrays and objects too deeply to be read (deeper than Python's "
            "recursion limit)"
        ) from None
    matched, returned = raw.numberMatched, raw.numberReturned
    if raw.context is not None:
        matched = raw.context.matched if matched is None else matched
        returned = raw.context.returned if returned is None else returned
    return StacPage(features, raw.links, matched, returned)
