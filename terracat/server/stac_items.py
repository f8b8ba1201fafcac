"""The store's products and collections as STAC 1.1 items and collections, shaped like Terrascope's.

The local catalogue keeps one store in the OpenSearch shape (``acquisitionInformation``,
``productInformation``, ``links.{data,related,previews,alternates}``); its STAC face answers from
the same products, so both faces describe the same data. These are pure functions, with no HTTP:
the face gives the root URL, the app's href resolver (``CatalogueApp._href``) and the identity
provider's discovery URL, and gets plain dicts back to serialise, cache or filter.

The shapes follow Terrascope's STAC API as it answered in 2026
(``fixtures/real/stac/search_s2_toc_2026.json``): the extensions it lists, asset keys that are band
names (``B04``, ``SCL``, ``CLOUDMASK``, ``QUICKLOOK``, ``metadata``) with roles and ``file:size``,
local paths in ``alternate.local``, ``auth:schemes``/``auth:refs`` for protected data, collection
ids such as ``terrascope-s2-toc-v2``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from terracat.server import content
from terracat.server.store import DOWNLOAD_PREFIX, CollectionEntry, FileEntry, iter_files
from terracat.stacio.from_opensearch import (
    AUTH_SCHEME,
    PROVIDERS,
    STAC_VERSION,
    acquisition,
    extensions,
    item_assets,
    item_properties,
    stac_collection_id,
    stac_item_id,
)

__all__ = [
    "STAC_VERSION",
    "item_properties_for_filter",
    "stac_collection",
    "stac_collection_id",
    "stac_item",
]

LinkResolver = Callable[[dict[str, Any], str, str], dict[str, Any]]
"""``(link, base URL, accessedFrom mode) -> link``: the app's ``_href``."""

GEOJSON = "application/geo+json"
JSON = "application/json"


def _files(feature: dict[str, Any], resolve: LinkResolver, base: str) -> Iterator[Any]:
    """A stored product's files with the links served for them: http, and MEP for ``alternate``."""
    for kind, link in iter_files(feature):
        yield kind, link, resolve(link, base, ""), resolve(link, base, "MEP")


def _auth_schemes(discovery_url: str) -> dict[str, Any]:
    return {
        AUTH_SCHEME: {
            "type": "openIdConnect",
            "description": "Authenticate with the local catalogue's OpenID Connect provider",
            "openIdConnectUrl": discovery_url,
        }
    }


# ---- the public builders -----------------------------------------------------------------------


def stac_item(
    feature: dict[str, Any],
    entry: CollectionEntry,
    root: str,
    resolve: LinkResolver,
    base: str,
    discovery_url: str,
) -> dict[str, Any]:
    """The STAC Item of one stored product.

    ``resolve(link, base, mode)`` is the app's ``_href``: it turns a stored file link into the
    served one for mode ``''`` (http, ``base`` = the server's base URL), ``'MEP'`` (a ``file://``
    path materialised on disk) or ``'S3'``. Asset hrefs are the http ones, ``alternate.local``
    the MEP ones (left out when the server has no files directory, as MEP then answers http).
    ``discovery_url`` is the identity provider's ``.well-known/openid-configuration`` URL, given
    in ``auth:schemes`` of a protected collection's items, whose assets carry ``auth:refs``.
    """
    collection = stac_collection_id(entry.id)
    item_id = stac_item_id(feature)
    properties = item_properties(feature)
    if entry.protected:
        properties["auth:schemes"] = _auth_schemes(discovery_url)
    files = _files(feature, resolve, base)
    assets = item_assets(files, {**properties, "protected": entry.protected})
    collection_url = f"{root}collections/{collection}"
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": extensions(properties, assets),
        "id": item_id,
        "collection": collection,
        "geometry": feature.get("geometry"),
        "bbox": list(feature["bbox"]) if feature.get("bbox") else None,
        "properties": properties,
        "links": [
            {"rel": "self", "type": GEOJSON, "href": f"{collection_url}/items/{item_id}"},
            {"rel": "parent", "type": JSON, "href": collection_url},
            {"rel": "collection", "type": JSON, "href": collection_url},
            {"rel": "root", "type": JSON, "href": root},
        ],
        "assets": assets,
    }


