"""Catalogue pages -> one GeoDataFrame, one row per product (the column contract of DESIGN.md).

Decoding is the hot path of a search: a page is decoded once by msgspec into thin structs whose
``geometry`` and ``properties`` stay raw JSON bytes, so the footprints are built by GEOS in one
vectorised call and the original properties are kept losslessly as text without re-encoding.
Only the properties themselves are decoded into Python objects, to flatten them into columns.
"""

from __future__ import annotations

import contextlib
import gc
import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import geopandas
import msgspec
import numpy as np
import pandas as pd
import shapely

__all__ = [
    "FILE_COLUMNS",
    "FILE_FIELDS",
    "Page",
    "decode_page",
    "empty_frame",
    "features_frame",
    "normalise_frame",
]

FILE_COLUMNS = ("data", "related", "previews", "alternates")
FILE_FIELDS = ("href", "length", "title", "type", "category")
CORE_COLUMNS = ("id", "title", "collection")
TIME_COLUMNS = ("beginningDateTime", "endingDateTime", "date", "published", "updated", "available")
SECTIONS = ("acquisitionParameters", "platform", "instrument")
PRODUCT_SECTIONS = ("productInformation", "additionalAttributes")
KNOWN_DTYPES: dict[str, str] = {
    "cloudCover": "float64",
    "relativeOrbitNumber": "Int64",
    "orbitNumber": "Int64",
    "tileId": "string",
    "orbitDirection": "string",
    "productType": "string",
    "productGroupId": "string",
    "platformShortName": "string",
    "platformSerialIdentifier": "string",
    "instrumentShortName": "string",
    "sensorType": "string",
}


class _Links(msgspec.Struct):
    first: list[dict[str, Any]] = []
    previous: list[dict[str, Any]] = []
    next: list[dict[str, Any]] = []
    last: list[dict[str, Any]] = []


class _PageProperties(msgspec.Struct):
    links: _Links = msgspec.field(default_factory=_Links)


class _Feature(msgspec.Struct):
    id: str
    properties: msgspec.Raw
    geometry: msgspec.Raw = msgspec.Raw(b"null")


class Page(msgspec.Struct):
    """One catalogue answer: totals, paging links, and features kept as raw JSON."""

    features: list[_Feature] = []
    totalResults: int | None = None  # the protocol's camelCase names
    startIndex: int | None = None
    itemsPerPage: int | None = None
    properties: _PageProperties = msgspec.field(default_factory=_PageProperties)


_page_decoder = msgspec.json.Decoder(Page)
_decode = msgspec.json.Decoder().decode


def decode_page(body: bytes) -> Page:
    """Decode a catalogue page (a ``msgspec.ValidationError``/``DecodeError`` when malformed)."""
    return _page_decoder.decode(body)


def _file(link: dict[str, Any]) -> dict[str, Any]:
    return {
        "href": link.get("href"),
        "length": link.get("length"),
        "title": link.get("title"),
        "type": link.get("type"),
        "category": link.get("category"),
    }


def _flatten(properties: dict[str, Any]) -> dict[str, Any]:
    """The row of one product: its sections' keys as columns, first section wins a name clash."""
    row: dict[str, Any] = {
        "title": properties.get("title"),
        "collection": properties.get("parentIdentifier"),
    }
    first_parameters = None
    for block in properties.get("acquisitionInformation") or ():
        if first_parameters is None:
            first_parameters = block.get("acquisitionParameters")
        for section in SECTIONS:
            for key, value in (block.get(section) or {}).items():
                row.setdefault(key, value)
    for section in PRODUCT_SECTIONS:
        for key, value in (properties.get(section) or {}).items():
            row[f"{section}_{key}" if key in row else key] = value
    if first_parameters is not None:
        row["beginningDateTime"] = first_parameters.get("beginningDateTime")
        row["endingDateTime"] = first_parameters.get("endingDateTime")
    for key, value in properties.items():
        if key not in row and (value is None or isinstance(value, str | int | float | bool)):
            row[key] = value
    links = properties.get("links") or {}
    for kind in FILE_COLUMNS:
        row[kind] = [
            {
                "href": link.get("href"),
                "length": link.get("length"),
                "title": link.get("title"),
                "type": link.get("type"),
                "category": link.get("category"),
            }
            for link in links.get(kind) or ()
        ]
    return row


