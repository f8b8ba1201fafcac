"""The local catalogue's OpenSearch face: ``/collections`` and ``/products`` as Terrascope answers them.

Parameters in OpenSearch's syntax (``start``/``end``, ``bbox``, ``geometry``, the ``[a,b]``
interval syntax of ``cloudCover`` and the dates, ``sortKeys``, ``startIndex``/``count``) become
queries on the store's indexes; the products they select are encoded as OGC 17-047r1 GeoJSON
pages with first/previous/next/last links, and bad parameters as OGC exception documents. The
store (:mod:`terracat.server.store`) holds the products and answers the queries; the app
(:mod:`terracat.server.app`) routes requests here, judges faults and serves the files, and tells
this face where a stored file is served for a request (``resolve_link``). A STAC face would sit
beside this one over the same store.
"""

from __future__ import annotations

import datetime as dt
import functools
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import numpy as np
import orjson
import shapely
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from terracat.server.faults import Verdict
from terracat.server.intervals import parse_instant, parse_interval, parse_number
from terracat.server.settings import Settings
from terracat.server.store import FILE_KINDS, ProductIndex, Store

__all__ = ["BadParameter", "OpenSearchFace", "exception_document"]

GEOJSON = "application/geo+json;charset=UTF-8"
FEATURE_CACHE = 100_000  # serialised products kept; a page is then mostly a join of bytes
TEXT_FILTERS = ("title", "tileId", "productType", "orbitDirection", "productGroupId", "platform")
SORTABLE = {
    "start": "begin",
    "date": "begin",
    "beginningDateTime": "begin",
    "end": "end",
    "endingDateTime": "end",
    "published": "published",
    "updated": "updated",
    "modified": "updated",
    "cloudCover": "cloud_cover",
    "title": "title",
}
OPENSEARCH_NAMES = {
    "bbox": "geo:box",
    "geometry": "geo:geometry",
    "start": "time:start",
    "end": "time:end",
    "cloudCover": "eo:cloudCover",
    "count": "count",
    "startIndex": "startIndex",
}

LinkResolver = Callable[[dict[str, Any], str, str], dict[str, Any]]
"""``(link, base URL, accessedFrom mode) -> link``: where the app serves a stored file."""


class BadParameter(Exception):
    """A parameter the catalogue cannot use: answered 400 with an OGC exception document."""

    def __init__(self, locator: str, text: str, code: str = "InvalidParameterValue") -> None:
        super().__init__(text)
        self.locator, self.text, self.code = locator, text, code


