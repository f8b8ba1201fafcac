"""The local catalogue as a WSGI application: the faces mounted, faults judged, files served.

The app routes each request to a face's handler, after the fault plan has judged it: the
OpenSearch face (:mod:`terracat.server.opensearch`: ``/collections``, ``/products``), the STAC
API face over the same store (:mod:`terracat.server.stac`: ``/stac/...``, fault route ``stac``) and the
identity provider's routes on Keycloak's paths (:mod:`terracat.server.idp_routes`). It serves
what every face shares itself: the landing page, and ``/download/<path>`` (HEAD, Range,
protected collections redirecting to the login page), whose hrefs it resolves for a face per
request (``accessedFrom``: http, ``file://`` on materialised files, ``s3://``). An unknown path
gets an OGC exception document, as the real catalogue answers it.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes, urlencode

import orjson
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from terracat.server import content
from terracat.server.faults import Faults, Verdict
from terracat.server.idp import IdentityProvider
from terracat.server.idp_routes import IdentityRoutes
from terracat.server.opensearch import BadParameter, OpenSearchFace, exception_document
from terracat.server.settings import Settings
from terracat.server.stac import PREFIX as STAC_PREFIX
from terracat.server.stac import StacFace
from terracat.server.stac import error_document as stac_error
from terracat.server.store import DOWNLOAD_PREFIX, FileEntry, Store

__all__ = ["CatalogueApp", "Settings"]

BODY_CHUNK = 64 * 1024


@dataclass(frozen=True)
class DownloadRequest:
    """What a test may want to know of a download request: the range, and if it was signed."""

    path: str
    method: str
    range: str | None
    authorized: bool


@functools.lru_cache(maxsize=16)
def _resolved(files_dir: Path) -> str:
    return str(files_dir.resolve())


def _file_uri(files_dir: Path, relative: str) -> str:
    """``(files_dir / relative).resolve().as_uri()`` for a path under a resolved directory."""
    path = os.path.normpath(f"{_resolved(files_dir)}/{relative}")
    return "file://" + quote_from_bytes(os.fsencode(path))


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
        self.opensearch = OpenSearchFace(self.store, self.settings, self._href)
        self.identity = IdentityRoutes(self.idp, self.settings)
        discovery = f"auth/realms/{self.settings.realm}/.well-known/openid-configuration"
        self.stac = StacFace(self.store, self.settings, self._href, discovery)
        self._handlers: dict[str, Callable[..., Response]] = {
            "index": self._index,
            **self.opensearch.handlers,
            **self.stac.handlers,
            "download": self._download,
            **self.identity.handlers,
        }
        # the fault plans' "auth" route is every endpoint of the identity provider
        self._fault_routes = dict.fromkeys(self.identity.handlers, "auth")
        self._fault_routes.update(dict.fromkeys(self.stac.handlers, "stac"))
        self.url_map = Map(
            [
                Rule("/", endpoint="index"),
                *self.opensearch.rules,
                *self.stac.rules,
                Rule("/download/<path:path>", endpoint="download", methods=["GET", "HEAD"]),
                *self.identity.rules,
            ],
            strict_slashes=False,
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.requests.append(request.full_path.rstrip("?"))
        adapter = self.url_map.bind_to_environ(environ)
        try:
            endpoint, values = adapter.match()
            route = self._fault_routes.get(endpoint, str(endpoint))
            verdict = self.faults.judge(route)
            if verdict.latency:
                time.sleep(verdict.latency)
            response = self._faulty(verdict) or self._handlers[endpoint](request, verdict, **values)
        except BadParameter as error:
            response = exception_document(400, error.code, error.locator, error.text)
        except NotFound:
            if request.path == STAC_PREFIX or request.path.startswith(f"{STAC_PREFIX}/"):
                response = stac_error(404, "NotFound", f"No resource at {request.path}")
            else:
                response = exception_document(
                    404, "NotFound", None, f"No resource at {request.path}"
                )
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

    # ---- landing page -------------------------------------------------------------------------

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

    # ---- hrefs and files -------------------------------------------------------------------

    def _href(
        self, link: dict[str, Any], base: str, mode: str, *, materialise: bool = True
    ) -> dict[str, Any]:
        """The link to a stored file as served for this request's ``accessedFrom`` (faces ask).

        ``materialise=False`` gives the ``file://`` href without writing the file: the STAC face
        builds every item once and writes an item's files when it serves that item.
        """
        href = link.get("href", "")
        if not href.startswith(DOWNLOAD_PREFIX):
            return link
        relative = href[len(DOWNLOAD_PREFIX) :]
        if mode == "S3":
            return {**link, "href": f"s3://{self.settings.s3_bucket}/{relative}"}
        if mode == "MEP" and self.settings.files_dir is not None:
            if not materialise:  # the same href, without a filesystem call per file
                return {**link, "href": _file_uri(self.settings.files_dir, relative)}
            entry = self.store.files.get(href)
            target = self.settings.files_dir / relative
            if entry is not None:
                content.materialise(href, entry.length, target, revision=entry.revision)
            return {**link, "href": target.resolve().as_uri()}
        return {**link, "href": base.rstrip("/") + href}

    def discard(self, paths: Iterable[str]) -> None:
        """Delete the materialised copies of files no longer served as they were (a product
        removed or reprocessed), as its files leave the real MEP with it."""
        if self.settings.files_dir is None:
            return
        for path in paths:
            if path.startswith(DOWNLOAD_PREFIX):
                (self.settings.files_dir / path[len(DOWNLOAD_PREFIX) :]).unlink(missing_ok=True)

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
        etag = f'"{abs(hash((entry.path, length, entry.revision))):x}"'
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Content-Type": mimetypes.guess_type(entry.path)[0] or "application/octet-stream",
        }
        start, stop, status = 0, length, 200
        # a Range whose If-Range names another revision's ETag gets the whole new file (RFC 9110)
        if_range = request.headers.get("If-Range")
        if (
            request.headers.get("Range")
            and request.range is not None
            and len(request.range.ranges) == 1
            and (if_range is None or if_range == etag)
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
        body = self._body(entry, start, stop, verdict, request.environ.get("werkzeug.socket"))
        return Response(body, status, headers, direct_passthrough=True)

    @staticmethod
    def _body(
        entry: FileEntry, start: int, stop: int, verdict: Verdict, sock: socket.socket | None
    ) -> Iterator[bytes]:
        cut_at = None
        if verdict.cut_after is not None:
            cut_at = start + int((stop - start) * verdict.cut_after)
        began = time.monotonic()
        sent = 0
        for offset in range(start, stop, BODY_CHUNK):
            end = min(stop, offset + BODY_CHUNK)
            if cut_at is not None and end > cut_at:
                yield entry.read(offset, cut_at)
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
                return
            chunk = entry.read(offset, end)
            if verdict.bandwidth:
                ahead = (sent + len(chunk)) / verdict.bandwidth - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
            sent += len(chunk)
            yield chunk
