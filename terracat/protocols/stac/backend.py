"""The STAC API :class:`~terracat.protocols.base.Backend`: a request encoded as an item search
(:mod:`~terracat.protocols.stac.encode`), its pages walked by ``next`` links
(:mod:`~terracat.protocols.stac.paging`), its items decoded by :class:`StacDecoder`.

How a filter travels is read once from the landing page's ``conformsTo``: CQL2 JSON by
``POST /search`` where the Filter extension and ``cql2-json`` are declared, CQL2 text by GET
where only ``cql2-text`` is; the Query extension's ``query`` object by POST where only that is
declared (with whatever ``query`` cannot say left to the client); a server with none of these
gets the search without its filter. What the server cannot take is applied to the frame, with
one :class:`~terracat.exceptions.TerracatWarning` saying so.
"""

from __future__ import annotations

import difflib
import logging
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cql2
import geopandas
import msgspec
import requests

from terracat import _defaults
from terracat.config import CatalogueConfig
from terracat.discovery import NOT_HERE, landing_urls
from terracat.exceptions import (
    ParameterParserException,
    SearchException,
    TerracatWarning,
    TooManyResultsException,
)
from terracat.frame import FrameBuilder, features_frame
from terracat.protocols.answers import Unanswered
from terracat.protocols.stac.encode import (
    TILE_PROPERTIES,
    as_query,
    encode,
    query_of,
    tile_property,
)
from terracat.protocols.stac.paging import (
    Call,
    PageSize,
    StacFetcher,
    StacPages,
    StacWindow,
    Uncounted,
    matched,
    retrying_posts,
    windows,
)
from terracat.protocols.stac.partitions import (
    as_stac_numbers,
)
from terracat.protocols.stac.rows import StacDecoder, collections_frame, empty_stac_frame
from terracat.request import SearchRequest

__all__ = ["StacBackend", "derived_id"]

logger = logging.getLogger(__name__)

WINDOW_PAGES = 10
"""The most pages a time window holds: windows small enough to be fetched side by side."""

WINDOWS_PER_WORKER = 2
"""Windows cut per request in flight: halving by counts makes windows of unequal sizes, so two
per worker keep the workers busy to the end (one each left the largest window's worker alone for
the last third of a server-bound search; four made small pages and counts cost more than they
saved: ``benchmarks/stac_speed.py``, both scenarios)."""

WINDOWED_PAGES = 3
"""A search of more pages than this is fetched as time windows side by side, ``split`` or not.

A STAC search's pages chain (each ``next`` token comes with the page before it), so one search
has one request in flight however long it is; windows cut by ``numberMatched`` give
``[HTTP] SearchWorkers`` of them. Measured on ``benchmarks/stac_speed.py`` (README, "Speed"):
a catalogue that takes milliseconds per item (as real ones do) answers a 20,000-item search
about four times sooner; it costs one small counting request first, and a few more to cut
the windows, so searches of a few pages stay plain.
"""


def derived_id(collection: str) -> str:
    """The STAC id a Terrascope urn derives to: ``urn:eop:VITO:TERRASCOPE_S2_TOC_V2`` ->
    ``terrascope-s2-toc-v2`` (its last ``:`` part, lower case, ``_`` -> ``-``)."""
    return collection.rpartition(":")[2].lower().replace("_", "-")


class ClientSideFilterWarning(TerracatWarning):
    """The catalogue cannot filter as asked: the filter is applied to the frame instead."""


class UncountedWarning(TerracatWarning):
    """The catalogue gives no counts: ``split=True`` fell back to one plain search."""