def stac_collection(entry: CollectionEntry, root: str) -> dict[str, Any]:
    """The STAC Collection of a store collection; ``root`` is the STAC root URL ending in '/'.

    Extents are the store's (the collection's bbox, its products' first and last acquisition);
    summaries the values its products take. A protected collection says so Terrascope's way
    (``_auth``: anyone may read and search it, downloads need a login); the ``auth:schemes``
    naming the identity provider sit on its items, which the face serves with a discovery URL.
    """
    stored = entry.feature.get("properties") or {}
    collection = stac_collection_id(entry.id)
    url = f"{root}collections/{collection}"
    bbox = entry.feature.get("bbox") or [-180.0, -90.0, 180.0, 90.0]
    start, end = _temporal(entry)
    body: dict[str, Any] = {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": collection,
        "title": stored.get("title") or collection,
        "description": stored.get("abstract") or stored.get("title") or collection,
        "keywords": list(stored.get("keyword") or []),
        "license": "proprietary",
        "providers": PROVIDERS,
        "extent": {
            "spatial": {"bbox": [list(bbox)]},
            "temporal": {"interval": [[start, end]]},
        },
        "summaries": _summaries(entry),
        "links": [
            {"rel": "self", "type": JSON, "href": url},
            {"rel": "root", "type": JSON, "href": root},
            {"rel": "parent", "type": JSON, "href": root},
            {"rel": "items", "type": GEOJSON, "href": f"{url}/items"},
        ],
    }
    if stored.get("rights"):
        body["links"].append(
            {"rel": "license", "type": "text/html", "href": _licence_url(stored["rights"])}
        )
    if entry.protected:
        body["_auth"] = {"read": ["anonymous"], "download": ["authenticated"]}
    return body


def _licence_url(rights: str) -> str:
    match = re.search(r"https?://\S+", rights)
    return match.group(0) if match else "https://terrascope.be/"


def _temporal(entry: CollectionEntry) -> tuple[str | None, str | None]:
    begins, ends = [], []
    for feature in entry.products:
        merged = acquisition(feature["properties"])
        begin = merged.get("beginningDateTime")
        if begin:
            begins.append(begin)
            ends.append(merged.get("endingDateTime") or begin)
    if begins:
        return min(begins), max(ends)
    date = str((entry.feature.get("properties") or {}).get("date") or "")
    first, _, last = date.partition("/")
    return first or None, last or None


def _summaries(entry: CollectionEntry) -> dict[str, Any]:
    """The values the collection's products take: lists for names, ranges for numbers."""
    names: dict[str, set[str]] = {}
    ranges: dict[str, list[float]] = {}
    for feature in entry.products:
        properties = item_properties(feature)
        for key in ("platform", "constellation", "sat:orbit_state", "product:type", "grid:code"):
            if key in properties:
                names.setdefault(key, set()).add(properties[key])
        for instrument in properties.get("instruments") or []:
            names.setdefault("instruments", set()).add(instrument)
        for key in ("eo:cloud_cover", "sat:relative_orbit", "gsd"):
            if key in properties:
                low, high = ranges.setdefault(key, [properties[key], properties[key]])
                ranges[key] = [min(low, properties[key]), max(high, properties[key])]
    summaries: dict[str, Any] = {key: sorted(values) for key, values in names.items()}
    summaries.update({key: {"minimum": lo, "maximum": hi} for key, (lo, hi) in ranges.items()})
    return summaries


def item_properties_for_filter(item: dict[str, Any]) -> dict[str, Any]:
    """The queryables of an item for CQL2: its properties plus ``id``, ``collection``, geometry.

    cql2's ``matches`` reads an item's top-level fields and its properties; this flat view lets a
    filter name ``id``, ``collection`` and any property (``eo:cloud_cover``, ``datetime``) alike.
    """
    return {
        **item["properties"],
        "id": item["id"],
        "collection": item["collection"],
        "geometry": item["geometry"],
    }


def served_checksum(path: str, length: int, revision: int = 0) -> str:
    """The ``file:checksum`` (sha2-256 multihash) of the bytes the app serves at ``path``."""
    return "1220" + hashlib.sha256(content.read(path, 0, length, revision)).hexdigest()


def with_checksums(
    item: dict[str, Any], files: Mapping[str, FileEntry] | None = None
) -> dict[str, Any]:
    """``item`` with ``file:checksum`` on each asset the app serves, filled in place, once.

    ``files`` is the store's files table, which knows each file's content revision (0 for a
    path it lacks, or without it).

    Lazy on purpose: a checksum costs some 50 microseconds a file (the content generator's
    seeding), so hashing while every item of a collection is built would double the first
    search's cost (5 s more for the demo's 4,389 S2 TOC items); each item is hashed when it is
    first served instead. Idempotent, and harmless when two requests fill one item at once.
    """
    for asset in item.get("assets", {}).values():
        if "file:checksum" in asset or "file:size" not in asset:
            continue
        path = urlsplit(str(asset.get("href", ""))).path
        if path.startswith(DOWNLOAD_PREFIX):
            entry = files.get(path) if files is not None else None
            revision = entry.revision if entry is not None else 0
            asset["file:checksum"] = served_checksum(path, int(asset["file:size"]), revision)
    return item
