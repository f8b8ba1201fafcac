"""Walking a STAC item search's pages: ``next`` links followed exactly as the server gives them.

A STAC server chains its pages (an opaque token in each ``next`` link, GET or POST with ``body``
and ``merge``), so one search's pages come one after another, the next fetched while the current
one is parsed. Concurrency comes from time windows instead (:func:`windows`): the search's
``datetime`` range halved by ``numberMatched`` counts until each window holds few enough items,
the windows then searched at once and joined by id (items on a boundary are in two windows).

Every page is checked before it is believed, as on OpenSearch: it must decode as an item
collection, and it must bring items not yet received, else the search ends in a
:class:`~terracat.exceptions.SearchException` rather than loop or come back silently short.
Retries, backoff, the per-page deadline and the body bound are the OpenSearch fetcher's, POST
pages included (:func:`retrying_posts`).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import requests

from terracat import _defaults
from terracat._http import (
    attempt_began,
    read_body,
)
from terracat.exceptions import SearchException
from terracat.protocols.answers import (
    BadBody,
    Misanswered,
    fetched_page,
    keep_error_body,
)
from terracat.protocols.stac.page import StacPage, decode_stac_page
from terracat.protocols.windows import EPOCH, Span, owned, split_by_counts
from terracat.request import parse_datetime

__all__ = [
    "Call",
    "PageSize",
    "StacFetcher",
    "StacPages",
    "StacWindow",
    "Uncounted",
    "retrying_posts",
    "windows",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    """One page request: GET ``url`` with ``params``, or POST ``url`` with the JSON ``body``."""

    url: str
    method: str = "GET"
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def shown(self) -> str:
        """The call as an error names it."""
        if self.method == "POST":
            return f"POST {self.url} {msgspec.json.encode(self.body).decode()}"
        return self.url if not self.params else f"{self.url}?{_query(self.params)}"

    @property
    def limit(self) -> int | None:
        """The page size this call asks for (its body's, params' or href's ``limit``)."""
        if self.method == "POST":
            value: Any = (self.body or {}).get("limit")
        elif self.params is not None:
            value = self.params.get("limit")
        else:
            value = (parse_qs(urlsplit(self.url).query).get("limit") or [None])[0]
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    def with_limit(self, size: int) -> Call:
        """The same call asking ``size`` items a page (only for calls this client wrote)."""
        if self.method == "POST":
            return Call(
                self.url, "POST", body={**(self.body or {}), "limit": size}, headers=self.headers
            )
        return Call(
            self.url, params={**(self.params or {}), "limit": str(size)}, headers=self.headers
        )

    def following(self, link: dict[str, Any]) -> Call:
        """The call a ``next`` link names: its href, method, body (merged when it says so)."""
        method = str(link.get("method", "GET")).upper()
        headers = link.get("headers") if isinstance(link.get("headers"), dict) else {}
        if method != "POST":
            return Call(str(link["href"]), headers=headers)
        body = link.get("body") if isinstance(link.get("body"), dict) else {}
        if link.get("merge"):
            body = {**(self.body or {}), **body}
        return Call(str(link["href"]), "POST", body=body, headers=headers)


def _query(params: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def retrying_posts(session: requests.Session, url: str) -> None:
    """Let ``session`` retry POSTs to ``url`` (a catalogue's ``/search``) as it retries GETs.

    urllib3's retries, which back off and honour ``Retry-After`` on 429 and 5xx answers, are
    for GET and HEAD only, since a POST need not be safe to repeat. An item search is read-only,
    and every server of the Filter extension searches by POST: its pages, next pages and counts
    are retried like GET pages. The session's own adapter, copied with POST allowed, is mounted
    for ``url`` alone (other POSTs, a token request say, keep the session's rule); its retries
    come out of the same per-request budget (``[HTTP] Retries``). Mounted once, before the
    session is used from other threads (``requests`` reorders its adapters as it mounts).
    A ``next`` link POSTing elsewhere than ``url`` is retried for lost connections and bad
    bodies only, as before.
    """
    base: Any = session.get_adapter(url)
    retry = base.max_retries
    allowed = retry.allowed_methods
    if allowed is None or "POST" in allowed:  # None: urllib3 retries every method already
        return
    adapter = copy.copy(base)  # its own connection pool, the same settings
    adapter.max_retries = retry.new(allowed_methods=frozenset({*allowed, "POST"}))
    session.mount(url, adapter)


@dataclass
class StacFetcher:
    """Fetches and decodes one page; the only place a STAC search touches the network."""

    session: requests.Session
    timeout: float
    retries: int
    max_page_bytes: int = _defaults.MAX_PAGE_BYTES

    def __call__(self, call: Call) -> StacPage:
        return fetched_page(
            lambda: self._attempt(call),
            url=call.url,
            shown=call.shown(),
            timeout=self.timeout,
            retries=self.retries,
            kind="a STAC item collection",
        )

    def _attempt(self, call: Call) -> StacPage:
        with self.session.request(
            call.method,
            call.url,
            params=call.params,
            json=call.body if call.method == "POST" else None,
            headers={"Accept": "application/geo+json, application/json", **call.headers},
            timeout=self.timeout,
            stream=True,
        ) as response:
            logger.debug("%s %s -> %s", call.method, response.url, response.status_code)
            deadline = attempt_began() + self.timeout
            if response.status_code != 200:
                keep_error_body(response, deadline)
                raise SearchException(response)
            body = read_body(response, deadline=deadline, limit=self.max_page_bytes)
        try:
            return decode_stac_page(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise BadBody(response, str(error)) from None


SMALLEST_STEP = 100
"""The page size a catalogue that refuses the asked one is asked next, unless it names a
larger maximum: small enough for any server seen (stac-fastapi's default maximum is 10,000,
some deployments 250 or 100), large enough to keep a search to a few hundred requests."""

_NAMED_MAXIMUM = re.compile(
    r"(?:less than or equal to|at most|maximum(?: limit)?(?: is| of)?|<=|'le':)\s*(\d+)", re.I
)


class PageSize:
    """The page size one catalogue serves: the configured one until its answers say otherwise.

    Shared by every search of a backend, so that what one search learned (a cap shown as a
    first page shorter than asked with a ``next`` link, or a 400 refusing the size) the next
    search, window count and window plan start from.
    """

    def __init__(self, configured: int, catalogue: str) -> None:
        self.configured = configured
        self.catalogue = catalogue
        self.learned: int | None = None

    @property
    def value(self) -> int:
        return self.learned if self.learned is not None else self.configured

    def capped(self, asked: int, served: int) -> int | None:
        """Note a first page of ``served`` items (with a ``next`` link) where ``asked`` were
        asked; the size to keep to from then on, or ``None`` when the page was not capped."""
        if not 0 < served < asked:
            return None
        if self.learned != served:
            logger.info(
                "The catalogue %s serves at most %d items a page (asked %d): keeping to %d.",
                self.catalogue,
                served,
                asked,
                served,
            )
            self.learned = served
        return served

    def refused(self, asked: int | None, error: SearchException) -> int | None:
        """The smaller size to ask once more after ``error`` refused ``asked`` items a page
        (a 400 whose body mentions ``limit``), or ``None`` when this is no such refusal."""
        response = error.response
        text = getattr(response, "text", "") or ""
        if asked is None or getattr(response, "status_code", None) != 400 or "limit" not in text:
            return None
        named = [int(n) for n in _NAMED_MAXIMUM.findall(text)]
        smaller = max([SMALLEST_STEP, *named])
        if smaller >= asked:
            return None
        logger.info(
            "The catalogue %s refused %d items a page%s: asking %d from now on.",
            self.catalogue,
            asked,
            f" (its maximum: {max(named)})" if named else "",
            smaller,
        )
        self.learned = smaller
        return smaller


def next_link(page: StacPage) -> dict[str, Any] | None:
    """The page's ``next`` link, if it has one with an href."""
    for link in page.links:
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            return link
    return None


class StacPages:
    """One search's pages from its first ``call``, ``next`` after ``next``.

    ``limit`` caps the items yielded (``None``: all); the page size is in the first call already.
    ``sizes``, when given, learns from the first page what size the catalogue serves: a 400
    refusing the size is asked once more with a smaller one, and a capped first page makes a
    POST ``next`` link that merges bodies ask the served size.
    """

    def __init__(
        self,
        fetch: Callable[[Call], StacPage],
        first: Call,
        *,
        limit: int | None,
        sizes: PageSize | None = None,
    ) -> None:
        self.fetch = fetch
        self.first = first
        self.limit = limit
        self.sizes = sizes
        self._fetched: tuple[Call, StacPage] | None = None

    def first_page(self) -> StacPage:
        """The first page, fetched now and kept for :meth:`pages`: its ``numberMatched`` can
        decide how to fetch the rest without a request of its own."""
        self._fetched = self._first_page()
        return self._fetched[1]

    def _first_page(self) -> tuple[Call, StacPage]:
        """The first page, asked once more with a smaller size if the size was refused."""
        if self._fetched is not None:
            return self._fetched
        try:
            return self.first, self.fetch(self.first)
        except SearchException as error:
            smaller = None if self.sizes is None else self.sizes.refused(self.first.limit, error)
            if smaller is None:
                raise
        call = self.first.with_limit(smaller)
        return call, self.fetch(call)

    def pages(self) -> Iterator[StacPage]:
        """The pages, each checked, the next one fetched while the caller takes this one."""
        if self.limit == 0:
            return
        received: set[str] = set()
        yielded = 0
        asked: set[str] = set()
        with ThreadPoolExecutor(max_workers=1) as prefetch:
            first, page = self._first_page()
            call: Call | None = first
            served = self._served(first, page)
            while True:
                ids = {str(feature.id) for feature in page.features}
                if ids and ids <= received:
                    raise self._refusal(
                        call,
                        "the page holds only items of earlier pages: the catalogue does not page "
                        "(its next link answers the same items again)",
                    )
                received |= ids
                link = next_link(page)
                following = None
                yielded += len(page.features)
                more = self.limit is None or yielded < self.limit
                if link is not None and page.features and more and call is not None:
                    call = call.following(link)
                    if served is not None and call.method == "POST" and link.get("merge"):
                        call = call.with_limit(served)
                    if call.shown() in asked:
                        raise self._refusal(call, "the next link names a page already fetched")
                    asked.add(call.shown())
                    following = prefetch.submit(self.fetch, call)
                elif link is not None and not page.features and more:
                    raise self._refusal(
                        call, "an empty page with a next link: the result would be partial"
                    )
                yield page
                if following is None:
                    return
                page = following.result()

    def _served(self, call: Call, page: StacPage) -> int | None:
        """The size a capped first page shows (``None``: not capped, or nothing learns it)."""
        asked = call.limit
        if self.sizes is None or asked is None or next_link(page) is None:
            return None
        return self.sizes.capped(asked, len(page.features))

    def features(self) -> Iterator[Any]:
        """The items, up to the limit."""
        count = 0
        for page in self.pages():
            for feature in page.features:
                yield feature
                count += 1
                if self.limit is not None and count >= self.limit:
                    return

    def batches(self) -> Iterator[list[Any]]:
        """The items page by page, the last cut at the limit."""
        count = 0
        for page in self.pages():
            batch = list(page.features)
            if self.limit is not None:
                batch = batch[: self.limit - count]
            count += len(batch)
            yield batch
            if self.limit is not None and count >= self.limit:
                return

    def _refusal(self, call: Call | None, what: str) -> SearchException:
        return SearchException(Misanswered((call or self.first).shown(), {}), what)


class Uncounted(SearchException):
    """The catalogue gives no ``numberMatched``: it cannot be counted or cut into windows."""


def matched(fetch: Callable[[Call], StacPage], call: Call) -> int:
    """``numberMatched`` of a search (``call`` asks one item), or a clear :class:`Uncounted`."""
    page = fetch(call)
    if page.numberMatched is None or page.numberMatched < 0:
        raise Uncounted(
            Misanswered(call.shown(), {}),
            "the catalogue does not count its results (no numberMatched in its item collection): "
            "count and split=True need a count; search without them",
        )
    return page.numberMatched


@dataclass(frozen=True)
class StacWindow:
    """A slice of a search's time range: its first call, its count, the items it owns, the
    filter (CQL2 text) the client applies to it where the catalogue cannot (``total`` is then
    the unfiltered count, an upper bound), and which hrefs its frame takes (``href_mode``, as
    the search's: a window is fetched on its own, by a Dask worker)."""

    call: Call
    total: int
    low: dt.datetime | None  # None: from the beginning of time (the first window)
    high: dt.datetime | None  # None: to the end of time (the last window)
    local: str | None = None
    href_mode: str = ""

    def owns(self, begin: Any) -> Any:
        """Which items (by acquisition start, a datetime Series) this window owns."""
        return owned(begin, self.low, self.high)


def _bounds(interval: str | None) -> Span:
    """The span of a STAC ``datetime`` (one instant: a window of it, nothing to split)."""
    low_text, _, high_text = (interval or "../..").partition("/")
    if not high_text:
        high_text = low_text
    low = EPOCH if low_text in ("", "..") else parse_datetime(low_text, "start")
    high = (
        dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        if high_text in ("", "..")
        else parse_datetime(high_text, "end")
    )
    return Span(low, high, low_text or "..", high_text or "..")


def windows(
    count: Callable[[str], int],
    interval: str | None,
    most: int,
    workers: int,
    *,
    total: int | None = None,
) -> list[tuple[str | None, int, dt.datetime | None, dt.datetime | None]]:
    """Time windows covering ``interval`` (a STAC ``datetime``), each of at most ``most`` items
    (``total``: the interval's count if known).

    ``count(datetime)`` is the search's ``numberMatched`` over one window; the halving is
    :func:`~terracat.protocols.windows.split_by_counts`. STAC intervals are closed, so an item on
    a boundary is counted (and fetched) in both windows and belongs to the one its acquisition
    begins in. Returns ``(datetime, total, low, high)`` of each window, in time order.
    """

    def text(span: Span) -> str | None:
        low, high = span.low_text or "..", span.high_text or ".."
        if low == high == "..":
            return None  # all time: no datetime at all ('..' alone is no interval)
        return f"{low}/{high}" if low != high else low

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        found = split_by_counts(
            _bounds(interval),
            lambda span: count(text(span)),
            most,
            pool.map,
            total=total,
        )
    last = len(found) - 1
    return [
        (text(span), total, None if i == 0 else span.low, None if i == last else span.high)
        for i, (span, total) in enumerate(found)
    ]
