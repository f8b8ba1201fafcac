"""The local catalogue as a WSGI application, speaking Terrascope's OpenSearch GeoJSON protocol.

Routes: ``/collections`` and ``/products`` (OGC 17-047r1 pages with first/previous/next/last
links), ``/download/<path>`` (HEAD, Range, protected collections redirecting to the login page),
and the identity provider on Keycloak's paths. Bad parameters get OGC exception documents, as
the real catalogue answers them.
"""

from __future__ import annotations

import datetime as dt
import functools
import mimetypes
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import orjson
import shapely
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from terracat.server import content
from terracat.server.faults import Faults, Verdict
from terracat.server.idp import (
    AuthorizationError,
    IdentityProvider,
    OAuthError,
    device_page,
    login_page,
    message_page,
    openid_configuration,
)
from terracat.server.intervals import parse_instant, parse_interval, parse_number
from terracat.server.store import DOWNLOAD_PREFIX, FILE_KINDS, ProductIndex, Store

__all__ = ["CatalogueApp", "Settings"]

GEOJSON = "application/geo+json;charset=UTF-8"
JSON = "application/json"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 5.1, for token answers
BODY_CHUNK = 64 * 1024
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
IDP_ENDPOINTS = frozenset(  # the identity provider's routes: the "auth" route of fault plans
    {"token", "login", "device_authorization", "device_verification", "openid_configuration"}
)
OPENSEARCH_NAMES = {
    "bbox": "geo:box",
    "geometry": "geo:geometry",
    "start": "time:start",
    "end": "time:end",
    "cloudCover": "eo:cloudCover",
    "count": "count",
    "startIndex": "startIndex",
}


@dataclass
class Settings:
    """How the local catalogue pages and where it materialises files.

    ``max_depth`` is the deepest result a client may page to (``startIndex + count - 1``), as
    the real catalogue limits it; ``files_dir`` receives the files of ``accessedFrom=MEP`` hrefs.
    """

    page_size: int = 100
    max_count: int = 1000
    max_depth: int = 10_000
    files_dir: Path | None = None
    s3_bucket: str = "terrascope"
    realm: str = "terrascope"
    download_redirect: str | None = (
        None  # answer downloads with a 302 to this base URL's /download/
    )


@dataclass(frozen=True)
class DownloadRequest:
    """What a test may want to know of a download request: the range, and if it was signed."""

    path: str
    method: str
    range: str | None
    authorized: bool


class BadParameter(Exception):
    """A parameter the catalogue cannot use: answered 400 with an OGC exception document."""

    def __init__(self, locator: str, text: str, code: str = "InvalidParameterValue") -> None:
        super().__init__(text)
        self.locator, self.text, self.code = locator, text, code


