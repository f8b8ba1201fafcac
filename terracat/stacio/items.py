"""A product frame's rows as STAC items, whichever protocol the frame came from.

A row of a STAC search keeps its whole item as the ``properties`` text: that text, parsed, is the
item, exactly. A row of an OpenSearch search keeps the OpenSearch properties there; it becomes the
STAC 1.1 item the local catalogue's STAC face would serve for the same product
(:mod:`terracat.stacio.from_opensearch`), its assets from the row's file lists, and the original
OpenSearch properties kept whole under :data:`OPENSEARCH_PROPERTIES`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import shapely

from terracat.frame import FILE_COLUMNS, file_list_arrow
from terracat.stacio.from_opensearch import (
    STAC_VERSION,
    extensions,
    item_assets,
    item_properties,
    stac_collection_id,
    stac_item_id,
)

__all__ = ["OPENSEARCH_PROPERTIES", "frame_items", "is_stac_item", "item_collection"]

OPENSEARCH_PROPERTIES = "opensearch:properties"
"""The item property holding an OpenSearch product's original properties object, unchanged (the
STAC fields are derived from it; nothing of the product is lost)."""


def is_stac_item(value: Any) -> bool:
    """Whether a row's parsed ``properties`` is a whole STAC item (a STAC search's row) rather
    than an OpenSearch properties object (which never has ``stac_version``)."""
    return isinstance(value, dict) and value.get("type") == "Feature" and "stac_version" in value


def _geojson(geometry: Any) -> dict[str, Any] | None:
    if geometry is None or shapely.is_missing(geometry) or geometry.is_empty:
        return None
    return json.loads(shapely.to_geojson(geometry))


def _collection_link(catalogue: str | None, collection: str) -> dict[str, Any]:
    """Where the product's collection is described (STAC requires an item naming a collection
    to link to it): the OpenSearch catalogue's collection document, or where the frame does not
    say which catalogue it came from (``pd.concat`` of two searches keeps no ``attrs``), the
    collection's own identifier, a URN (an IRI, as a link's ``href`` may be)."""
    if catalogue is None:
        return {"rel": "collection", "href": collection, "title": collection}
    return {
        "rel": "collection",
        "type": "application/geo+json",
        "href": f"{catalogue}collections?{urlencode({'uid': collection})}",
        "title": collection,
    }


def opensearch_item(
    product_id: str,
    properties: dict[str, Any],
    geometry: Any,
    files: dict[str, list[Any]],
    catalogue: str | None = None,
    collection: str | None = None,
) -> dict[str, Any]:
    """The STAC item of one OpenSearch product: its id, properties object, footprint (shapely),
    file lists by kind (``data``, ``related``, ``previews``, ``alternates``), the URL of the
    catalogue it came from and its row's collection (where the properties name none)."""
    shape = _geojson(geometry)
    feature = {"id": product_id, "geometry": shape, "properties": properties}
    stac = item_properties(feature)
    entries = ((kind, link, link, link) for kind in FILE_COLUMNS for link in files.get(kind) or ())
    assets = item_assets(entries, stac)
    stac[OPENSEARCH_PROPERTIES] = properties
    collection = properties.get("parentIdentifier") or collection
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": extensions(stac, assets),
        "id": stac_item_id(feature),
        **({"collection": stac_collection_id(collection)} if collection else {}),
        "geometry": shape,
        "bbox": list(geometry.bounds) if shape is not None else None,
        "properties": stac,
        "links": [_collection_link(catalogue, collection)] if collection else [],
        "assets": assets,
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def frame_items(frame: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """The frame's rows as STAC items, in frame order (one pass; a row parsed when reached).

    An OpenSearch row's collection is its product's, else the row's ``collection`` column; its
    link goes to the catalogue in the frame's ``attrs``, else names the collection only."""
    kinds = [kind for kind in FILE_COLUMNS if kind in frame.columns]
    lists = {kind: file_list_arrow(frame[kind]).to_pylist() for kind in kinds}
    geometries = frame.geometry if hasattr(frame, "geometry") else frame["geometry"]
    catalogue = (frame.attrs.get("terracat") or {}).get("catalogue")
    collections = frame["collection"] if "collection" in frame.columns else [None] * len(frame)
    for n, (product_id, text, geometry, collection) in enumerate(
        zip(frame["id"], frame["properties"], geometries, collections, strict=True)
    ):
        parsed = json.loads(text) if isinstance(text, str) else text
        if is_stac_item(parsed):
            yield parsed
        else:
            files = {kind: lists[kind][n] for kind in kinds}
            yield opensearch_item(
                str(product_id), parsed or {}, geometry, files, catalogue, _text(collection)
            )


def item_collection(frame: pd.DataFrame) -> dict[str, Any]:
    """The frame's items as one STAC ItemCollection (a GeoJSON FeatureCollection)."""
    features = list(frame_items(frame))
    return {"type": "FeatureCollection", "features": features, "links": []}
