"""STAC pages are retried like OpenSearch pages: a 503 or a 429 on the first page, a next page or
a count is asked again within ``[HTTP] Retries``, with backoff and the server's Retry-After,
whether the search goes by POST (the Filter extension's CQL2 JSON) or by GET (CQL2 text).

The faults are the local catalogue's own (its fault plan on the ``stac`` route), or a recording
proxy that answers chosen requests 503 itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

import terracat
from terracat.exceptions import SearchException
from terracat.server import LocalCatalogue
from terracat.server.settings import Settings
from tests.hostile import Request
from tests.protocols.stac.proxy import Proxy

NDVI_URN = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
WINDOW = {"start": "2021-07-01", "end": "2021-07-15", "tileId": "31UFS"}
METHODS = {"filter": "POST", "cql2-text": "GET"}


@pytest.fixture(scope="module", params=sorted(METHODS))
def local(request) -> Iterator[LocalCatalogue]:
    """A catalogue of this module's own, its STAC face taking filters by POST or by GET."""
    with LocalCatalogue(settings=Settings(stac_filtering=request.param)) as catalogue:
        yield catalogue


@pytest.fixture
def faults(local):
    local.faults.clear()
    yield local.faults
    local.faults.clear()


def _catalogue(local: LocalCatalogue, url: str | None = None, **http: object) -> terracat.Catalogue:
    config = local.config()
    config.catalogue_url = url or local.url + "stac/"
    config.protocol = "stac"
    config.search_workers = 1  # one chain of pages: the requests come in a known order
    for name, value in http.items():
        setattr(config, name, value)
    return terracat.Catalogue(config)


def _warm(catalogue: terracat.Catalogue) -> list[str]:
    """The search's ids, fetched once so that the landing page, the collections and the
    queryables are known: the faults set after it hit only the search's own requests."""
    return list(catalogue.search(NDVI_URN, **WINDOW)["id"])


def test_the_face_takes_filters_the_way_the_client_sends_them(local):
    catalogue = _catalogue(local)
    assert catalogue.backend.transport() == METHODS[local.settings.stac_filtering]


def test_a_first_page_answered_503_is_asked_again(local, faults):
    catalogue = _catalogue(local)
    expected = _warm(catalogue)
    faults.set(error_burst=2, routes={"stac"})
    assert list(catalogue.search(NDVI_URN, **WINDOW)["id"]) == expected and expected
    assert faults.injected["error"] == 2


def test_a_count_answered_503_is_asked_again(local, faults):
    catalogue = _catalogue(local)
    expected = len(_warm(catalogue))
    faults.set(error_burst=2, routes={"stac"})
    assert catalogue.count(NDVI_URN, **WINDOW) == expected
    assert faults.injected["error"] == 2


def test_a_429_is_asked_again_after_its_retry_after(local, faults):
    catalogue = _catalogue(local)
    expected = _warm(catalogue)
    faults.set(throttle_burst=1, retry_after=1, routes={"stac"})
    began = time.monotonic()
    assert list(catalogue.search(NDVI_URN, **WINDOW)["id"]) == expected
    assert time.monotonic() - began >= 0.95  # urllib3's first backoff is none: the server's wait
    assert faults.injected["throttle"] == 1


def test_the_retry_budget_holds_for_every_method(local, faults):
    catalogue = _catalogue(local, retries=2)
    _warm(catalogue)
    faults.set(error_burst=10, routes={"stac"})
    with pytest.raises(SearchException, match="503"):
        catalogue.search(NDVI_URN, **WINDOW)
    assert faults.injected["error"] == 3  # the first attempt and two retries, no more


def _failing(numbers: set[int]):
    """A rewrite answering 503 to the search requests of these numbers (1: the first)."""
    seen = [0]

    def rewrite(request: Request) -> tuple[int, bytes] | None:
        if not request.path.endswith("/search"):
            return None
        seen[0] += 1
        if seen[0] in numbers:
            return 503, b'{"code": "ServiceUnavailable", "description": "restarting"}'
        return None

    return rewrite


def _page_request(request: Request) -> str:
    """What makes a page request that page: its body (POST) or its query (GET)."""
    return request.body.decode() if request.method == "POST" else request.target


def test_a_next_page_answered_503_is_asked_again_as_it_was(local):
    expected = _warm(_catalogue(local))
    with Proxy(local.url, _failing({2, 3})) as proxy:
        catalogue = _catalogue(local, proxy.url("/stac/"), page_size=2)
        found = catalogue.search(NDVI_URN, **WINDOW)
        assert list(found["id"]) == expected and len(expected) > 4
        searches = [r for r in proxy.requests if r.path.endswith("/search")]
        assert {r.method for r in searches} == {METHODS[local.settings.stac_filtering]}
        asked = [_page_request(r) for r in searches]
        assert asked[1] == asked[2] == asked[3] != asked[0]  # the next page, three times
        assert len(set(asked)) == len(asked) - 2
        if searches[1].method == "POST":
            assert json.loads(searches[1].body).get("token")  # the next link's body, merged
