"""Walking a STAC item search's pages: ``next`` links followed exactly as the server gives them.

A STAC server chains its pages (an opaque token in each ``next`` link, GET or POST with ``body``
and ``merge``), so one search's pages come one after another, the next fetched while the current
one is parsed. Concurrency comes from time windows instead (:func:`windows`): the search's
``datetime`` range halved by ``numberMatched`` counts until each window holds few enough items,
the windows then searched at once and joined by id (items on a boundary are in two windows).

Every page is checked before it is believed, as on OpenSearch: it must decode as an item
collection, and it must bring items not yet received, else the search ends in a
:class:`~terracat.exceptions.SearchException` rather than loop or come back silently short.
Retries, backoff, the per-page deadline and the body bound are the OpenSearch fetcher's.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

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

__all__ = ["Call", "StacFetcher", "StacPages", "StacWindow", "windows"]

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


def next_link(page: StacPage) -> dict[str, Any] | None:
    """The page's ``next`` link, if it has one with an href."""
    for link in page.links:
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            return link
    return None


class StacPages:
    """One search's pages from its first ``call``, ``next`` after ``next``.

    ``limit`` caps the items yielded (``None``: all); the page size is in the first call already.
    """

    def __init__(
        self, fetch: Callable[[Call], StacPage], first: Call, *, limit: int | None
    ) -> None:
        self.fetch = fetch
        self.first = first
        self.limit = limit

    def pages(self) -> Iterator[StacPage]:
        """The pages, each checked, the next one fetched while the caller takes this one."""
        if self.limit == 0:
            return
        received: set[str] = set()
        yielded = 0
        call: Call | None = self.first
        asked: set[str] = set()
        with ThreadPoolExecutor(max_workers=1) as prefetch:
            page = self.fetch(self.first)
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


def matched(fetch: Callable[[Call], StacPage], call: Call) -> int:
    """``numberMatched`` of a search (``call`` asks one item), or a clear SearchException."""
    page = fetch(call)
    if page.numberMatched is None or page.numberMatched < 0:
        raise SearchException(
            Misanswered(call.shown(), {}),
            "the catalogue does not count its results (no numberMatched in its item collection): "
            "count and split=True need a count; search without them",
        )
    return page.numberMatched


@dataclass(frozen=True)
class StacWindow:
    """A slice of a search's time range: its first call, its count, the items it owns."""

    call: Call
    total: int
    low: dt.datetime | None  # None: from the beginning of time (the first window)
    high: dt.datetime | None  # None: to the end of time (the last window)

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
    count: Callable[[str], int], interval: str | None, most: int, workers: int
) -> list[tuple[str, int, dt.datetime | None, dt.datetime | None]]:
    """Time windows covering ``interval`` (a STAC ``datetime``), each of at most ``most`` items.

    ``count(datetime)`` is the search's ``numberMatched`` over one window; the halving is
    :func:`~terracat.protocols.windows.split_by_counts`. STAC intervals are closed, so an item on
    a boundary is counted (and fetched) in both windows and belongs to the one its acquisition
    begins in. Returns ``(datetime, total, low, high)`` of each window, in time order.
    """

    def text(span: Span) -> str:
        low, high = span.low_text or "..", span.high_text or ".."
        return f"{low}/{high}" if low != high else low

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        found = split_by_counts(_bounds(interval), lambda span: count(text(span)), most, pool.map)
    last = len(found) - 1
    return [
        (text(span), total, None if i == 0 else span.low, None if i == last else span.high)
        for i, (span, total) in enumerate(found)
    ]
