"""STAC items made from OpenSearch products, read back with the products' own file lists.

An OpenSearch product's STAC item (:func:`terracat.stacio.items.opensearch_item`) has its files
as assets whose roles match Terrascope's STAC items (a quality band such as ``AOT`` is
``data``), so a STAC decoder would sort them into other file lists than the product's
(``related``) and title them by asset key. The item also keeps the product's original
properties under :data:`~terracat.stacio.items.OPENSEARCH_PROPERTIES`, whose ``links`` are the
product's file lists: :class:`OriginalFilesDecoder` takes those, so that an OpenSearch frame read
back from its stac-geoparquet has the same ``files(kind)`` for every kind. Any other item keeps the
file lists of its assets.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import pyarrow as pa

from terracat.frame import DecodedRows, Decoder, Decoding, FileLists
from terracat.stacio.items import OPENSEARCH_PROPERTIES

__all__ = ["OriginalFilesDecoder", "original_links"]


class _Original(msgspec.Struct, gc=False):
    links: msgspec.Raw = msgspec.Raw(b"null")  # msgspec takes no union with Raw


class _Properties(msgspec.Struct, gc=False):
    original: _Original | None = msgspec.field(default=None, name=OPENSEARCH_PROPERTIES)


class _Item(msgspec.Struct, gc=False):
    """The one member of an item read here; msgspec skips the rest without making objects."""

    properties: _Properties | None = None


_item = msgspec.json.Decoder(_Item).decode


def original_links(item: bytes) -> bytes | None:
    """The raw ``links`` of the OpenSearch properties an item keeps, if it keeps them as an
    object (an item shaped otherwise keeps its assets' file lists)."""
    try:
        properties = _item(item).properties
    except msgspec.ValidationError:
        return None
    if properties is None or properties.original is None:
        return None
    links = bytes(properties.original.links)
    return None if links == b"null" else links


class OriginalFilesDecoder:
    """A :class:`~terracat.frame.builder.Decoder` around a STAC one: the rows it makes, with the
    file lists of items that keep their OpenSearch properties taken from those properties."""

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder

    def decode(self, properties: Sequence[bytes]) -> _Decoding:
        return _Decoding(self.decoder.decode(properties), properties)


class _Decoding:
    def __init__(self, decoding: Decoding, items: Sequence[bytes]) -> None:
        self.decoding = decoding
        links = [original_links(item) for item in items]
        self.positions = [n for n, raw in enumerate(links) if raw is not None]
        # parsed in the background while the STAC rows are
        self.original = FileLists([links[n] for n in self.positions]) if self.positions else None

    def done(self) -> bool:
        return self.decoding.done()

    def rows(self) -> DecodedRows:
        rows = self.decoding.rows()
        if self.original is None:
            return rows
        files = rows.files
        picks = list(range(files.num_rows))
        for k, position in enumerate(self.positions):
            picks[position] = files.num_rows + k
        original = self.original.table().cast(files.schema)
        files = pa.concat_tables([files, original]).take(picks)
        return DecodedRows(rows.text, rows.columns, files, rows.columnar)
