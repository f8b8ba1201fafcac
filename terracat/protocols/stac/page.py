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
import numpy as np
import pyarrow as pa

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


class _RawPage(msgspec.Struct):
    features: list[msgspec.Raw] = []
    links: list[dict[str, Any]] = []
    numberMatched: int | None = None  # the API's camelCase names
    numberReturned: int | None = None


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
    lets msgspec follow is refused whole, as on OpenSearch.
    """
    if not _is_utf8(body):
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
    return StacPage(features, raw.links, raw.numberMatched, raw.numberReturned)


def _is_utf8(body: bytes) -> bool:
    large = len(body) >= 2**31
    size = pa.py_buffer(np.array([0, len(body)], np.int64 if large else np.int32))
    binary, text = (pa.large_binary(), pa.large_string()) if large else (pa.binary(), pa.string())
    try:
        pa.Array.from_buffers(binary, 1, [None, size, pa.py_buffer(body)]).cast(text)
    except pa.ArrowInvalid:
        return False
    return True
