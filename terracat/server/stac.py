"""The local catalogue's STAC API face: the same store as the OpenSearch face, under ``/stac/``.

Terrascope is replacing its OpenSearch service by a STAC API, so the local catalogue answers
both ways from one store: landing page and ``conformance``, ``collections``, a collection's
``items`` and single items, ``search`` by GET and POST, and the ``queryables`` CQL2 filters name.
Parameters are parsed in :mod:`terracat.server.stac_search`; items and collections are built by
:mod:`terracat.server.stac_items`. Each collection's items are built once, on first use, with a
placeholder base URL that each answer swaps for the request's own: a search then costs the
store's numpy index (time overlap, bbox) plus ``cql2``'s ``matches`` over the candidates, and
never a rebuild. Files named in ``alternate.local`` are materialised on disk when their item is
served, as the OpenSearch face does for ``accessedFrom=MEP``. When the store changes
(:mod:`terracat.server.changes`), only the changed products' items are built again, in a new
view swapped in for the old.

Errors are the STAC API's: ``{"code", "description"}`` with 400 for a bad parameter and 404 for
an unknown collection or item. Protected collections are searchable by anyone; their assets
point at ``/download/...``, which the app guards.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import urlencode

import cql2
import numpy as np
import orjson
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from terracat.server.faults import Verdict
from terracat.server.settings import Settings
from terracat.server.stac_items import (
    STAC_VERSION,
    item_properties_for_filter,
    stac_collection,
    stac_collection_id,
    stac_item,
    with_checksums,
)
from terracat.server.stac_search import Search, StacError, encode_token, search_of
from terracat.server.store import CollectionEntry, ProductIndex, Store, iter_files

__all__ = ["CONFORMANCE", "StacError", "StacFace", "error_document"]

PREFIX = "/stac"
PLACEHOLDER = "http://terracat.invalid/"
"""The base URL items are built with, swapped for the request's (see the module docstring)."""

GEOJSON = "application/geo+json"
JSON = "application/json"
SCHEMA_JSON = "application/schema+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"

CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
    "https://api.stacspec.org/v1.0.0/item-search#fields",
    "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-operators",
]
"""What the face declares: only the classes stac-api-validator passes (README lists the rest)."""

QUERY_CLASS = "https://api.stacspec.org/v1.0.0-rc.1/item-search#query"


TEXT_ONLY = "cql2-text"
"""``Settings.stac_filtering`` for a Filter extension that takes CQL2 text (by GET) only."""
CQL2_JSON_CLASS = "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json"


def conformance(filtering: str) -> list[str]:
    """The classes declared with ``Settings.stac_filtering``: the Filter extension (all of
    :data:`CONFORMANCE`), the Filter extension without ``cql2-json``, the Query extension
    instead, or neither."""
    if filtering == "filter":
        return CONFORMANCE
    if filtering == TEXT_ONLY:
        return [c for c in CONFORMANCE if c != CQL2_JSON_CLASS]
    plain = [c for c in CONFORMANCE if "filter" not in c and "/cql2/" not in c]
    return [*plain, QUERY_CLASS] if filtering == "query" else plain


DEFAULT_FIELDS = (
    "type",
    "stac_version",
    "stac_extensions",
    "id",
    "collection",
    "geometry",
    "bbox",
    "links",
    "assets",
    "properties.datetime",
)
"""What ``fields`` with an empty ``include`` starts from (the fields extension's default set)."""
MINIMAL_FIELDS = ("type", "stac_version", "id", "links")
"""What an ``include`` always keeps: enough for a client to read the item as STAC."""

QUERYABLES = {
    "id": {"description": "Item id", "type": "string"},
    "collection": {"description": "Collection id", "type": "string"},
    "geometry": {"description": "Footprint", "$ref": "https://geojson.org/schema/Geometry.json"},
    "datetime": {"description": "Acquisition time", "type": "string", "format": "date-time"},
    "start_datetime": {"type": "string", "format": "date-time"},
    "end_datetime": {"type": "string", "format": "date-time"},
    "eo:cloud_cover": {"type": "number", "minimum": 0, "maximum": 100},
    "sat:relative_orbit": {"type": "integer", "minimum": 1},
    "sat:absolute_orbit": {"type": "integer", "minimum": 1},
    "sat:orbit_state": {"type": "string", "enum": ["ascending", "descending", "geostationary"]},
    "product:type": {"type": "string"},
    "grid:code": {"type": "string"},
    "platform": {"type": "string"},
    "constellation": {"type": "string"},
}