class StacBackend:
    """STAC API catalogues (item search over a landing page)."""

    name = "stac"

    def __init__(self, config: CatalogueConfig, session: requests.Session) -> None:
        self.config = config
        self.session = session
        self._conformance: list[str] | None = None
        self._ids: dict[str, str] = {}
        self._tiles: dict[str, str] = {}
        self._queried: dict[str, dict[str, Any]] = {}
        retrying_posts(session, config.catalogue_url + "search")
        self.fetch = StacFetcher(
            session, config.search_timeout, config.retries, config.max_page_bytes
        )
        self._sizes = PageSize(self._configured_size(), config.catalogue_url)

    # ---- what the catalogue is -------------------------------------------------------------

    def _get_json(self, url: str) -> Any:
        try:
            response = self.session.get(url, timeout=self.config.search_timeout)
        except requests.exceptions.RequestException as error:
            raise SearchException(Unanswered(url, f"no answer ({type(error).__name__})")) from None
        if response.status_code != 200:
            raise SearchException(response)
        try:
            return msgspec.json.decode(response.content)
        except msgspec.DecodeError as error:
            raise SearchException(response, f"the answer is not JSON ({error})") from None

    def conformance(self) -> list[str]:
        """The landing page's ``conformsTo`` (read once), where
        :func:`~terracat.discovery.landing_urls` finds it, as ``Catalogue.from_url`` does:
        ``[Catalogue] URL`` ends in ``/``, and some STAC APIs answer only without it, or only
        ``/conformance``."""
        if self._conformance is None:
            landing = self._landing_page()
            classes = landing.get("conformsTo") if isinstance(landing, dict) else None
            self._conformance = [c for c in classes or [] if isinstance(c, str)]
        return self._conformance

    def _landing_page(self) -> Any:
        """The first of the landing page's places that is not a 404, as JSON."""
        tried, last = [], None
        for url in landing_urls(self.config.catalogue_url):
            try:
                return self._get_json(url)
            except SearchException as error:
                if getattr(error.response, "status_code", None) != NOT_HERE:
                    raise
                tried.append(url)
                last = error.response
        raise SearchException(
            last,
            f"no landing page at {', '.join(tried)} (each answered {NOT_HERE}): is "
            f"[Catalogue] URL = {self.config.catalogue_url} the STAC API's root?",
        )

    def transport(self) -> str:
        """``"POST"`` (CQL2 JSON), ``"GET"`` (CQL2 text), ``"QUERY"`` (the Query extension's
        ``query`` by POST), or ``""`` (no server-side filter)."""
        classes = self.conformance()
        filtering = any(c.endswith("#filter") or c.endswith("/conf/filter") for c in classes)
        if filtering and any(c.endswith("/cql2-json") for c in classes):
            return "POST"
        if filtering and any(c.endswith("/cql2-text") for c in classes):
            return "GET"
        if any(c.endswith("#query") for c in classes):
            return "QUERY"
        return ""

    def _collection_ids(self) -> list[str]:
        ids: list[str] = []
        for collection in self._collections():
            if isinstance(collection.get("id"), str):
                ids.append(collection["id"])
        return ids

    def stac_id(self, collection: str) -> str:
        """The catalogue's id for ``collection``: itself, else the STAC id a urn derives to."""
        if collection in self._ids:
            return self._ids[collection]
        ids = self._collection_ids()
        if collection in ids:
            found = collection
        elif derived_id(collection) in ids:
            found = derived_id(collection)
        else:
            closest = difflib.get_close_matches(derived_id(collection), ids, n=3, cutoff=0.4)
            hint = f"; the closest it has: {', '.join(closest)}" if closest else ""
            raise ParameterParserException(
                f"Failed to parse the value of the 'collection' parameter: {collection!r}. "
                f"The catalogue {self.config.catalogue_url} has no such collection{hint}."
            )
        self._ids[collection] = found
        return found

    # ---- one search --------------------------------------------------------------------------

    def _configured_size(self) -> int:
        """``[HTTP] PageSize`` where it was given, else STAC's 1,000 (OpenSearch's default of
        100 would cost STAC catalogues ten times the requests)."""
        config = self.config
        return config.page_size if config.page_size_given else _defaults.STAC_PAGE_SIZE

    @property
    def page_size(self) -> int:
        """``[HTTP] PageSize`` when set, else the STAC default (1,000); smaller once the
        catalogue has shown it serves fewer (:class:`~terracat.protocols.stac.paging.PageSize`)."""
        configured = self._configured_size()
        learned = self._sizes.learned
        return configured if learned is None else min(configured, learned)

    def _pages(self, call: Call, limit: int | None) -> StacPages:
        """One search's pages, learning the size the catalogue serves as they come."""
        return StacPages(self.fetch, call, limit=limit, sizes=self._sizes)

    def _queryables(self, stac_id: str) -> dict[str, Any]:
        """The properties of ``stac_id``'s queryables (read once); none where the catalogue
        gives none (a 404, or any answer that is not them: they are hints, and a search should
        not fail for want of one)."""
        if stac_id not in self._queried:
            url = f"{self.config.catalogue_url}collections/{stac_id}/queryables"
            try:
                queryables = self._get_json(url)
            except SearchException as error:  # 404 most often: no queryables
                logger.info("No queryables for %s (%s)", stac_id, error)
                queryables = None
            properties = queryables.get("properties") if isinstance(queryables, dict) else None
            self._queried[stac_id] = properties if isinstance(properties, dict) else {}
        return self._queried[stac_id]

    def _tile(self, stac_id: str) -> str:
        """The property a ``tileId`` compares in ``stac_id``, from its queryables; ``grid:code``
        when the catalogue gives none."""
        if stac_id not in self._tiles:
            self._tiles[stac_id] = tile_property(self._queryables(stac_id) or None)
            logger.debug("tileId in %s is %s", stac_id, self._tiles[stac_id])
        return self._tiles[stac_id]

    def _body(self, request: SearchRequest) -> dict[str, Any]:
        if request.collection is None:
            return encode(request)
        stac_id = self.stac_id(request.collection)
        tile = self._tile(stac_id) if "tileId" in request.filters else TILE_PROPERTIES[0]
        return encode(request, collections=[stac_id], tile=tile)

    def _plan(self, request: SearchRequest) -> tuple[dict[str, Any], Any, str]:
        """The body the server takes, the filter left to the client (or None), the method."""
        body = self._body(request)
        method = self.transport()
        local = None
        if "filter" in body and method in ("", "QUERY"):
            expression = body.pop("filter")
            body.pop("filter-lang", None)
            if method == "QUERY":
                query, expression = query_of(expression)
                if query:
                    body["query"] = query
            local = None if expression is None else cql2.Expr(expression)
        return body, local, {"": "GET", "QUERY": "POST"}.get(method, method)

    def _call(self, body: dict[str, Any], method: str, size: int) -> Call:
        url = self.config.catalogue_url + "search"
        body = {**body, "limit": size}
        if method == "POST":
            return Call(url, "POST", body=body)
        return Call(url, params=as_query(body))

    def _size(self, limit: int | None, local: Any) -> int:
        if limit is None or local is not None:
            return self.page_size
        return max(1, min(self.page_size, limit))

    def _decoder(self, request: SearchRequest) -> StacDecoder:
        return self._decoder_for(_href_mode(request))

    def _decoder_for(self, href_mode: str) -> StacDecoder:
        return StacDecoder(href_mode=href_mode, alternates=self.config.alternates)

    def _builder(self, request: SearchRequest, limit: int | None) -> FrameBuilder:
        return FrameBuilder(
            limit, decoder=self._decoder(request), source=self.config.catalogue_url + "search"
        )

    def search(self, request: SearchRequest, *, split: bool = False) -> geopandas.GeoDataFrame:
        if request.collection is None:
            return self._collections_search(request)
        body, local, method = self._plan(request)
        builder = self._builder(request, None if local is not None else request.limit)
        parts = self._split(body, method, asked=split) if request.limit is None else None
        if isinstance(parts, list):
            for batch in self._window_batches(parts):
                builder.add(batch)
        else:
            limit = None if local is not None else request.limit
            pages = parts or self._pages(self._call(body, method, self._size(limit, local)), limit)
            for batch in pages.batches():
                builder.add(batch)
        # numbers typed by field, as a partitioned search types them (partitions.as_stac_numbers)
        return self._filtered(as_stac_numbers(_built(builder)), local, request.limit)

    def _split(
        self, body: dict[str, Any], method: str, *, asked: bool
    ) -> list[StacWindow] | StacPages | None:
        """The time windows to fetch side by side, or the pages of one plain search (``None``:
        not begun).

        ``split=True`` cuts windows of at most :data:`WINDOW_PAGES` pages. A plain search of
        more than :data:`WINDOWED_PAGES` pages, where more than one request may be in flight,
        is cut into about :data:`WINDOWS_PER_WORKER` windows per worker (of one page at least,
        larger where items share an instant the halving cannot divide, and one plain search
        when even halves cannot divide it). Its first page is asked first and tells the count:
        a small search, the common one, costs no request more than its pages. A catalogue that
        gives no counts gets one plain search (with a warning when ``split=True`` asked for
        windows).
        """
        workers = max(1, self.config.search_workers)
        if not asked and workers == 1:
            return None
        try:
            if asked:
                return self._windows(body, method, self.page_size * WINDOW_PAGES)
            pages = self._pages(self._call(body, method, self.page_size), None)
            total = pages.first_page().numberMatched
            if total is None or total < 0:
                return pages
            most = max(self.page_size, -(-total // (workers * WINDOWS_PER_WORKER)))
            most = min(most, self.page_size * WINDOW_PAGES)
            while total > self.page_size * WINDOWED_PAGES and most < total:
                try:
                    return self._windows(body, method, most, total=total)
                except TooManyResultsException:  # items sharing an instant: larger windows
                    most *= 2
            return pages
        except Uncounted:
            if not asked:
                return None
            warnings.warn(
                f"The catalogue {self.config.catalogue_url} gives no numberMatched, so the search "
                "cannot be cut into time windows by counts: split=True fetched it as one plain "
                "search, page after page.",
                UncountedWarning,
                stacklevel=4,
            )
            return None

    def _client_side(self, local: Any, what: str) -> None:
        warnings.warn(
            f"The catalogue {self.config.catalogue_url} does not declare the STAC Filter "
            f"extension: the filter {local.to_text()} was applied {what}.",
            ClientSideFilterWarning,
            stacklevel=5,
        )

    def _filtered(
        self, frame: geopandas.GeoDataFrame, local: Any, limit: int | None, *, warn: bool = True
    ) -> geopandas.GeoDataFrame:
        if local is None:
            return frame
        if warn:
            self._client_side(
                local,
                "to the frame after the search (every item of the rest of the search was fetched)",
            )
        keep = [_matches(local, text) for text in frame["properties"]]
        frame = frame[keep]
        return frame.iloc[:limit] if limit is not None else frame

    def frames(self, request: SearchRequest) -> Iterator[geopandas.GeoDataFrame]:
        if request.collection is None:  # get_collections: the collections, not an item search
            yield self._collections_search(request)
            return
        body, local, method = self._plan(request)
        limit = None if local is not None else request.limit
        pages = self._pages(self._call(body, method, self._size(limit, local)), limit)
        source = self.config.catalogue_url + "search"
        if local is not None:  # once for the whole search, not once a page
            self._client_side(local, "to each page of items as it came")
        kept = 0
        for batch in pages.batches():
            if not batch:
                continue
            frame = as_stac_numbers(features_frame(batch, source, decoder=self._decoder(request)))
            if local is not None:
                frame = self._filtered(frame, local, None, warn=False)
                if request.limit is not None:
                    frame = frame.iloc[: request.limit - kept]
            kept += len(frame)
            yield frame
            if request.limit is not None and kept >= request.limit:
                return

    def count(self, request: SearchRequest) -> int:
        body, local, method = self._plan(request)
        if local is None:
            return matched(self.fetch, self._call(body, method, 1))
        self._client_side(
            local,
            "on the client to count this search: every item of the rest of the search was "
            "fetched and the matching ones counted (correct, but as slow as the whole search)",
        )
        pages = self._pages(self._call(body, method, self.page_size), None)
        return sum(
            _matches(local, feature.properties)
            for page in pages.pages()
            for feature in page.features
        )

    def provenance(self, request: SearchRequest) -> dict[str, Any]:
        if request.collection is None:
            return {"endpoint": "collections", "query": {}}
        body, _, method = self._plan(request)
        return {"endpoint": "search", "method": method, "body": body}

    # ---- time windows ------------------------------------------------------------------------

    def _windows(
        self,
        body: dict[str, Any],
        method: str,
        most: int,
        local: Any = None,
        href_mode: str = "",
        *,
        total: int | None = None,
    ) -> list[StacWindow]:
        """The search's time windows of at most ``most`` items; ``total``, the search's count
        when its first page told it, is not asked again."""

        def count(interval: str | None) -> int:
            return matched(self.fetch, self._call(_during(body, interval), method, 1))

        found = windows(count, body.get("datetime"), most, self.config.search_workers, total=total)
        text = None if local is None else local.to_text()
        return [
            StacWindow(
                self._call(_during(body, span), method, self.page_size),
                total,
                low,
                high,
                text,
                href_mode,
            )
            for span, total, low, high in found
        ]

    def _window_batches(self, parts: list[StacWindow]) -> Iterator[list[Any]]:
        with ThreadPoolExecutor(max_workers=max(1, self.config.search_workers)) as pool:
            fetched = pool.map(lambda w: list(self._pages(w.call, None).batches()), parts)
            for batches in fetched:
                yield from batches

    def partitions(
        self, request: SearchRequest, most: int
    ) -> tuple[geopandas.GeoDataFrame, list[StacWindow]]:
        body, local, method = self._plan(request)
        if local is not None:
            self._client_side(
                local,
                "to each partition after it is fetched (the windows are cut by the unfiltered "
                "counts, so they hold fewer items than planned)",
            )
        sample = self._pages(self._call(body, method, self.page_size), None).first_page()
        frame = features_frame(sample.features, decoder=self._decoder(request))
        meta = as_stac_numbers(frame if len(frame) else empty_stac_frame()).iloc[:0]
        return meta, self._windows(body, method, most, local, _href_mode(request))

    def partition(self, part: StacWindow) -> geopandas.GeoDataFrame:  # type: ignore[override]
        builder = FrameBuilder(decoder=self._decoder_for(part.href_mode), source=part.call.url)
        for batch in self._pages(part.call, None).batches():
            builder.add(batch)
        frame = _built(builder)
        if part.local is None:
            return frame
        return self._filtered(frame, cql2.Expr(part.local), None, warn=False)

    # ---- collections -------------------------------------------------------------------------

    def _collections(self) -> list[dict[str, Any]]:
        """Every collection of ``/collections``, following its ``next`` links."""
        url: str | None = self.config.catalogue_url + "collections"
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        while url and url not in seen:
            seen.add(url)
            answer = self._get_json(url)
            page = answer.get("collections") if isinstance(answer, dict) else None
            if not isinstance(page, list):
                raise SearchException(
                    Unanswered(url, "not a collection list"),
                    f"{url} does not answer a STAC collection list",
                )
            found += [c for c in page if isinstance(c, dict)]
            links = answer.get("links") if isinstance(answer.get("links"), list) else []
            following = [
                link for link in links if isinstance(link, dict) and link.get("rel") == "next"
            ]
            url = str(following[0]["href"]) if following and following[0].get("href") else None
        return found

    def _collections_search(self, request: SearchRequest) -> geopandas.GeoDataFrame:
        return collections_frame(self._collections())


def _href_mode(request: SearchRequest) -> str:
    """Which hrefs the frame takes: ``MEP`` (local paths) for ``accessedFrom="MEP"``."""
    return "MEP" if str(request.filters.get("accessedFrom")).upper() == "MEP" else ""


def _built(builder: FrameBuilder) -> geopandas.GeoDataFrame:
    """The builder's frame; with no items, the STAC frame of none (not OpenSearch's)."""
    frame = builder.build()
    return frame if len(frame) else empty_stac_frame()


def _matches(expression: Any, text: str | bytes | msgspec.Raw) -> bool:
    """Whether an item (its JSON) matches a CQL2 expression; unknown properties: no."""
    try:
        return bool(expression.matches(msgspec.json.decode(text)))
    except Exception:  # cql2 cannot reduce a comparison with a property the item lacks
        return False


def _during(body: dict[str, Any], interval: str | None) -> dict[str, Any]:
    """``body`` searching within ``interval`` (``None``: all time, no ``datetime`` at all)."""
    if interval is None:
        return {k: v for k, v in body.items() if k != "datetime"}
    return {**body, "datetime": interval}