def _exception_document(status: int, code: str, locator: str | None, text: str) -> Response:
    exception: dict[str, str] = {"exceptionCode": code, "exceptionText": text}
    if locator:
        exception["locator"] = locator
    return Response(orjson.dumps({"exceptions": [exception]}), status, mimetype="application/json")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CatalogueApp:
    """The WSGI callable; its store, settings, faults and identity provider are live objects."""

    def __init__(
        self,
        store: Store,
        settings: Settings | None = None,
        faults: Faults | None = None,
        idp: IdentityProvider | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or Settings()
        self.faults = faults or Faults()
        self.idp = idp or IdentityProvider()
        self.requests: list[str] = []  # every request's path and query, for tests to inspect
        self.downloads: list[DownloadRequest] = []  # every download request, as it arrived
        self._feature_json = functools.lru_cache(maxsize=FEATURE_CACHE)(self._serialise_feature)
        realm = "/auth/realms/<realm>"
        oidc = f"{realm}/protocol/openid-connect"
        self.url_map = Map(
            [
                Rule("/", endpoint="index"),
                Rule("/collections", endpoint="collections"),
                Rule("/products", endpoint="products"),
                Rule("/download/<path:path>", endpoint="download", methods=["GET", "HEAD"]),
                Rule(f"{oidc}/token", endpoint="token", methods=["POST"]),
                Rule(f"{oidc}/auth", endpoint="login", methods=["GET", "POST"]),
                Rule(f"{oidc}/auth/device", endpoint="device_authorization", methods=["POST"]),
                Rule(f"{realm}/device", endpoint="device_verification", methods=["GET", "POST"]),
                Rule(f"{realm}/.well-known/openid-configuration", endpoint="openid_configuration"),
            ],
            strict_slashes=False,
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.requests.append(request.full_path.rstrip("?"))
        adapter = self.url_map.bind_to_environ(environ)
        try:
            endpoint, values = adapter.match()
            route = "auth" if endpoint in IDP_ENDPOINTS else str(endpoint)
            verdict = self.faults.judge(route)
            if verdict.latency:
                time.sleep(verdict.latency)
            response = self._faulty(verdict) or getattr(self, f"_{endpoint}")(
                request, verdict, **values
            )
        except BadParameter as error:
            response = _exception_document(400, error.code, error.locator, error.text)
        except NotFound:
            response = _exception_document(404, "NotFound", None, f"No resource at {request.path}")
        except HTTPException as error:
            response = error.get_response(environ)  # type: ignore[assignment]
        return response(environ, start_response)

    @staticmethod
    def _faulty(verdict: Verdict) -> Response | None:
        if verdict.status == 429:
            return Response(
                "Too Many Requests",
                429,
                {"Retry-After": str(verdict.retry_after)},
                mimetype="text/plain",
            )
        if verdict.status is not None:
            page = f"<html><body><h1>{verdict.status} Service Unavailable</h1></body></html>"
            return Response(page, verdict.status, mimetype="text/html")
        return None

    # ---- catalogue -------------------------------------------------------------------------

    def _index(self, request: Request, verdict: Verdict) -> Response:
        base = request.host_url
        body = {
            "title": "terracat local catalogue",
            "description": "OpenSearch GeoJSON catalogue with Terrascope's protocol",
            "links": {
                "collections": f"{base}collections",
                "products": f"{base}products?collection=<collection id>",
                "token": f"{base}auth/realms/{self.settings.realm}/protocol/openid-connect/token",
            },
            "collections": list(self.store.collections),
        }
        return Response(orjson.dumps(body, option=orjson.OPT_INDENT_2), mimetype="application/json")

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
        features = [self._feature_json(collection, int(i), request.host_url, mode) for i in chosen]
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

    # ---- hrefs and files -------------------------------------------------------------------

    def _serialise_feature(self, collection: str, position: int, base: str, mode: str) -> bytes:
        """A product as JSON, hrefs made absolute for ``base`` and ``mode``; memoised per app."""
        feature = self.store.index(collection).features[position]
        return orjson.dumps(self._with_hrefs(feature, base, mode))

    def _with_hrefs(self, feature: dict[str, Any], base: str, mode: str) -> dict[str, Any]:
        """The feature with server-relative file paths made absolute for this request."""
        properties = feature["properties"]
        links = properties.get("links")
        if not links:
            return feature
        rewritten = {
            kind: [self._href(link, base, mode) for link in items] if kind in FILE_KINDS else items
            for kind, items in links.items()
        }
        return {**feature, "properties": {**properties, "links": rewritten}}

    def _href(self, link: dict[str, Any], base: str, mode: str) -> dict[str, Any]:
        href = link.get("href", "")
        if not href.startswith(DOWNLOAD_PREFIX):
            return link
        relative = href[len(DOWNLOAD_PREFIX) :]
        if mode == "S3":
            return {**link, "href": f"s3://{self.settings.s3_bucket}/{relative}"}
        if mode == "MEP" and self.settings.files_dir is not None:
            entry = self.store.files.get(href)
            target = self.settings.files_dir / relative
            if entry is not None:
                content.materialise(href, entry.length, target)
            return {**link, "href": target.resolve().as_uri()}
        return {**link, "href": base.rstrip("/") + href}

    def _download(self, request: Request, verdict: Verdict, path: str) -> Response:
        self.downloads.append(
            DownloadRequest(
                DOWNLOAD_PREFIX + path,
                request.method,
                request.headers.get("Range"),
                request.headers.get("Authorization") is not None,
            )
        )
        if self.settings.download_redirect:
            target = f"{self.settings.download_redirect.rstrip('/')}{DOWNLOAD_PREFIX}{path}"
            return Response("", 302, {"Location": target})
        entry = self.store.files.get(DOWNLOAD_PREFIX + path)
        if entry is None:
            raise NotFound()
        authorization = request.headers.get("Authorization")
        if entry.protected and authorization and self.idp.user_of(authorization) is None:
            # a token that is no longer (or never was) valid: 401, as Keycloak-protected data does
            challenge = 'Bearer realm="terrascope", error="invalid_token"'
            return Response("", 401, {"WWW-Authenticate": challenge})
        if entry.protected and not authorization:
            login = (
                f"{request.host_url}auth/realms/{self.settings.realm}/protocol/openid-connect/auth?"
                + urlencode(
                    {
                        "client_id": "terracatalogueclient",
                        "response_type": "code",
                        "redirect_uri": request.url,
                    }
                )
            )
            return Response("", 302, {"Location": login})
        length = entry.length
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": f'"{abs(hash((entry.path, length))):x}"',
            "Content-Type": mimetypes.guess_type(entry.path)[0] or "application/octet-stream",
        }
        start, stop, status = 0, length, 200
        if (
            request.headers.get("Range")
            and request.range is not None
            and len(request.range.ranges) == 1
        ):
            satisfiable = request.range.range_for_length(length)
            if satisfiable is None:
                headers["Content-Range"] = f"bytes */{length}"
                return Response(b"", 416, headers)
            start, stop = satisfiable
            status = 206
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{length}"
        headers["Content-Length"] = str(stop - start)
        # werkzeug sends no body for HEAD and leaves the generator unread
        body = self._body(entry.path, start, stop, verdict, request.environ.get("werkzeug.socket"))
        return Response(body, status, headers, direct_passthrough=True)

    @staticmethod
    def _body(
        path: str, start: int, stop: int, verdict: Verdict, sock: socket.socket | None
    ) -> Iterator[bytes]:
        cut_at = None
        if verdict.cut_after is not None:
            cut_at = start + int((stop - start) * verdict.cut_after)
        began = time.monotonic()
        sent = 0
        for offset in range(start, stop, BODY_CHUNK):
            end = min(stop, offset + BODY_CHUNK)
            if cut_at is not None and end > cut_at:
                yield content.read(path, offset, cut_at)
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
                return
            chunk = content.read(path, offset, end)
            if verdict.bandwidth:
                ahead = (sent + len(chunk)) / verdict.bandwidth - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
            sent += len(chunk)
            yield chunk

    # ---- identity provider -----------------------------------------------------------------

    def _issuer(self, request: Request) -> str:
        return f"{request.host_url}auth/realms/{self.settings.realm}"

    def _known_realm(self, realm: str, page: bool = False) -> Response | None:
        """``None`` for this catalogue's realm, else Keycloak's 404 (as a page or as JSON)."""
        if realm == self.settings.realm:
            return None
        if page:
            return _html(message_page("We are sorry...", "Realm does not exist"), 404)
        return Response(orjson.dumps({"error": "Realm does not exist"}), 404, mimetype=JSON)

    @staticmethod
    def _client_credentials(request: Request) -> tuple[dict[str, str], str | None, str | None]:
        """The form without the client's credentials, and those (from the form or HTTP Basic)."""
        form = request.form.to_dict()
        client_id, client_secret = form.pop("client_id", None), form.pop("client_secret", None)
        if request.authorization is not None and request.authorization.type == "basic":
            client_id = request.authorization.username
            client_secret = request.authorization.password
        return form, client_id, client_secret

    def _token(self, request: Request, verdict: Verdict, realm: str) -> Response:
        if (unknown := self._known_realm(realm)) is not None:
            return unknown
        form, client_id, client_secret = self._client_credentials(request)
        try:
            pair = self.idp.token(form, client_id, client_secret)
        except OAuthError as error:
            return _oauth_error(error)
        return Response(orjson.dumps(pair.as_json()), 200, NO_STORE, mimetype=JSON)

    def _login(self, request: Request, verdict: Verdict, realm: str) -> Response:
        """The authorization endpoint: the sign-in form (GET) and its submission (POST)."""
        if (unknown := self._known_realm(realm, page=True)) is not None:
            return unknown
        source = request.form if request.method == "POST" else request.args
        repeated = sorted(k for k, values in source.lists() if len(values) > 1)
        if repeated:  # RFC 6749 3.1: a parameter given twice is ambiguous, so refused outright
            return _html(
                message_page("We are sorry...", f"Duplicated parameter: {repeated[0]}"), 400
            )
        params = source.to_dict()
        try:
            authorization = self.idp.authorization_request(params, own_origin=request.host_url)
        except AuthorizationError as error:
            if error.redirect is not None:
                return Response("", 302, {"Location": error.redirect, **NO_STORE})
            return _html(message_page("We are sorry...", error.description), 400)
        carried = {k: v for k, v in params.items() if k not in ("username", "password")}
        if request.method != "POST":  # GET, or HEAD
            return _html(login_page(request.base_url, carried))
        code = self.idp.sign_in(
            authorization, params.get("username", ""), params.get("password", "")
        )
        if code is None:
            page = login_page(request.base_url, carried, error="Invalid username or password.")
            return _html(page)
        location = authorization.redirect_to(code=code, state=authorization.state)
        return Response("", 302, {"Location": location, **NO_STORE})

    def _device_authorization(self, request: Request, verdict: Verdict, realm: str) -> Response:
        """RFC 8628 3.1: a device code, the code its user enters, and where to enter it."""
        if (unknown := self._known_realm(realm)) is not None:
            return unknown
        form, client_id, client_secret = self._client_credentials(request)
        try:
            grant = self.idp.start_device(client_id, client_secret, form.get("scope", ""))
        except OAuthError as error:
            return _oauth_error(error)
        body = grant.as_json(f"{self._issuer(request)}/device")
        return Response(orjson.dumps(body), 200, NO_STORE, mimetype=JSON)

    def _device_verification(self, request: Request, verdict: Verdict, realm: str) -> Response:
        """Where a person enters a device's user code, signs in and approves or denies it."""
        if (unknown := self._known_realm(realm, page=True)) is not None:
            return unknown
        if request.method != "POST":  # GET, or HEAD
            return _html(device_page(request.base_url, request.args.get("user_code", "")))
        form = request.form
        user_code, approve = form.get("user_code", ""), "deny" not in form
        try:
            signed_in = self.idp.decide_device(
                user_code, form.get("username", ""), form.get("password", ""), approve=approve
            )
        except AuthorizationError as error:
            return _html(device_page(request.base_url, user_code, error=error.description), 400)
        if not signed_in:
            page = device_page(request.base_url, user_code, error="Invalid username or password.")
            return _html(page)
        if approve:
            page = message_page("Device Login Successful", "You may now return to your device.")
        else:
            page = message_page("Access denied", "The device was not signed in.")
        return _html(page)

    def _openid_configuration(self, request: Request, verdict: Verdict, realm: str) -> Response:
        if (unknown := self._known_realm(realm)) is not None:
            return unknown
        body = openid_configuration(self._issuer(request))
        return Response(orjson.dumps(body, option=orjson.OPT_INDENT_2), mimetype=JSON)


def _oauth_error(error: OAuthError) -> Response:
    body = {"error": error.error, "error_description": error.description}
    return Response(orjson.dumps(body), error.status, NO_STORE, mimetype=JSON)


def _html(page: str, status: int = 200) -> Response:
    # sign-in pages are neither cached nor framed (clickjacking)
    headers = {**NO_STORE, "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}
    return Response(page, status, headers, mimetype="text/html")


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