class Resolver(Protocol):
    """The app's ``_href``: a stored file link as served (and, for MEP, materialised)."""

    def __call__(
        self, link: dict[str, Any], base: str, mode: str, *, materialise: bool = True
    ) -> dict[str, Any]: ...


def error_document(status: int, code: str, description: str) -> Response:
    """A STAC API error: ``{"code", "description"}``."""
    body = orjson.dumps({"code": code, "description": description})
    return Response(body, status, mimetype=JSON)


@dataclass
class _Collection:
    """One store collection as the STAC face sees it: its items, built once, and the index.

    A snapshot of one collection entry: a change of the collection makes a new one (see
    :meth:`StacFace.splice`), so a request keeps the lists it started with.
    """

    entry: CollectionEntry
    index: ProductIndex
    items: list[dict[str, Any]]
    filtered: list[dict[str, Any]]  # the flat view cql2 evaluates, per item
    serialised: list[bytes | None] = field(default_factory=list)  # each item's JSON, once served
    materialised: set[int] = field(default_factory=set)  # items whose local files are on disk

    def __post_init__(self) -> None:
        if not self.serialised:
            self.serialised = [None] * len(self.items)

    @cached_property
    def positions(self) -> dict[str, int]:
        return {item["id"]: i for i, item in enumerate(self.items)}


