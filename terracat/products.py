"""The documented object API of the reference client, as views over frame rows.

``Product``, ``Collection``, ``ProductFile`` and ``ProductFileType`` keep the reference client's
names, attributes and meaning (``../shared/API.md``); a view is made from one frame row, never
the other way round, so that a frame read back from GeoParquet gives the same objects as a fresh
search, whichever protocol the rows came from.
"""

from __future__ import annotations

import datetime as dt
import enum
import html
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from terracat.exceptions import ParameterParserException
from terracat.frame import FILE_COLUMNS, as_naive_utc, unusable_product

__all__ = [
    "Collection",
    "Product",
    "ProductFile",
    "ProductFileType",
    "collection_from_row",
    "file_kinds",
    "links_of",
    "product_from_row",
    "row_links",
    "rows",
]


class Collection:
    """Collection returned from a catalogue search.

    Attributes
    ----------
    id : str
        collection identifier
    geojson : dict
        GeoJSON representation of the collection
    geometry : BaseGeometry
        collection geometry as a Shapely geometry
    bbox : list of float
        bounding box
    properties : dict
        collection properties
    """

    def __init__(
        self, id: str, geojson: dict, geometry: BaseGeometry, bbox: list[float], properties: dict
    ) -> None:
        self.id = id
        self.geojson = geojson
        self.geometry = geometry
        self.bbox = bbox
        self.properties = properties

    def __str__(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"Collection({self.id!r}, title={self.properties.get('title')!r})"

    def _repr_html_(self) -> str:
        """A card for notebooks, like :meth:`Product._repr_html_`: what the row says of it.

        Every value is escaped: a catalogue's titles and links are text, never markup.
        """
        rows = [
            ("title", self.properties.get("title")),
            ("time extent", _time_extent(self.properties)),
            ("bbox", ", ".join(f"{v:g}" for v in self.bbox) if self.bbox else None),
            ("product types", _joined(_product_types(self.properties))),
        ]
        table = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in rows
            if v not in (None, "")
        )
        links = "".join(
            f'<li><a href="{html.escape(href)}">{html.escape(title)}</a></li>'
            for title, href in _collection_links(self.properties)
        )
        listed = f"<ul>{links}</ul>" if links else ""
        return f"<div><strong>{html.escape(self.id)}</strong><table>{table}</table>{listed}</div>"


def _product_types(properties: dict) -> Any:
    """OpenSearch names them ``productType``; a STAC collection summarises its items'
    ``product:type`` values."""
    if properties.get("productType") is not None:
        return properties["productType"]
    summaries = properties.get("summaries")
    return summaries.get("product:type") if isinstance(summaries, dict) else None


def _joined(value: Any) -> str | None:
    """A list (of product types, say) as one comma-separated line; a scalar as its text."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or None
    return str(value)


def _time_extent(properties: dict[str, Any]) -> str | None:
    """``start to end`` from OpenSearch's ``date`` (``start/end``) or a STAC ``extent``."""
    date = properties.get("date")
    if isinstance(date, str) and date:
        start, _, end = date.partition("/")
        return f"{start or '..'} to {end or '..'}"
    try:
        start, end = properties["extent"]["temporal"]["interval"][0]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return f"{start or '..'} to {end or '..'}"


