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

The ``properties`` text column holds the whole item, so nothing of it is lost. The fast path
(:mod:`terracat.protocols.stac.arrow_rows`) gives the same rows from Arrow; the decoder joining
the two is :class:`terracat.protocols.stac.decoder.StacDecoder`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain
from typing import Annotated, Any

import geopandas
import msgspec
import pandas as pd
import shapely

from terracat.frame import FILE_COLUMNS, FileLists, gc_paused
from terracat.frame.contract import KNOWN_DTYPES, TIME_COLUMNS, empty_frame
from terracat.frame.files import INT64_MAX, INT64_MIN

__all__ = [
    "ALIASES",
    "HREF_MODES",
    "alternate_names",
    "collections_frame",
    "empty_stac_frame",
    "file_kind",
    "stac_rows",
    "tile_id",
]

HREF_MODES = ("", "MEP")
"""Which href of an asset a file entry takes: the asset's own (``""``), or its local path where
the item has one (``"MEP"``: ``alternate.local``, 2026, or ``alternate.MEP``, 2023)."""

_ALTERNATES = {"": (), "MEP": ("local", "MEP")}


def alternate_names(href_mode: str, preferred: Sequence[str] = ()) -> tuple[str, ...]:
    """The names of the alternates an asset's file entry takes the href of, the first an asset
    has winning: its local paths for ``href_mode="MEP"``, then the ``preferred`` ones
    (``[Catalogue] Alternate``: ``https`` for the Data Space); none: the asset's own href."""
    return tuple(dict.fromkeys((*_ALTERNATES[href_mode], *preferred)))


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
    if type(value) is float and value.is_integer() and -(2.0**63) <= value < 2.0**63:
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


_Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]


class _Alternate(msgspec.Struct, gc=False):
    href: str | None = None


class _Asset(msgspec.Struct, gc=False):
    """The members of an asset a file entry reads, typed as the file entry wants them (an
    asset of other types is cleaned); msgspec skips the rest without making objects."""

    href: str | None = None
    title: str | None = None
    type: str | None = None
    roles: list[str] = []
    size: _Int64 | None = msgspec.field(default=None, name="file:size")
    alternate: dict[str, _Alternate] = {}


class _Item(msgspec.Struct, gc=False):
    """The members of an item its row reads (links, bbox, extensions stay in the text only)."""

    id: Any = None
    collection: Any = None
    properties: dict[str, Any] = {}
    assets: dict[str, _Asset] = {}


class _File(msgspec.Struct, gc=False):
    href: str | None
    length: int | None
    title: str
    type: str | None
    category: str


class _FileLists(msgspec.Struct, gc=False):
    data: list[_File]
    related: list[_File]
    previews: list[_File]
    alternates: list[_File]


_item_decoder = msgspec.json.Decoder(_Item)
_encode = msgspec.json.Encoder().encode


def _item(raw: bytes) -> _Item:
    """One item's members, typed; an item whose members have the wrong shapes (properties or
    assets that are not objects, say) is cleaned, the ill-shaped parts dropped, rather than
    failing the search: its text keeps them in any case."""
    try:
        return _item_decoder.decode(raw)
    except msgspec.ValidationError:
        pass
    item = _generic.decode(raw)
    item = item if isinstance(item, dict) else {}
    properties = item.get("properties")
    assets = item.get("assets")
    cleaned = {
        "id": item.get("id"),
        "collection": item.get("collection"),
        "properties": properties if isinstance(properties, dict) else {},
        "assets": {
            key: _cleaned_asset(asset)
            for key, asset in (assets.items() if isinstance(assets, dict) else ())
            if isinstance(asset, dict)
        },
    }
    return msgspec.convert(cleaned, _Item)