class StacFace:
    """The STAC API endpoints over one store: their URL rules and a handler per endpoint."""

    def __init__(
        self, store: Store, settings: Settings, resolve_link: Resolver, discovery_url: str
    ) -> None:
        self.store = store
        self.settings = settings
        self._resolve_link = resolve_link
        self._discovery = discovery_url  # relative to the server's base, e.g. 'auth/realms/...'
        self.by_stac_id = {stac_collection_id(c): c for c in store.collections}
        self._views: dict[str, _Collection] = {}
        self.rules = [
            Rule(f"{PREFIX}/", endpoint="stac_landing"),
            Rule(f"{PREFIX}/conformance", endpoint="stac_conformance"),
            Rule(f"{PREFIX}/api", endpoint="stac_api"),
            Rule(f"{PREFIX}/api.html", endpoint="stac_api_html"),
            Rule(f"{PREFIX}/queryables", endpoint="stac_queryables"),
            Rule(f"{PREFIX}/collections", endpoint="stac_collections"),
            Rule(f"{PREFIX}/collections/<collection>", endpoint="stac_collection"),
            Rule(f"{PREFIX}/collections/<collection>/queryables", endpoint="stac_queryables"),
            Rule(f"{PREFIX}/collections/<collection>/items", endpoint="stac_items"),
            Rule(f"{PREFIX}/collections/<collection>/items/<item>", endpoint="stac_item"),
            Rule(f"{PREFIX}/search", endpoint="stac_search", methods=["GET", "POST"]),
        ]
        handlers: dict[str, Callable[..., Response]] = {
            "stac_landing": self._landing,
            "stac_conformance": self._conformance,
            "stac_api": self._api,
            "stac_api_html": self._api_html,
            "stac_queryables": self._queryables,
            "stac_collections": self._collections,
            "stac_collection": self._collection,
            "stac_items": self._items,
            "stac_item": self._item,
            "stac_search": self._search,
        }
        self.handlers = {name: self._answering_errors(h) for name, h in handlers.items()}

    @staticmethod
    def _answering_errors(handler: Callable[..., Response]) -> Callable[..., Response]:
        def answer(*args: Any, **kwargs: Any) -> Response:
            try:
                return handler(*args, **kwargs)
            except StacError as error:
                return error_document(error.status, error.code, error.description)

        return answer

    # ---- the store as items ------------------------------------------------------------------

    def _view(self, stac_id: str) -> _Collection:
        """The collection's items, built on first use (a 404 for an unknown collection).

        Built under the store's lock, so that a change waits for a build rather than be lost
        in it; a view of an entry the store has since replaced is never answered from.
        """
        if stac_id not in self.by_stac_id:
            raise StacError(
                f"Collection {stac_id!r} not found; known: {sorted(self.by_stac_id)}",
                "NotFound",
                404,
            )
        collection = self.by_stac_id[stac_id]
        view = self._views.get(stac_id)
        if view is not None and view.entry is self.store.collections[collection]:
            return view
        with self.store.lock:
            entry = self.store.collections[collection]
            view = self._views.get(stac_id)
            if view is None or view.entry is not entry:
                items = [self._build_item(feature, entry) for feature in entry.products]
                view = self._views[stac_id] = _Collection(
                    entry,
                    self.store.index(entry.id),
                    items,
                    [item_properties_for_filter(item) for item in items],
                )
            return view

    def _build_item(self, feature: dict[str, Any], entry: CollectionEntry) -> dict[str, Any]:
        root = f"{PLACEHOLDER}stac/"
        discovery = f"{PLACEHOLDER}{self._discovery}"
        return stac_item(feature, entry, root, self._unmaterialised, PLACEHOLDER, discovery)

    def splice(self, collection: str, position: int, removed: int, added: int) -> None:
        """Follow :meth:`Store.splice` (the caller holds the store's lock): the built view gets
        the ``added`` products' items in place of the ``removed`` ones, in a new view swapped
        in; the items of the products unchanged are reused, not rebuilt (seconds for the demo's
        largest collection). Its local files are checked again as its items are served.
        """
        stac_id = stac_collection_id(collection)
        view = self._views.get(stac_id)
        if view is None:
            return  # built from the store on first use
        entry = self.store.collections[collection]
        stop = position + removed
        items = [self._build_item(f, entry) for f in entry.products[position : position + added]]
        filtered = [item_properties_for_filter(item) for item in items]
        self._views[stac_id] = _Collection(
            entry,
            self.store.index(collection),
            [*view.items[:position], *items, *view.items[stop:]],
            [*view.filtered[:position], *filtered, *view.filtered[stop:]],
            [*view.serialised[:position], *[None] * added, *view.serialised[stop:]],
        )

    def _unmaterialised(self, link: dict[str, Any], base: str, mode: str) -> dict[str, Any]:
        return self._resolve_link(link, base, mode, materialise=False)

    def _materialise(self, view: _Collection, position: int) -> None:
        """Write the files ``alternate.local`` names for this item, once per product and view."""
        if position in view.materialised or self.settings.files_dir is None:
            return
        for _, link in iter_files(view.entry.products[position]):
            self._resolve_link(link, PLACEHOLDER, "MEP")
        view.materialised.add(position)

    # ---- search ----------------------------------------------------------------------------

    def select(self, search: Search) -> list[tuple[_Collection, int]]:
        """Every (collection, position) the search matches, in answer order."""
        stac_ids = search.collections or tuple(self.by_stac_id)
        chosen: list[tuple[_Collection, int]] = []
        for stac_id in stac_ids:
            if stac_id not in self.by_stac_id:
                continue  # an unknown collection in a search matches nothing, as in stac-fastapi
            view = self._view(stac_id)
            mask = view.index.overlapping(search.start, search.end)
            if search.area is not None:
                mask &= view.index.intersecting(search.area, within=mask)
            positions: Sequence[int] = np.flatnonzero(mask).tolist()
            if search.ids is not None:
                wanted = set(search.ids)
                positions = [p for p in positions if view.items[p]["id"] in wanted]
            if search.filter is not None:
                positions = [p for p in positions if _matches(search.filter, view.filtered[p])]
            chosen.extend((view, p) for p in positions)
        for name, ascending in reversed(search.sortby):
            chosen = _sorted(chosen, name, ascending)
        return chosen

    def _page(self, request: Request, search: Search, verdict: Verdict, *, post: bool) -> Response:
        chosen = self.select(search)
        page = chosen[search.offset : search.offset + search.limit]
        base = request.host_url
        features = []
        with_assets = search.include is None and "assets" not in search.exclude
        with_assets = with_assets or "assets" in (search.include or ())
        for view, position in page:
            if with_assets:  # local files only for items whose assets are served
                self._materialise(view, position)
            features.append(self._item_json(view, position, search))
        matched = max(0, len(chosen) + verdict.total_shift)
        links = [
            {"rel": "root", "type": JSON, "href": f"{base}stac/"},
            {"rel": "self", "type": GEOJSON, "href": request.url},
        ]
        if search.offset + search.limit < len(chosen):
            links.append(self._paging_link(request, search, "next", search.offset + search.limit))
        if search.offset > 0:
            previous = max(0, search.offset - search.limit)
            links.append(self._paging_link(request, search, "prev", previous))
        head = orjson.dumps(
            {
                "type": "FeatureCollection",
                "links": links,
                "numberMatched": matched,
                "numberReturned": len(features),
            }
        )
        payload = b"".join((head[:-1], b',"features":[', b",".join(features), b"]}"))
        payload = payload.replace(PLACEHOLDER.encode(), base.encode())
        return _faulty_page(payload, verdict, request) or Response(payload, mimetype=GEOJSON)

    def _paging_link(
        self, request: Request, search: Search, rel: str, offset: int
    ) -> dict[str, Any]:
        token = encode_token(offset)
        if request.method == "POST":
            return {
                "rel": rel,
                "type": GEOJSON,
                "method": "POST",
                "href": request.base_url,
                "body": {**search.echo, "token": token},
                "merge": True,
            }
        query = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
        href = f"{request.base_url}?{urlencode([*query, ('token', token)])}"
        return {"rel": rel, "type": GEOJSON, "method": "GET", "href": href}

    def _item_json(self, view: _Collection, position: int, search: Search | None) -> bytes:
        # hashed when first served, not built
        item = with_checksums(view.items[position], self.store.files)
        if search is not None and (search.include is not None or search.exclude):
            return orjson.dumps(_project(item, search.include, search.exclude))
        cached = view.serialised[position]
        if cached is None:
            cached = view.serialised[position] = orjson.dumps(item)
        return cached

    # ---- handlers -------------------------------------------------------------------------------

    def _landing(self, request: Request, verdict: Verdict) -> Response:
        root = f"{request.host_url}stac/"
        links = [
            {"rel": "self", "type": JSON, "href": root},
            {"rel": "root", "type": JSON, "href": root},
            {"rel": "conformance", "type": JSON, "href": f"{root}conformance"},
            {"rel": "data", "type": JSON, "href": f"{root}collections"},
            {"rel": "search", "type": GEOJSON, "method": "GET", "href": f"{root}search"},
            {"rel": "search", "type": GEOJSON, "method": "POST", "href": f"{root}search"},
            {"rel": "service-desc", "type": OPENAPI, "href": f"{root}api"},
            {"rel": "service-doc", "type": "text/html", "href": f"{root}api.html"},
            {"rel": QUERYABLES_REL, "type": SCHEMA_JSON, "href": f"{root}queryables"},
        ]
        links += [
            {"rel": "child", "type": JSON, "href": f"{root}collections/{stac_id}"}
            for stac_id in self.by_stac_id
        ]
        body = {
            "type": "Catalog",
            "stac_version": STAC_VERSION,
            "id": "terracat-local-catalogue",
            "title": "terracat local catalogue",
            "description": "The local catalogue's store as a STAC API, as Terrascope serves it",
            "conformsTo": conformance(self.settings.stac_filtering),
            "links": links,
        }
        return _json(body)

    def _conformance(self, request: Request, verdict: Verdict) -> Response:
        return _json({"conformsTo": conformance(self.settings.stac_filtering)})

    def _api(self, request: Request, verdict: Verdict) -> Response:
        """A minimal OpenAPI description: the paths this face serves."""
        paths = {
            f"/stac{rule.rule[len(PREFIX) :]}".replace("<", "{").replace(">", "}"): {
                method.lower(): {"responses": {"200": {"description": "OK"}}}
                for method in sorted((rule.methods or {"GET"}) - {"HEAD", "OPTIONS"})
            }
            for rule in self.rules
        }
        body = {
            "openapi": "3.0.3",
            "info": {"title": "terracat local catalogue STAC API", "version": STAC_VERSION},
            "paths": paths,
        }
        return Response(orjson.dumps(body), mimetype=OPENAPI)

    def _api_html(self, request: Request, verdict: Verdict) -> Response:
        rows = "".join(f"<li>{rule.rule}</li>" for rule in self.rules)
        page = (
            f"<html><body><h1>terracat local catalogue: STAC API</h1><ul>{rows}</ul></body></html>"
        )
        return Response(page, mimetype="text/html")

    def _queryables(
        self, request: Request, verdict: Verdict, collection: str | None = None
    ) -> Response:
        if collection is not None and collection not in self.by_stac_id:
            self._view(collection)  # the 404
        body = {
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": request.base_url,
            "type": "object",
            "title": f"Queryables of {collection or 'the local catalogue'}",
            "properties": QUERYABLES,
            "additionalProperties": True,
        }
        return Response(orjson.dumps(body), mimetype=SCHEMA_JSON)

    def _collection_body(self, stac_id: str, root: str) -> dict[str, Any]:
        entry = self.store.collections[self.by_stac_id[stac_id]]
        body = stac_collection(entry, root)
        body["links"].append(
            {
                "rel": QUERYABLES_REL,
                "type": SCHEMA_JSON,
                "href": f"{root}collections/{stac_id}/queryables",
            }
        )
        return body

    def _collections(self, request: Request, verdict: Verdict) -> Response:
        root = f"{request.host_url}stac/"
        body = {
            "collections": [self._collection_body(s, root) for s in self.by_stac_id],
            "links": [
                {"rel": "self", "type": JSON, "href": f"{root}collections"},
                {"rel": "root", "type": JSON, "href": root},
            ],
        }
        return _json(body)

    def _collection(self, request: Request, verdict: Verdict, collection: str) -> Response:
        if collection not in self.by_stac_id:
            self._view(collection)  # the 404
        return _json(self._collection_body(collection, f"{request.host_url}stac/"))

    def _items(self, request: Request, verdict: Verdict, collection: str) -> Response:
        self._view(collection)
        self._text_only(request.args, post=False)
        search = search_of(request.args, post=False, collection=collection, **self._paging())
        return self._page(request, search, verdict, post=False)

    def _item(self, request: Request, verdict: Verdict, collection: str, item: str) -> Response:
        view = self._view(collection)
        position = view.positions.get(item)
        if position is None:
            raise StacError(f"Item {item!r} not found in {collection!r}", "NotFound", 404)
        self._materialise(view, position)
        payload = self._item_json(view, position, None)
        payload = payload.replace(PLACEHOLDER.encode(), request.host_url.encode())
        return Response(payload, mimetype=GEOJSON)

    def _paging(self) -> dict[str, Any]:
        return {
            "maximum": self.settings.stac_max_limit,
            "refuse": self.settings.stac_refuse_above_max,
            # text only is the Filter extension to the parser; _text_only refuses the rest
            "filtering": "filter"
            if self.settings.stac_filtering == TEXT_ONLY
            else self.settings.stac_filtering,
        }

    def _text_only(self, parameters: Any, *, post: bool) -> None:
        """Refuse a filter a server declaring only ``cql2-text`` does not take: one in a POST
        body, or one in CQL2 JSON."""
        if self.settings.stac_filtering != TEXT_ONLY or parameters.get("filter") in (None, ""):
            return
        if post or parameters.get("filter-lang", "cql2-text") != "cql2-text":
            raise StacError(
                "this server takes filters in CQL2 text by GET only (it does not declare cql2-json)"
            )

    def _search(self, request: Request, verdict: Verdict) -> Response:
        if request.method == "POST":
            try:
                body = orjson.loads(request.get_data() or b"{}")
            except orjson.JSONDecodeError:
                raise StacError("the search body is not JSON") from None
            if not isinstance(body, dict):
                raise StacError(f"the search body must be a JSON object, got {body!r}")
            self._text_only(body, post=True)
            search = search_of(body, post=True, **self._paging())
            return self._page(request, search, verdict, post=True)
        self._text_only(request.args, post=False)
        search = search_of(request.args, post=False, **self._paging())
        return self._page(request, search, verdict, post=False)


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), mimetype=JSON)