def _collection_links(properties: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, href) of a collection's links: OpenSearch's ``links`` by relation, or STAC's list
    (whose navigation links, ``self``, ``root``, ``parent``, ``items``, are left out)."""
    links = properties.get("links")
    found: list[tuple[str, str]] = []
    if isinstance(links, dict):
        pairs = [
            (rel, link) for rel, some in links.items() if isinstance(some, list) for link in some
        ]
    elif isinstance(links, list):
        pairs = [(link.get("rel", ""), link) for link in links if isinstance(link, dict)]
        pairs = [(r, link) for r, link in pairs if r not in ("self", "root", "parent", "items")]
    else:
        return found
    for rel, link in pairs:
        if isinstance(link, dict) and isinstance(link.get("href"), str):
            found.append((str(link.get("title") or rel or link["href"]), link["href"]))
    return found


class ProductFileType(enum.Flag):
    """Enum flag to indicate the type of a product file."""

    DATA = enum.auto()  #: Data files
    RELATED = enum.auto()  #: Related files (eg. cloud mask)
    PREVIEWS = enum.auto()  #: Previews
    ALTERNATES = enum.auto()  #: Metadata description in an alternative format
    ALL = DATA | RELATED | PREVIEWS | ALTERNATES  #: Matches all types of files


class ProductFile:
    """File that belongs to a product.

    Attributes
    ----------
    href : str
        URI locator of the product file
    length : int or None
        content length in bytes
    title, type, category : str or None
        title, content type, and category (only for previews or related files)
    """

    def __init__(
        self,
        href: str,
        length: int | None,
        title: str | None = None,
        type: str | None = None,
        category: str | None = None,
    ) -> None:
        self.href = href
        self.length = length
        self.title = title
        self.type = type
        self.category = category

    def __str__(self) -> str:
        return self.href

    def __repr__(self) -> str:
        return f"ProductFile({self.href!r}, length={self.length!r}, title={self.title!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProductFile):
            return NotImplemented
        return (self.href, self.length, self.title, self.type, self.category) == (
            other.href,
            other.length,
            other.title,
            other.type,
            other.category,
        )

    def __hash__(self) -> int:
        return hash((self.href, self.length))

    def get_protocol(self) -> str:
        return self.href[: self.href.find("://")].lower()


class Product:
    """Product entry returned from a catalogue search.

    Attributes
    ----------
    id, title : str
        product identifier and title
    geojson : dict
        GeoJSON representation of the product
    geometry : BaseGeometry
        footprint
    bbox : list of float
        bounding box
    beginningDateTime, endingDateTime : datetime.datetime
        acquisition start and end, naive UTC as in the reference client
    properties : dict
        the product's properties as the catalogue sent them
    data, related, previews, alternates : list of ProductFile
        data files, related resources (e.g. cloud mask), quicklooks, alternative metadata
    """

    def __init__(
        self,
        id: str,
        title: str,
        geojson: dict,
        geometry: BaseGeometry,
        bbox: list[float],
        beginningDateTime: dt.datetime | None,
        endingDateTime: dt.datetime | None,
        properties: dict,
        data: list[ProductFile],
        related: list[ProductFile],
        previews: list[ProductFile],
        alternates: list[ProductFile],
    ) -> None:
        self.id = id
        self.title = title
        self.geojson = geojson
        self.geometry = geometry
        self.bbox = bbox
        self.beginningDateTime = beginningDateTime
        self.endingDateTime = endingDateTime
        self.properties = properties
        self.data = data
        self.related = related
        self.previews = previews
        self.alternates = alternates

    def __str__(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"Product({self.id!r}, beginningDateTime={self.beginningDateTime!r}, files={len(self.files())})"

    def _repr_html_(self) -> str:
        """A card for notebooks: the main fields, the files, and a quicklook when one is a picture."""
        rows = [
            ("title", self.title),
            ("acquired", f"{self.beginningDateTime} to {self.endingDateTime}"),
            *(
                (key, self.properties.get("productInformation", {}).get(key))
                for key in ("productType", "cloudCover")
                if key in self.properties.get("productInformation", {})
            ),
            *((kind, f"{len(getattr(self, kind))} file(s)") for kind in FILE_COLUMNS),
        ]
        table = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        picture = next(
            (f for f in self.previews if (f.type or "").lower() in ("image/png", "image/jpeg")),
            None,
        )
        image = (
            f'<img src="{html.escape(picture.href)}" style="max-width:256px">' if picture else ""
        )
        return f"<div><strong>{html.escape(self.id)}</strong><table>{table}</table>{image}</div>"

    def files(self, file_types: ProductFileType = ProductFileType.ALL) -> list[ProductFile]:
        """The product's files of the given types, data first."""
        chosen: list[ProductFile] = []
        for kind, flag in zip(FILE_COLUMNS, _FILE_FLAGS, strict=True):
            if flag in file_types:
                chosen += getattr(self, kind)
        return chosen


_FILE_FLAGS = (
    ProductFileType.DATA,
    ProductFileType.RELATED,
    ProductFileType.PREVIEWS,
    ProductFileType.ALTERNATES,
)


def _geojson(row: Any, properties: dict[str, Any]) -> dict[str, Any]:
    geometry = row.geometry
    return {
        "type": "Feature",
        "id": row.id,
        "geometry": None if geometry is None else shapely.geometry.mapping(geometry),
        "bbox": None if geometry is None else list(geometry.bounds),
        "properties": properties,
    }


def _properties_of(row: Any) -> dict[str, Any]:
    """A row's properties, from its text; json recurses per nesting level, bounded by Python's
    recursion limit from the caller's stack, which the search's parse may have been below.

    A GeoJSON export read back with ``geopandas.read_file`` gives the column as dicts already.
    """
    if isinstance(row.properties, dict):
        return row.properties
    try:
        return json.loads(row.properties)  # type: ignore[no-any-return]
    except RecursionError:
        problem = "its properties nest arrays and objects too deeply to be read here"
        raise unusable_product(row.id, problem) from None


def _is_stac_item(text: dict[str, Any]) -> bool:
    """Whether a row's text is a whole STAC item (a STAC frame's ``properties`` column holds the
    item, OpenSearch's the product's properties): a Feature with its own ``properties``."""
    return (
        text.get("type") == "Feature"
        and isinstance(text.get("properties"), dict)
        and ("assets" in text or "stac_version" in text)
    )