def _cleaned_asset(asset: dict[str, Any]) -> dict[str, Any]:
    """An asset's members as :class:`_Asset` types them: text that is not text dropped, a size
    as an integer where it is one, roles that are not text left out."""
    alternate = asset.get("alternate")
    roles = asset.get("roles")
    return {
        **{k: _text(asset.get(k)) for k in ("href", "title", "type")},
        "roles": [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else [],
        "file:size": _integer(asset.get("file:size")),
        "alternate": {
            name: {"href": _text(other.get("href"))}
            for name, other in (alternate.items() if isinstance(alternate, dict) else ())
            if isinstance(other, dict)
        },
    }


_kinds: dict[tuple[str, ...], str] = {}
"""File kinds of the role sets seen (a catalogue uses a handful): one lookup per asset."""


def _kind(roles: list[str]) -> str:
    key = tuple(roles)
    kind = _kinds.get(key)
    if kind is None:
        kind = file_kind(roles)
        if len(_kinds) < 4096:
            _kinds[key] = kind
    return kind


def _files(assets: dict[str, _Asset], alternates: tuple[str, ...]) -> bytes:
    """An item's four file lists as JSON, for Arrow's reader (:class:`FileLists`)."""
    lists: dict[str, list[_File]] = {kind: [] for kind in FILE_COLUMNS}
    for key, asset in assets.items():
        href = asset.href
        for name in alternates:
            other = asset.alternate.get(name)
            if other is not None and other.href is not None:
                href = _local_url(other.href)
                break
        title = key if asset.title is None else asset.title
        lists[_kind(asset.roles)].append(_File(href, asset.size, title, asset.type, key))
    return _encode(_FileLists(**lists))


def _local_url(href: str) -> str:
    """An alternate's href as a URL: a bare path (the 2023 items' local alternates,
    ``/data/...``) as ``file://``, since the fetchers are picked by scheme."""
    return "file://" + href if href.startswith("/") else href


def _row(item: _Item) -> dict[str, Any]:
    properties = item.properties
    title = properties.get("title")
    row: dict[str, Any] = {
        "title": title if isinstance(title, str) else _id_text(item.id),
        "collection": _text(item.collection),
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
    items: Sequence[bytes], alternates: tuple[str, ...] = ()
) -> tuple[dict[str, Sequence[Any]], FileLists]:
    """Items (each a JSON object) flattened into columns by name, and their four file lists
    (being parsed by Arrow in the background), each entry the href of the first of its asset's
    ``alternates`` (:func:`alternate_names`) it has, else the asset's own."""
    with gc_paused():
        decoded = [_item(raw) for raw in items]
        files = FileLists([_files(item.assets, alternates) for item in decoded])
        columns = _transposed([_row(item) for item in decoded])
    return columns, files


def _transposed(rows: list[dict[str, Any]]) -> dict[str, Sequence[Any]]:
    """Rows as columns (``None`` where a row lacks a name), in order of first appearance;
    transposed by ``zip`` in C when the rows share one key layout (most searches' items)."""
    if not rows:
        return {}
    layouts = list(map(tuple, rows))
    if layouts.count(layouts[0]) == len(layouts):
        return dict(zip(layouts[0], zip(*map(dict.values, rows), strict=True), strict=True))
    names = list(dict.fromkeys(chain.from_iterable(dict.fromkeys(layouts))))
    return {name: [row.get(name) for row in rows] for name in names}


ITEM_TIMES = ("beginningDateTime", "endingDateTime")
"""The time columns every item gives (its other times are properties under their STAC names)."""


def empty_stac_frame() -> geopandas.GeoDataFrame:
    """The frame of a STAC search that matched nothing: the columns every STAC frame has, typed
    as the contract types them (the core, :data:`ITEM_TIMES`, the OpenSearch names of
    :data:`ALIASES`, the file lists, ``properties``, ``geometry``), so that the ``df.query``
    written for a full result runs on an empty one. OpenSearch's other time columns (``date``,
    ``published``, ...) are not among them: an item has such times only as properties of its
    own, under their STAC names."""
    frame = empty_frame().drop(columns=[c for c in TIME_COLUMNS if c not in ITEM_TIMES])
    at = frame.columns.get_loc(FILE_COLUMNS[0])
    for offset, name in enumerate(a for a in ALIASES if a not in frame.columns):
        frame.insert(at + offset, name, pd.Series(dtype=KNOWN_DTYPES[name]))
    return frame


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


def __getattr__(name: str) -> Any:
    """:class:`~terracat.protocols.stac.decoder.StacDecoder`, still importable from here, where
    it was: its module imports this one, so it cannot be imported at the top."""
    if name == "StacDecoder":
        from terracat.protocols.stac.decoder import StacDecoder

        return StacDecoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