def exception_document(status: int, code: str, locator: str | None, text: str) -> Response:
    """An OGC exception document, as the real catalogue answers a bad request (or a 404)."""
    exception: dict[str, str] = {"exceptionCode": code, "exceptionText": text}
    if locator:
        exception["locator"] = locator
    return Response(orjson.dumps({"exceptions": [exception]}), status, mimetype="application/json")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class OpenSearchFace:
    """The OpenSearch endpoints over one store: their URL rules and a handler per endpoint."""

    def __init__(self, store: Store, settings: Settings, resolve_link: LinkResolver) -> None:
        self.store = store
        self.settings = settings
        self._resolve_link = resolve_link
        self._feature_json = functools.lru_cache(maxsize=FEATURE_CACHE)(self._serialise_feature)
        self.rules = [
            Rule("/collections", endpoint="collections"),
            Rule("/products", endpoint="products"),
        ]
        self.handlers: dict[str, Callable[..., Response]] = {
            "collections": self._collections,
            "products": self._products,
        }

    def _collections(self, request: Request, verdict: Verdict) -> Response:
        args = request.args
        entries = list(self.store.collections.values())
        start, end = self._time_window(args)
        areas = self._areas(args)
        platform = args.get("platform")
        selected = []
        for entry in entries:
            properties = entry.feature.get("properties", {})
            first, _, last = str(properties.get("date", "")).partition("/")
            if end is not None and first and parse_instant(first) > end:
                continue
            if start is not None and last and parse_instant(last, end_of_day=True) < start:
                continue
            if areas and not all(
                shapely.intersects(shapely.from_geojson(orjson.dumps(entry.feature["geometry"])), a)
                for a in areas
            ):
                continue
            if platform and platform not in _platforms(properties):
                continue
            selected.append(entry.feature)
        start_index, count = self._paging(args)
        page = [orjson.dumps(f) for f in selected[start_index - 1 : start_index - 1 + count]]
        return self._page(request, page, len(selected), start_index, count, verdict)

    def _products(self, request: Request, verdict: Verdict) -> Response:
        args = request.args
        collection = args.get("collection") or args.get("parentIdentifier")
        if not collection:
            raise BadParameter(
                "collection", "The collection parameter is required", "MissingParameterValue"
            )
        if collection not in self.store.collections:
            raise BadParameter("collection", f"Unknown collection {collection!r}")
        index = self.store.index(collection)
        selected = self._sorted(
            index, np.flatnonzero(self._filter(index, args)), args.get("sortKeys")
        )
        start_index, count = self._paging(args)
        if count and start_index + count - 1 > self.settings.max_depth:
            raise BadParameter(
                "startIndex",
                f"The requested page (startIndex={start_index}, count={count}) lies beyond the "
                f"{self.settings.max_depth} results this catalogue pages; narrow the search",
            )
        chosen = selected[start_index - 1 : start_index - 1 + count]
        mode = (args.get("accessedFrom") or "").upper()
        features = [self._feature_json(index, int(i), request.host_url, mode) for i in chosen]
        return self._page(request, features, len(selected), start_index, count, verdict)

    def _page(
        self,
        request: Request,
        features: list[bytes],
        total: int,
        start_index: int,
        count: int,
        verdict: Verdict,
    ) -> Response:
        base = f"{request.host_url}{request.path.lstrip('/')}"
        reported = max(0, total + verdict.total_shift)
        links: dict[str, list[dict[str, str]]] = {}

        def link(title: str, index: int) -> None:
            query = MultiDict(request.args)
            query["startIndex"] = str(index)
            if "count" in request.args:
                query["count"] = str(count)
            href = f"{base}?{urlencode(list(query.items(multi=True)))}"
            links[title] = [{"href": href, "type": "application/geo+json", "title": title}]

        if count:
            depth = self.settings.max_depth
            reachable = min(reported, depth)
            last = ((reachable - 1) // count) * count + 1 if reachable else 1
            if last > 1 and last + count - 1 > depth:
                last -= count
            link("first", 1)
            if start_index > 1:
                link("previous", max(1, start_index - count))
            if start_index + count <= reported and start_index + 2 * count - 1 <= depth:
                link("next", start_index + count)
            link("last", last)
        description = f"{request.host_url}description.geojson"
        if request.args.get("collection"):
            description += f"?collection={request.args['collection']}"
        links["search"] = [{"href": description, "type": "application/geo+json", "title": "search"}]
        links["profiles"] = [
            {"href": "http://www.opengis.net/spec/owc-geojson/1.0/req/core"},
            {"href": "http://www.opengis.net/spec/os-geojson/1.0/req/core"},
        ]
        queries = {OPENSEARCH_NAMES.get(k, k): v for k, v in request.args.items()}
        body = {
            "@context": "http://schemas.opengis.net/os-geojson/1.0/os-geojson.jsonld",
            "type": "FeatureCollection",
            "id": request.url,
            "totalResults": reported,
            "startIndex": start_index,
            "itemsPerPage": len(features),
            "queries": {"request": [queries]},
            "properties": {
                "title": "Product Search result"
                if request.path.endswith("products")
                else "Collection Search result",
                "subtitle": f"Number of results: {reported}",
                "creator": "terracat local catalogue",
                "authors": [{"type": "Agent", "name": "terracat"}],
                "updated": _now(),
                "lang": "en",
                "links": links,
            },
        }
        # features are spliced in as the JSON they were serialised to once (see _feature_json)
        head = orjson.dumps(body)
        payload = b"".join((head[:-1], b',"features":[', b",".join(features), b"]}"))
        if verdict.garble is not None:
            return _garbled(payload, verdict.garble)
        if verdict.cut_after is not None:  # the page's connection dies part way through
            cut = _cut_stream(payload, verdict.cut_after, request.environ.get("werkzeug.socket"))
            headers = {"Content-Length": str(len(payload))}
            return Response(cut, headers=headers, mimetype=GEOJSON, direct_passthrough=True)
        return Response(payload, mimetype=GEOJSON)

    def _paging(self, args: MultiDict[str, str]) -> tuple[int, int]:
        start_index = self._integer(args, "startIndex", 1, minimum=1)
        count = self._integer(args, "count", self.settings.page_size, minimum=0)
        if count > self.settings.max_count:
            raise BadParameter(
                "count", f"count must be at most {self.settings.max_count}, got {count}"
            )
        return start_index, count

    @staticmethod
    def _integer(args: MultiDict[str, str], name: str, default: int, minimum: int) -> int:
        text = args.get(name)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            raise BadParameter(name, f"{name} must be an integer, got {text!r}") from None
        if value < minimum:
            raise BadParameter(name, f"{name} must be at least {minimum}, got {value}")
        return value

    # ---- filters ---------------------------------------------------------------------------

    def _time_window(
        self, args: MultiDict[str, str]
    ) -> tuple[np.datetime64 | None, np.datetime64 | None]:
        bounds: list[np.datetime64 | None] = []
        for name in ("start", "end"):
            text = args.get(name)
            try:
                bounds.append(parse_instant(text, end_of_day=name == "end") if text else None)
            except ValueError as error:
                raise BadParameter(name, str(error)) from None
        start, end = bounds
        if start is not None and end is not None and start > end:
            raise BadParameter("end", f"end {args['end']} lies before start {args['start']}")
        return start, end

    @staticmethod
    def _areas(args: MultiDict[str, str]) -> list[shapely.Geometry]:
        areas = []
        if args.get("bbox"):
            try:
                west, south, east, north = (parse_number(v) for v in args["bbox"].split(","))
            except ValueError:
                raise BadParameter(
                    "bbox", f"bbox must be west,south,east,north, got {args['bbox']!r}"
                ) from None
            if south > north or not (-90 <= south <= 90 and -90 <= north <= 90):
                raise BadParameter(
                    "bbox", f"bbox latitudes out of order or range: {args['bbox']!r}"
                )
            if west <= east:
                areas.append(shapely.box(west, south, east, north))
            else:  # crosses the antimeridian
                areas.append(
                    shapely.union(
                        shapely.box(west, south, 180, north), shapely.box(-180, south, east, north)
                    )
                )
        if args.get("geometry"):
            try:
                geometry = shapely.from_wkt(args["geometry"])
            except shapely.errors.GEOSException:
                raise BadParameter(
                    "geometry", f"geometry is not valid WKT: {args['geometry'][:200]!r}"
                ) from None
            if geometry is None or geometry.is_empty:
                raise BadParameter("geometry", "geometry is empty")
            areas.append(geometry)
        return areas

    def _filter(self, index: ProductIndex, args: MultiDict[str, str]) -> np.ndarray:
        mask = index.overlapping(*self._time_window(args))
        for area in self._areas(args):
            mask &= index.intersecting(area, within=mask)
        ranged: dict[str, tuple[np.ndarray, Any]] = {
            "cloudCover": (index.cloud_cover, parse_number),
            "relativeOrbitNumber": (index.relative_orbit, parse_number),
            "publicationDate": (index.published, parse_instant),
            "modificationDate": (index.updated, parse_instant),
        }
        for name, (column, parse) in ranged.items():
            text = args.get(name)
            if text:
                try:
                    mask &= parse_interval(text, parse)(column)
                except ValueError as error:
                    raise BadParameter(name, f"{name}: {error}") from None
        for name in TEXT_FILTERS:
            text = args.get(name)
            if text:
                mask &= index.text[name] == text
        return mask

    @staticmethod
    def _sorted(index: ProductIndex, chosen: np.ndarray, sort_keys: str | None) -> np.ndarray:
        if not sort_keys:
            return chosen
        order = list(chosen)
        for spec in reversed(sort_keys.split()):
            field, _, rest = spec.partition(",")
            ascending = rest.rpartition(",")[2] not in ("0", "false")
            if field not in SORTABLE:
                raise BadParameter(
                    "sortKeys", f"cannot sort on {field!r}; sortable: {sorted(SORTABLE)}"
                )
            attribute = SORTABLE[field]
            column = index.text[attribute] if attribute in index.text else getattr(index, attribute)
            order.sort(
                key=lambda i, c=column: (c[i] is None or c[i] != c[i], c[i]), reverse=not ascending
            )
        return np.array(order, dtype=int)

    # ---- features -----------------------------------------------------------------------------

    def _serialise_feature(self, index: ProductIndex, position: int, base: str, mode: str) -> bytes:
        """A product as JSON, hrefs made absolute for ``base`` and ``mode``; memoised per app.

        Keyed by the index the request searched, so that a page is one snapshot of the store and
        a changed collection (a new index) never meets a product cached by its old position.
        """
        return orjson.dumps(self._with_hrefs(index.features[position], base, mode))

    def changed(self, collection: str) -> None:
        """Free the products cached for ``collection``'s replaced index, which no request asks
        for again (the cache is per app, so all of it goes: it refills a page at a time)."""
        self._feature_json.cache_clear()

    def _with_hrefs(self, feature: dict[str, Any], base: str, mode: str) -> dict[str, Any]:
        """The feature with server-relative file paths made absolute for this request."""
        properties = feature["properties"]
        links = properties.get("links")
        if not links:
            return feature
        rewritten = {
            kind: [self._resolve_link(link, base, mode) for link in items]
            if kind in FILE_KINDS
            else items
            for kind, items in links.items()
        }
        return {**feature, "properties": {**properties, "links": rewritten}}


def _garbled(payload: bytes, kind: str) -> Response:
    """A 200 answer whose body is broken in one of the ways real services break them."""
    if kind == "html":
        page = "<html><body><h1>Service temporarily unavailable</h1></body></html>"
        return Response(page, 200, mimetype="text/html")
    if kind == "truncated":
        return Response(payload[: len(payload) // 2], 200, mimetype=GEOJSON)
    page = orjson.loads(payload)
    page["totalResults"] = "many"
    for feature in page["features"]:
        feature.pop("id", None)
    return Response(orjson.dumps(page), 200, mimetype=GEOJSON)


def _cut_stream(payload: bytes, fraction: float, sock: socket.socket | None) -> Iterator[bytes]:
    yield payload[: int(len(payload) * fraction)]
    if sock is not None:
        sock.shutdown(socket.SHUT_RDWR)


def _platforms(properties: dict[str, Any]) -> set[str]:
    names = set()
    for block in properties.get("acquisitionInformation") or []:
        platform = block.get("platform") or {}
        names.update(
            str(v)
            for k, v in platform.items()
            if k in ("platformShortName", "platformSerialIdentifier")
        )
    return names
