"""The OpenSearch :class:`~terracat.protocols.base.Backend`: a request encoded in OpenSearch's
value syntax, its pages walked by :class:`Pages`, its products decoded by
:class:`OpenSearchDecoder` into the frame builder.

A product search asks ``<catalogue>/products``, a search of collections ``<catalogue>/collections``.
A ``count`` keyword is the page size, as the catalogue reads it.
"""

from __future__ import annotations

import contextlib
import difflib
import math
from collections.abc import Iterator
from typing import Any

import geopandas
import requests

from terracat.config import CatalogueConfig
from terracat.exceptions import ParameterParserException, SearchException, TerracatError
from terracat.frame import FrameBuilder, features_frame
from terracat.protocols.opensearch.decoder import OpenSearchDecoder
from terracat.protocols.opensearch.encode import encode
from terracat.protocols.opensearch.paging import PageFetcher, Pages, Window, depth_of
from terracat.request import SearchRequest

__all__ = ["OpenSearchBackend"]


class OpenSearchBackend:
    """OGC OpenSearch GeoJSON catalogues (Terrascope, HR-VPP, CGLS)."""

    name = "opensearch"

    def __init__(self, config: CatalogueConfig, session: requests.Session) -> None:
        self.config = config
        self.session = session
        self._collection_ids: list[str] | None = None  # looked up once, for a misspelling

    @contextlib.contextmanager
    def _naming_collections(self, request: SearchRequest) -> Iterator[None]:
        """Add the closest collections the catalogue has to its "Unknown collection" answer.

        The catalogue only says the identifier is unknown; a long urn misspelled by one letter
        is hard to spot, so the catalogue's collections are asked for (once) and the nearest
        named, as the STAC backend does.
        """
        try:
            yield
        except SearchException as error:
            if request.collection is None or not _unknown_collection(error):
                raise
            try:
                ids = self._known_collections()
            except TerracatError:  # the hint is a courtesy: the catalogue's own answer stands
                raise error from None
            closest = difflib.get_close_matches(request.collection, ids, n=3, cutoff=0.6)
            hint = (
                f"the closest collections {self.config.catalogue_url} has: {', '.join(closest)}"
                if closest
                else f"{self.config.catalogue_url} has no collection close to it"
            )
            raise SearchException(error.response, hint) from error

    def _known_collections(self) -> list[str]:
        if self._collection_ids is None:
            pages = self._pages("collections", {}, None)
            self._collection_ids = [str(feature.id) for feature in pages.iter_features()]
        return self._collection_ids

    def _endpoint(self, request: SearchRequest) -> str:
        return "collections" if request.collection is None else "products"

    def _pages(self, endpoint: str, params: dict[str, str], limit: int | None) -> Pages:
        query = dict(params)
        fetch = PageFetcher(
            self.session,
            self.config.catalogue_url + endpoint,
            self.config.search_timeout,
            self.config.retries,
            self.config.max_page_bytes,
        )
        page_size = _page_size(query.pop("count", self.config.page_size))
        return Pages(
            fetch, query, page_size=page_size, limit=limit, workers=self.config.search_workers
        )

    def _request_pages(self, request: SearchRequest) -> Pages:
        return self._pages(self._endpoint(request), encode(request), request.limit)

    def _source(self, request: SearchRequest) -> str:
        return self.config.catalogue_url + self._endpoint(request)

    def search(self, request: SearchRequest, *, split: bool = False) -> geopandas.GeoDataFrame:
        pages = self._request_pages(request)
        builder = FrameBuilder(
            pages.limit, decoder=OpenSearchDecoder(), source=self._source(request)
        )
        with self._naming_collections(request):
            pages.collect(builder.add, split=split)
        return builder.build()

    def frames(self, request: SearchRequest) -> Iterator[geopandas.GeoDataFrame]:
        pages = self._request_pages(request)
        source = self._source(request)
        batch: list[Any] = []
        with self._naming_collections(request):
            for feature in pages.iter_features():
                batch.append(feature)
                if len(batch) == pages.page_size:
                    yield features_frame(batch, source, decoder=OpenSearchDecoder())
                    batch = []
        if batch:
            yield features_frame(batch, source, decoder=OpenSearchDecoder())

    def count(self, request: SearchRequest) -> int:
        with self._naming_collections(request):
            return self._request_pages(request).count()

    def provenance(self, request: SearchRequest) -> dict[str, Any]:
        return {"endpoint": self._endpoint(request), "query": encode(request)}

    def partitions(
        self, request: SearchRequest, most: int
    ) -> tuple[geopandas.GeoDataFrame, list[Window]]:
        """Time windows sized by ``count=0`` requests, each within ``most`` and the paging depth."""
        pages = self._request_pages(request)
        with self._naming_collections(request):
            first = pages.fetch({**pages.params, "startIndex": 1, "count": pages.page_size})
        meta = features_frame(first.features, decoder=OpenSearchDecoder()).iloc[:0]
        depth = depth_of(first, pages.page_size) or math.inf
        return meta, pages.windows(int(min(most, depth)))

    def partition(self, part: Window) -> geopandas.GeoDataFrame:  # type: ignore[override]
        pages = self._pages("products", part.query, None)  # the window's query, encoded already
        builder = FrameBuilder(
            decoder=OpenSearchDecoder(), source=self.config.catalogue_url + "products"
        )
        pages.collect(builder.add)
        return builder.build()


def _unknown_collection(error: SearchException) -> bool:
    """Whether the catalogue's answer says the collection searched does not exist."""
    for exception in error.search_exceptions:
        text = str(exception.get("exceptionText", "")).lower()
        if "unknown collection" in text or "collection not found" in text:
            return True
    return "unknown collection" in str(error).lower()


def _page_size(count: Any) -> int:
    """The page size: the configuration's, or a ``count`` the caller passed through."""
    try:
        size = int(count)
    except (TypeError, ValueError):
        size = 0
    if size < 1:
        raise ParameterParserException(
            f"count is the page size and must be a positive whole number, got {count!r}"
        )
    return size