def _matches(expression: cql2.Expr, view: dict[str, Any]) -> bool:
    """Whether the item matches; a comparison with a property the item lacks is false (null)."""
    try:
        return bool(expression.matches(view))
    except Exception:  # cql2 cannot reduce e.g. a comparison with a missing property
        return False


def _field(item: dict[str, Any], name: str) -> Any:
    """An item's value for a sortby/fields name: top level (``id``) or a property."""
    if name.startswith("properties."):
        return item["properties"].get(name[len("properties.") :])
    if name in item and name != "properties":
        return item[name]
    return item["properties"].get(name)


def _sorted(
    chosen: list[tuple[_Collection, int]], name: str, ascending: bool
) -> list[tuple[_Collection, int]]:
    """A stable sort on one field, items without it last in both directions."""
    valued = [(_field(view.items[p], name), (view, p)) for view, p in chosen]
    present = [pair for pair in valued if pair[0] is not None]
    missing = [pair for pair in valued if pair[0] is None]
    try:
        present.sort(key=lambda pair: pair[0], reverse=not ascending)
    except TypeError:
        raise StacError(f"cannot sort on {name!r}: its values are of mixed types") from None
    return [pair[1] for pair in present + missing]


def _project(
    item: dict[str, Any], include: tuple[str, ...] | None, exclude: tuple[str, ...]
) -> dict[str, Any]:
    """The item cut as the fields extension says, the way stac-api-validator checks it.

    ``include`` given: those fields and the few that make a STAC item (``MINIMAL_FIELDS``);
    empty: the default set; not given: the whole item. ``exclude`` then removes fields, but never
    one that is included itself or has an included field below it.
    """
    if include is None:
        paths = [*item, *(f"properties.{k}" for k in item["properties"])]
        paths.remove("properties")
    elif include:
        paths = [*include, *MINIMAL_FIELDS]
    else:
        paths = list(DEFAULT_FIELDS)
    kept = set(include or ())
    excluded = [
        e for e in exclude if e not in kept and not any(k.startswith(f"{e}.") for k in kept)
    ]
    result: dict[str, Any] = {}
    for path in paths:
        if any(path == e or path.startswith(f"{e}.") for e in excluded):
            continue
        head, _, rest = path.partition(".")
        if head not in item:
            continue
        if not rest:
            result[head] = item[head]
        elif isinstance(item[head], dict) and rest in item[head]:
            target = result.setdefault(head, {})
            if isinstance(target, dict) and target is not item[head]:
                target[rest] = item[head][rest]
    return result


def _faulty_page(payload: bytes, verdict: Verdict, request: Request) -> Response | None:
    """A page broken the way the fault plan says (garbled body, connection cut), else None."""
    if verdict.garble == "html":
        page = "<html><body><h1>Service temporarily unavailable</h1></body></html>"
        return Response(page, 200, mimetype="text/html")
    if verdict.garble == "truncated":
        return Response(payload[: len(payload) // 2], 200, mimetype=GEOJSON)
    if verdict.garble is not None:
        page = orjson.loads(payload)
        page["numberMatched"] = "many"
        for feature in page["features"]:
            feature.pop("id", None)
        return Response(orjson.dumps(page), 200, mimetype=GEOJSON)
    if verdict.cut_after is not None:
        sock = request.environ.get("werkzeug.socket")
        cut = _cut_stream(payload, verdict.cut_after, sock)
        headers = {"Content-Length": str(len(payload))}
        return Response(cut, headers=headers, mimetype=GEOJSON, direct_passthrough=True)
    return None


def _cut_stream(payload: bytes, fraction: float, sock: socket.socket | None) -> Iterator[bytes]:
    yield payload[: int(len(payload) * fraction)]
    if sock is not None:
        sock.shutdown(socket.SHUT_RDWR)
