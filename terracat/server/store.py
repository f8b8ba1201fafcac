"""The local catalogue's data: collections and their products, indexed for filtering.

Filtering runs on numpy columns built once per collection (times, bounding boxes, cloud cover,
orbits, identifiers), so a query over thousands of products costs microseconds per product and
exact geometry tests run only on the bounding-box candidates.

The store changes while the server runs (:meth:`Store.splice`, for :mod:`terracat.server.changes`):
never in place, always by swapping in new objects (a collection entry with a new products list, a
new files table), so that a request thread keeps reading the consistent snapshot it started with,
and an index is rebuilt whenever the products list it was built from is no longer the current one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import shapely

from terracat.server import content
from terracat.stacio.from_opensearch import acquisition

__all__ = [
    "CollectionEntry",
    "FileEntry",
    "ProductIndex",
    "Store",
    "acquisition",
    "load_parquet_store",
]

FILE_KINDS = ("data", "related", "previews", "alternates")
DOWNLOAD_PREFIX = "/download/"


@dataclass
class CollectionEntry:
    """One collection the local catalogue serves.

    ``products`` are GeoJSON features in the real catalogue's shape whose file hrefs are paths
    relative to the server (``/download/...``); the app turns them into http, file or s3 hrefs
    per request (``accessedFrom``).
    """

    feature: dict[str, Any]
    products: list[dict[str, Any]] = field(default_factory=list)
    protected: bool = False

    @property
    def id(self) -> str:
        return str(self.feature["id"])


@dataclass(frozen=True)
class FileEntry:
    """A file the local catalogue can serve: its size, whether its collection needs a login, and
    its content revision (0 until the catalogue reprocesses it; see :func:`content.read`)."""

    path: str
    length: int
    collection: str
    protected: bool
    revision: int = 0

    def read(self, start: int = 0, stop: int | None = None) -> bytes:
        """Bytes ``[start, stop)`` (default: all) of the file as it is served now."""
        return content.read(self.path, start, self.length if stop is None else stop, self.revision)


def _timestamps(values: Iterable[str | None]) -> np.ndarray:
    """ISO 8601 strings (``Z`` suffix) as naive-UTC datetime64[ms]; missing as NaT."""
    return np.array(
        [
            np.datetime64(v.rstrip("Z").split("+")[0], "ms") if v else np.datetime64("NaT")
            for v in values
        ],
        dtype="datetime64[ms]",
    )


class ProductIndex:
    """Column arrays over one collection's products, in catalogue order."""

    def __init__(self, products: list[dict[str, Any]]) -> None:
        self.features = products
        acquisitions = [acquisition(f["properties"]) for f in products]
        information = [f["properties"].get("productInformation") or {} for f in products]
        self.begin = _timestamps(a.get("beginningDateTime") for a in acquisitions)
        self.end = _timestamps(
            a.get("endingDateTime") or a.get("beginningDateTime") for a in acquisitions
        )
        self.published = _timestamps(f["properties"].get("published") for f in products)
        self.updated = _timestamps(f["properties"].get("updated") for f in products)
        self.cloud_cover = np.array(
            [np.nan if i.get("cloudCover") is None else float(i["cloudCover"]) for i in information]
        )
        self.relative_orbit = np.array(
            [
                np.nan if a.get("relativeOrbitNumber") is None else float(a["relativeOrbitNumber"])
                for a in acquisitions
            ]
        )
        self.text: dict[str, np.ndarray] = {
            "title": np.array([f["properties"].get("title") for f in products], dtype=object),
            "identifier": np.array([f["id"] for f in products], dtype=object),
            "tileId": np.array([a.get("tileId") for a in acquisitions], dtype=object),
            "orbitDirection": np.array(
                [a.get("orbitDirection") for a in acquisitions], dtype=object
            ),
            "platform": np.array([a.get("platformShortName") for a in acquisitions], dtype=object),
            "productType": np.array([i.get("productType") for i in information], dtype=object),
            "productGroupId": np.array(
                [i.get("productGroupId") for i in information], dtype=object
            ),
        }
        boxes = [f.get("bbox") or _bounds(f.get("geometry")) for f in products]
        box_array = np.array(boxes, dtype=float).reshape(len(products), 4)
        self.west, self.south, self.east, self.north = box_array.T

    def __len__(self) -> int:
        return len(self.features)

    @cached_property
    def geometries(self) -> np.ndarray:
        """Shapely footprints, built on the first spatial query only."""
        return shapely.from_geojson([json.dumps(f["geometry"]) for f in self.features])

    def everything(self) -> np.ndarray:
        return np.ones(len(self), dtype=bool)

    def overlapping(self, start: np.datetime64 | None, end: np.datetime64 | None) -> np.ndarray:
        """Products whose acquisition interval overlaps ``[start, end]``."""
        mask = self.everything()
        if start is not None:
            mask &= ~(self.end < start)
        if end is not None:
            mask &= ~(self.begin > end)
        return mask

    def intersecting(
        self, geometry: shapely.Geometry, within: np.ndarray | None = None
    ) -> np.ndarray:
        """Products (among ``within``) whose footprint intersects ``geometry``.

        Bounding boxes first, the exact test only on the candidates they leave.
        """
        west, south, east, north = geometry.bounds
        mask = (
            (self.east >= west)
            & (self.west <= east)
            & (self.north >= south)
            & (self.south <= north)
        )
        if within is not None:
            mask &= within
        candidates = np.flatnonzero(mask)
        if candidates.size:
            mask[candidates] = shapely.intersects(self.geometries[candidates], geometry)
        return mask


def _bounds(geometry: dict[str, Any] | None) -> list[float]:
    if not geometry:
        return [np.nan] * 4
    return list(shapely.from_geojson(json.dumps(geometry)).bounds)