def _is_stac_collection(text: dict[str, Any]) -> bool:
    """Whether a collection row's text is a whole STAC collection."""
    return text.get("type") == "Collection" or ("stac_version" in text and "extent" in text)


def _links(row: Any, kind: str) -> list[dict[str, Any]]:
    """A row's file list of ``kind``: a list of link dicts, or that list as JSON text (how a
    GeoJSON export comes back from ``geopandas.read_file`` with some GDAL drivers)."""
    value = getattr(row, kind, None)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise unusable_product(row.id, f"its {kind} list is not JSON") from None
    if value is None or (not isinstance(value, str) and not hasattr(value, "__len__")):
        return []  # a missing list (NaN when read back)
    return [
        {k: (None if _is_missing(v) else v) for k, v in link.items() if k in _LINK_FIELDS}
        for link in value
    ]


_LINK_FIELDS = ("href", "length", "title", "type", "category")


def _is_missing(value: Any) -> bool:
    """NaN and pandas' NA, which a read-back file gives for a link's absent field."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def product_from_row(row: Any) -> Product:
    """The documented ``Product`` of one frame row (a namedtuple from ``itertuples``).

    On a STAC row, ``geojson`` is the item itself and ``properties`` its ``properties``.
    """
    properties = _properties_of(row)
    geojson = None
    if isinstance(properties, dict) and _is_stac_item(properties):
        geojson, properties = properties, properties["properties"]
    files = {kind: [ProductFile(**link) for link in _links(row, kind)] for kind in FILE_COLUMNS}
    return Product(
        row.id,
        row.title,
        _geojson(row, properties) if geojson is None else geojson,
        row.geometry,
        [] if row.geometry is None else list(row.geometry.bounds),
        as_naive_utc(getattr(row, "beginningDateTime", None)),
        as_naive_utc(getattr(row, "endingDateTime", None)),
        properties,
        **files,
    )


def collection_from_row(row: Any) -> Collection:
    """The documented ``Collection`` of one row of a collections frame.

    On a STAC row (its text the whole collection), ``geojson`` and ``properties`` are the
    collection.
    """
    properties = _properties_of(row)
    if isinstance(properties, dict) and _is_stac_collection(properties):
        bbox = [] if row.geometry is None else list(row.geometry.bounds)
        return Collection(row.id, properties, row.geometry, bbox, properties)
    geojson = _geojson(row, properties)
    return Collection(row.id, geojson, row.geometry, geojson["bbox"], properties)


def row_links(
    frame: pd.DataFrame, kinds: Sequence[str]
) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """``(id, {kind: links}, properties)`` per row, what :func:`terracat.transfer.file_tasks`
    takes: the properties hold a STAC item's ``file:checksum`` of each asset, which a download
    verifies."""
    columns = [c for c in kinds if c in frame.columns]
    chosen = frame[["id", "properties", *columns]]
    for product, properties, *links in chosen.itertuples(index=False, name=None):
        yield product, dict(zip(columns, links, strict=True)), properties


def rows(frame: pd.DataFrame) -> Iterator[Any]:
    """Rows as namedtuples whose attribute names are the frame's column names."""
    columns = list(frame.columns)
    for values in frame.itertuples(index=False, name=None):
        yield _Row(columns, values)


class _Row:
    __slots__ = ("_values",)

    def __init__(self, columns: list[str], values: tuple[Any, ...]) -> None:
        self._values = dict(zip(columns, values, strict=True))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None


def file_kinds(file_types: Any) -> tuple[str, ...]:
    """The file columns a ``file_types`` value selects.

    Accepts a :class:`ProductFileType` (flags combine), a name (``"data"``, ``"related"``,
    ``"previews"``, ``"alternates"``, ``"all"``), comma-separated names, or a list of names.
    """
    if isinstance(file_types, ProductFileType):
        return tuple(
            kind for kind, flag in zip(FILE_COLUMNS, _FILE_FLAGS, strict=True) if flag in file_types
        )
    names = file_types.split(",") if isinstance(file_types, str) else file_types
    try:
        chosen = {str(name).strip().lower() for name in names}
    except TypeError:
        chosen = {repr(file_types)}
    if "all" in chosen:
        return FILE_COLUMNS
    unknown = chosen - set(FILE_COLUMNS)
    if unknown or not chosen:
        raise ParameterParserException(
            f"file_types {file_types!r} is not understood; use ProductFileType flags or names from "
            f"{[*FILE_COLUMNS, 'all']}"
        )
    return tuple(kind for kind in FILE_COLUMNS if kind in chosen)


def links_of(files: Iterable[ProductFile]) -> list[dict[str, Any]]:
    """File views as the file entries a download task reads (the category finds a STAC
    asset's checksum)."""
    return [{"href": f.href, "length": f.length, "category": f.category} for f in files]
