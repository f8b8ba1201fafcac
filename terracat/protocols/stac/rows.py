"""STAC items flattened into the frame's rows, and STAC collections into a collections frame.

The general path, msgspec and Python: every item can be flattened here whatever its shape
(Terrascope's 2023 and 2026 items, the Data Space's, Earth Search's). An item becomes

- ``title`` (``properties.title``, else the id), ``collection``, ``beginningDateTime`` and
  ``endingDateTime`` (``start_datetime``/``end_datetime``, else ``datetime``);
- every scalar item property under its STAC name (lists and objects stay in the ``properties``
  text, as on OpenSearch);
- the OpenSearch names where the meaning is the same (:data:`ALIASES`), so that one
  ``df.query`` works on both protocols;
- file lists from its assets, by their roles (:func:`file_kind`).

The ``properties`` text column holds the whole item, so nothing of it is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

import geopandas
import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from terracat.exceptions import ParameterParserException
from terracat.frame import FILE_COLUMNS, DecodedRows, gc_paused
from terracat.frame.files import FILE_LIST, INT64_MAX, INT64_MIN

__all__ = [
    "ALIASES",
    "HREF_MODES",
    "StacDecoder",
    "collections_frame",
    "file_kind",
    "stac_rows",
    "tile_id",
]

HREF_MODES = ("", "MEP")
"""Which href of an asset a file entry takes: the asset's own (``""``), or its local path where
the item has one (``"MEP"``: ``alternate.local``, 2026, or ``alternate.MEP``, 2023)."""

_ALTERNATES = {"": (), "MEP": ("local", "MEP")}
_PREVIEW_ROLES = frozenset(("overview", "thumbnail", "visual"))
_RESERVED = frozenset(("id", "collection", "geometry", "properties", *FILE_COLUMNS))
"""Names a property cannot take as a column: the frame's own (the item's value stays in the text)."""


def file_kind(roles: object) -> str:
    """The file list an asset goes to, by the first rule its roles match: ``data`` (or no
    roles) -> ``data``; ``overview``/``thumbnail``/``visual`` -> ``previews``; ``metadata`` ->
    ``alternates``; anything else -> ``related``."""
    if not isinstance(roles, list) or not roles or "data" in roles:
        return "data"
    if not _PREVIEW_ROLES.isdisjoint(r for r in roles if isinstance(r, str)):
        return "previews"
    if "metadata" in roles:
        return "alternates"
    return "related"


def tile_id(properties: dict[str, Any]) -> str | None:
    """The MGRS tile (``31UFS``) as the item holds it: ``grid:code`` ``MGRS-31UFS``, the
    ``mgrs:*`` fields, or ``s2:mgrs_tile``."""
    code = properties.get("grid:code")
    if isinstance(code, str) and code.upper().startswith("MGRS-"):
        return code[5:]
    zone, band, square = (
        properties.get(k) for k in ("mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square")
    )
    if type(zone) is int and isinstance(band, str) and isinstance(square, str):
        return f"{zone:02d}{band}{square}"
    tile = properties.get("s2:mgrs_tile")
    return tile if isinstance(tile, str) else None


def _number(value: Any) -> float | int | None:
    return value if type(value) in (int, float) else None


def _integer(value: Any) -> int | None:
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _upper(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


ALIASES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "cloudCover": (lambda p: _number(p.get("eo:cloud_cover")), "eo:cloud_cover"),
    "tileId": (tile_id, "grid:code, mgrs:* or s2:mgrs_tile"),
    "relativeOrbitNumber": (lambda p: _integer(p.get("sat:relative_orbit")), "sat:relative_orbit"),
    "orbitDirection": (lambda p: _upper(p.get("sat:orbit_state")), "sat:orbit_state"),
    "productType": (lambda p: _text(p.get("product:type")), "product:type"),
}
"""The OpenSearch column names a STAC item fills, each from the STAC fields named beside it."""

_SCALARS = frozenset((str, int, float, bool))
_generic = msgspec.json.Decoder()


def _files(assets: Any, alternates: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    lists: dict[str, list[dict[str, Any]]] = {kind: [] for kind in FILE_COLUMNS}
    if not isinstance(assets, dict):
        return lists
    for key, asset in assets.items():
        if not isinstance(asset, dict):
            continue
        href = asset.get("href")
        for name in alternates:
            alternate = asset.get("alternate")
            other = alternate.get(name) if isinstance(alternate, dict) else None
            if isinstance(other, dict) and isinstance(other.get("href"), str):
                href = other["href"]
                break
        title = asset.get("title")
        lists[file_kind(asset.get("roles"))].append(
            {
                "href": _text(href),
                "length": _integer(asset.get("file:size")),
                "title": title if isinstance(title, str) else key,
                "type": _text(asset.get("type")),
                "category": key,
            }
        )
    return lists


def _row(item: dict[str, Any]) -> dict[str, Any]:
    properties = item.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    identifier = item.get("id")
    title = properties.get("title")
    row: dict[str, Any] = {
        "title": title if isinstance(title, str) else _id_text(identifier),
        "collection": _text(item.get("collection")),
    }
    for key, value in properties.items():
        if type(value) in _SCALARS and key not in _RESERVED and key not in row:
            row[key] = value
    instant = _text(properties.get("datetime"))
    row["beginningDateTime"] = _text(properties.get("start_datetime")) or instant
    row["endingDateTime"] = _text(properties.get("end_datetime")) or instant
    for name, (derive, _) in ALIASES.items():
        value = derive(properties)
        if value is not None or name not in row:
            row[name] = value
    return row


def _id_text(identifier: Any) -> str | None:
    if isinstance(identifier, str):
        return identifier
    return None if identifier is None else msgspec.json.encode(identifier).decode()


def stac_rows(
    items: Sequence[bytes], href_mode: str = ""
) -> tuple[dict[str, Sequence[Any]], pa.Table]:
    """Items (each a JSON object) flattened into columns by name, and their four file lists."""
    alternates = _ALTERNATES[href_mode]
    rows = []
    lists: dict[str, list[Any]] = {kind: [] for kind in FILE_COLUMNS}
    with gc_paused():
        for raw in items:
            item = _generic.decode(raw)
            item = item if isinstance(item, dict) else {}
            rows.append(_row(item))
            for kind, entries in _files(item.get("assets"), alternates).items():
                lists[kind].append(entries)
        columns = _transposed(rows)
    files = pa.table({kind: pa.array(lists[kind], FILE_LIST) for kind in FILE_COLUMNS})
    return columns, files


def _transposed(rows: list[dict[str, Any]]) -> dict[str, Sequence[Any]]:
    """Rows as columns (``None`` where a row lacks a name), in order of first appearance."""
    names = list(dict.fromkeys(chain.from_iterable(rows)))
    return {name: [row.get(name) for row in rows] for name in names}


def _text_array(items: Sequence[bytes]) -> pa.Array:
    """The items' JSON as one Arrow string array over one joined buffer."""
    offsets = np.zeros(len(items) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, items), np.int64, len(items)), out=offsets[1:])
    data = pa.py_buffer(b"".join(items))
    if offsets[-1] < 2**31:
        return pa.Array.from_buffers(
            pa.string(), len(items), [None, pa.py_buffer(offsets.astype(np.int32)), data]
        )
    return pa.Array.from_buffers(pa.large_string(), len(items), [None, pa.py_buffer(offsets), data])