def iter_files(feature: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    links = feature.get("properties", {}).get("links") or {}
    for kind in FILE_KINDS:
        for link in links.get(kind) or []:
            yield kind, link


def _served_files(
    feature: dict[str, Any], entry: CollectionEntry, revisions: Mapping[str, int]
) -> Iterable[FileEntry]:
    """The files of a product the app serves: those under ``/download/`` with a length."""
    for _, link in iter_files(feature):
        href = link.get("href", "")
        if href.startswith(DOWNLOAD_PREFIX) and link.get("length") is not None:
            yield FileEntry(
                href, int(link["length"]), entry.id, entry.protected, revisions.get(href, 0)
            )


class Store:
    """Collections by id, their product indexes, and every servable file by path.

    ``lock`` serialises changes (and the faces' rebuilds that must not interleave with one);
    reading needs no lock, as changes swap new objects in (see the module docstring).
    """

    def __init__(self, collections: Iterable[CollectionEntry]) -> None:
        self.collections: dict[str, CollectionEntry] = {c.id: c for c in collections}
        self._indexes: dict[str, ProductIndex] = {}
        self.files: dict[str, FileEntry] = {}
        self.lock = threading.RLock()
        for entry in self.collections.values():
            for feature in entry.products:
                self.files.update((f.path, f) for f in _served_files(feature, entry, {}))

    def index(self, collection: str) -> ProductIndex:
        """The product index of a collection, built on first use and again after a change (a
        KeyError if unknown)."""
        products = self.collections[collection].products
        index = self._indexes.get(collection)
        if index is None or index.features is not products:
            index = self._indexes[collection] = ProductIndex(products)
        return index

    def splice(
        self,
        collection: str,
        position: int,
        removed: int,
        added: list[dict[str, Any]],
        revisions: Mapping[str, int] | None = None,
    ) -> set[str]:
        """Replace products ``[position, position + removed)`` of a collection by ``added``.

        Their files follow: the removed products' are no longer served (unless an added product
        has them too), the added products' are, at the content revision ``revisions`` gives (else
        the one the path had, else 0). The files table is swapped in before the collection, so that a product found
        has its files. Returns the paths gone or served with other bytes now (a caller holds
        :attr:`lock`).
        """
        entry = self.collections[collection]
        paths = {
            link.get("href")
            for f in entry.products[position : position + removed]
            for _, link in iter_files(f)
        }
        old = {path: self.files[path] for path in paths if path in self.files}
        known = {path: f.revision for path, f in old.items()} | dict(revisions or {})
        new = {f.path: f for feature in added for f in _served_files(feature, entry, known)}
        files = {path: f for path, f in self.files.items() if path not in old}
        files.update(new)
        products = [*entry.products[:position], *added, *entry.products[position + removed :]]
        self.files = files
        self.collections = {
            **self.collections,
            collection: dataclasses.replace(entry, products=products),
        }
        return {path for path, before in old.items() if new.get(path) != before}


def load_parquet_store(path: str | Path) -> list[CollectionEntry]:
    """Collections from a GeoParquet export of terracat search results.

    Each row's ``properties`` column holds the catalogue's original properties as JSON text, so
    the served features are the ones that were exported. File hrefs under a ``/download/`` path
    are re-rooted on this server, which then serves deterministic bytes of the catalogued length:
    an export of a search becomes a complete catalogue, downloads included.
    """
    import geopandas

    frame = geopandas.read_parquet(path)
    missing = {"id", "properties", "geometry", "collection"} - set(frame.columns)
    if missing:
        from terracat.exceptions import ConfigurationException

        raise ConfigurationException(
            f"{path} is not a terracat export: column(s) {sorted(missing)} missing "
            "(write it with terracat.search(...).to_parquet())"
        )
    frame = frame.to_crs(4326) if frame.crs is not None else frame
    geometries = shapely.to_geojson(frame.geometry.values)
    bounds = shapely.bounds(frame.geometry.values)
    by_collection: dict[str, list[dict[str, Any]]] = {}
    for product_id, properties, geometry, box, collection in zip(
        frame["id"], frame["properties"], geometries, bounds, frame["collection"], strict=True
    ):
        parsed = json.loads(properties) if isinstance(properties, str) else dict(properties)
        for _, link in iter_files({"properties": parsed}):
            href = urlsplit(str(link.get("href", "")))
            if href.scheme in ("http", "https") and href.path.startswith(DOWNLOAD_PREFIX):
                link["href"] = href.path
        feature = {
            "type": "Feature",
            "id": str(product_id),
            "geometry": json.loads(geometry),
            "bbox": [float(v) for v in box],
            "properties": parsed,
        }
        by_collection.setdefault(str(collection), []).append(feature)
    entries = []
    for collection, products in by_collection.items():
        products.sort(
            key=lambda f: (acquisition(f["properties"]).get("beginningDateTime") or "", f["id"])
        )
        west = min(p["bbox"][0] for p in products)
        south = min(p["bbox"][1] for p in products)
        east = max(p["bbox"][2] for p in products)
        north = max(p["bbox"][3] for p in products)
        feature = {
            "type": "Feature",
            "id": collection,
            "geometry": shapely.geometry.mapping(shapely.box(west, south, east, north)),
            "bbox": [west, south, east, north],
            "properties": {
                "title": collection,
                "identifier": collection,
                "abstract": f"Served from the GeoParquet export {Path(path).name}",
                "date": f"{_first_date(products)}/",
                "updated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        }
        entries.append(CollectionEntry(feature, products))
    return entries


def _first_date(products: list[dict[str, Any]]) -> str:
    dates = [acquisition(p["properties"]).get("beginningDateTime") for p in products]
    return min((d for d in dates if d), default="")