def features_frame(features: Sequence[_Feature]) -> geopandas.GeoDataFrame:
    """The frame of decoded features, in their order."""
    if not features:
        return empty_frame()
    with _gc_paused():
        raw_properties = [bytes(f.properties) for f in features]
        rows = [_flatten(_decode(raw)) for raw in raw_properties]
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        columns: dict[str, Any] = {"id": pd.array([f.id for f in features], dtype="string")}
        for name in names:
            columns[name] = _column(name, [row.get(name) for row in rows])
        columns["properties"] = pd.array([raw.decode() for raw in raw_properties], dtype="string")
        geometries = shapely.from_geojson(
            [bytes(f.geometry) for f in features], on_invalid="ignore"
        )
        frame = geopandas.GeoDataFrame(columns, geometry=geometries, crs="EPSG:4326")
    return frame[_ordered(frame)]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a page's objects are built.

    Decoding creates hundreds of thousands of containers, none of them cyclic; every generation-0
    collection would walk them all again, which costs more than the decoding itself. The pause is
    counted so that concurrent parsing threads re-enable the collector only when the last ends.
    """
    global _gc_pauses
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled[0] = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled[0]:
                gc.enable()


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = [True]


def _ordered(frame: pd.DataFrame) -> list[str]:
    first = [c for c in (*CORE_COLUMNS, *TIME_COLUMNS) if c in frame.columns]
    last = [c for c in (*FILE_COLUMNS, "properties", "geometry") if c in frame.columns]
    middle = [c for c in frame.columns if c not in first and c not in last]
    return first + middle + last


def _looks_like_time(name: str) -> bool:
    return name.endswith(("DateTime", "Date", "Time")) or name in TIME_COLUMNS


def _column(name: str, values: list[Any]) -> Any:
    """One column with a stable dtype: UTC datetimes, nullable integers, floats, strings."""
    if name in FILE_COLUMNS:
        return values
    dtype = KNOWN_DTYPES.get(name)
    if dtype is None and _looks_like_time(name):
        return _as_time(values)
    if dtype is None:
        dtype = _inferred_dtype(values)
    try:
        return pd.array(values, dtype=dtype)
    except (ValueError, TypeError):
        return pd.array(values, dtype=object)  # a catalogue sent something odd: keep it as it came


def _as_time(values: list[Any]) -> Any:
    if not all(v is None or isinstance(v, str) for v in values):
        return pd.array(values, dtype=object)
    try:
        parsed = pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        return pd.array(values, dtype=object)
    return parsed.as_unit("ms")


def _inferred_dtype(values: list[Any]) -> str:
    kinds = {type(v) for v in values}
    kinds.discard(type(None))
    if not kinds:
        return "object"
    if kinds <= {bool}:
        return "boolean"
    if kinds <= {int}:
        return "Int64"
    if kinds <= {int, float}:
        return "float64"
    if kinds <= {str}:
        return "string"
    return "object"


def empty_frame() -> geopandas.GeoDataFrame:
    """A frame with the contract's core columns and no rows, for searches that match nothing."""
    columns: dict[str, pd.Series] = {
        "id": pd.Series(dtype="string"),
        "title": pd.Series(dtype="string"),
        "collection": pd.Series(dtype="string"),
    }
    for name in TIME_COLUMNS:
        columns[name] = pd.Series(dtype="datetime64[ms, UTC]")
    for name in FILE_COLUMNS:
        columns[name] = pd.Series(dtype=object)
    columns["properties"] = pd.Series(dtype="string")
    return geopandas.GeoDataFrame(
        columns, geometry=geopandas.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326"
    )


def normalise_frame(frame: pd.DataFrame) -> geopandas.GeoDataFrame:
    """A frame read back from Parquet (or built elsewhere) brought back to the contract.

    Arrow gives file lists back as arrays of dicts; the views and the downloader expect lists.
    """
    frame = frame.copy()
    for kind in FILE_COLUMNS:
        if kind in frame.columns:
            frame[kind] = [
                [] if value is None else [_file(dict(link)) for link in value]
                for value in frame[kind]
            ]
    if "properties" in frame.columns:
        texts = [
            v if v is None or isinstance(v, str) else json.dumps(v) for v in frame["properties"]
        ]
        frame["properties"] = pd.array(texts, dtype="string")
    if not isinstance(frame, geopandas.GeoDataFrame):
        frame = geopandas.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
    return frame


def as_naive_utc(value: Any) -> Any:
    """A frame timestamp as the naive-UTC ``datetime`` the reference client's objects carry."""
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    return pd.Timestamp(value).tz_convert("UTC").tz_localize(None).to_pydatetime()