class StacDecoder:
    """A :class:`~terracat.frame.builder.Decoder` for STAC items (one per search).

    ``href_mode``: ``""`` takes the assets' hrefs, ``"MEP"`` their ``alternate.local`` (2026)
    or ``alternate.MEP`` (2023) hrefs where an asset has one (``accessedFrom="MEP"``).
    """

    def __init__(self, *, href_mode: str = "") -> None:
        if href_mode not in HREF_MODES:
            raise ParameterParserException(
                f"href_mode must be one of {HREF_MODES} (accessedFrom MEP or not), not {href_mode!r}"
            )
        self.href_mode = href_mode

    def decode(self, properties: Sequence[bytes]) -> _Decoded:
        """Decode a batch of whole items (each a JSON object)."""
        columns, files = stac_rows(properties, self.href_mode)
        return _Decoded(DecodedRows(_text_array(properties), columns, files, False))


class _Decoded:
    """A batch decoded at once: the general path holds the interpreter lock anyway."""

    def __init__(self, rows: DecodedRows) -> None:
        self._rows = rows

    def done(self) -> bool:
        return True

    def rows(self) -> DecodedRows:
        return self._rows


def collections_frame(collections: list[dict[str, Any]]) -> geopandas.GeoDataFrame:
    """STAC collections as a frame: ``id``, ``title`` (else the id), the first spatial extent's
    box as ``geometry`` (EPSG:4326), and ``properties``, the whole collection as JSON text
    (what :func:`terracat.products.collection_from_row` reads back)."""
    ids, titles, boxes, texts = [], [], [], []
    for collection in collections:
        identifier = _id_text(collection.get("id"))
        title = collection.get("title")
        ids.append(identifier)
        titles.append(title if isinstance(title, str) else identifier)
        boxes.append(_first_box(collection))
        texts.append(msgspec.json.encode(collection).decode())
    return geopandas.GeoDataFrame(
        {
            "id": pd.array(ids, dtype="string"),
            "title": pd.array(titles, dtype="string"),
            "properties": pd.array(texts, dtype="string"),
        },
        geometry=geopandas.GeoSeries(boxes, crs="EPSG:4326"),
        crs="EPSG:4326",
    )


def _first_box(collection: dict[str, Any]) -> Any:
    try:
        box = collection["extent"]["spatial"]["bbox"][0]
        if len(box) == 6:  # 3D: minx, miny, minz, maxx, maxy, maxz
            box = [box[0], box[1], box[3], box[4]]
        west, south, east, north = (float(v) for v in box)
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return shapely.box(west, south, east, north)
