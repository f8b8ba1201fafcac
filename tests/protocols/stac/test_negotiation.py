"""The STAC backend meets servers that differ from the local face's defaults: page sizes capped
or refused, the Query extension instead of Filter, tiles spelt ``s2:mgrs_tile``, no server-side
filter for ``count`` and ``split``, a landing page behind a sign-in.

Each runs over real HTTP against a local catalogue of its own whose settings say how it
behaves, seen through a recording proxy (every request and POST body, as the server got it).
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Iterator

import pytest
import requests

import terracat
from terracat.exceptions import SearchException
from terracat.server import LocalCatalogue
from terracat.server.settings import Settings
from tests.hostile import HostileServer, Request, send

NDVI_URN = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
WINDOW = {"start": "2021-07-01", "end": "2021-07-15"}

Rewrite = Callable[[Request], tuple[int, bytes] | None]


@pytest.fixture(scope="module")
def local() -> Iterator[LocalCatalogue]:
    """A catalogue of this module's own: its settings change from test to test."""
    with LocalCatalogue(settings=Settings()) as catalogue:
        yield catalogue


@pytest.fixture
def settings(local: LocalCatalogue) -> Iterator[Settings]:
    """The module catalogue's settings, set back to the defaults after each test."""
    yield local.settings
    defaults = Settings()
    local.settings.stac_max_limit = defaults.stac_max_limit
    local.settings.stac_refuse_above_max = defaults.stac_refuse_above_max
    local.settings.stac_filtering = defaults.stac_filtering


class Proxy(HostileServer):
    """The local catalogue behind a loopback server that records every request (bodies too);
    ``rewrite`` may answer a request itself. Links the face writes point back at the proxy."""

    def __init__(self, upstream: str, rewrite: Rewrite | None = None) -> None:
        super().__init__(self._forward)
        self.upstream = upstream
        self.rewrite = rewrite

    def _forward(self, request: Request, connection: socket.socket) -> None:
        own = self.rewrite(request) if self.rewrite is not None else None
        if own is not None:
            send(connection, own[0], own[1], {"Content-Type": "application/json"})
            return
        answer = requests.request(
            request.method,
            self.upstream + request.target.lstrip("/"),
            data=request.body or None,
            headers={
                "Host": f"{self.host}:{self.port}",
                "Content-Type": request.headers.get("content-type", "application/json"),
            },
            timeout=30,
        )
        send(
            connection,
            answer.status_code,
            answer.content,
            {"Content-Type": answer.headers.get("Content-Type", "application/json")},
        )

    def searches(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/search")]


def limit_of(request: Request) -> int:
    """The page size a search request asked for (GET query or POST body)."""
    if request.method == "POST":
        return int(json.loads(request.body)["limit"])
    return int(request.param("limit") or 0)


def catalogue_behind(proxy: Proxy, local: LocalCatalogue, **http: object) -> terracat.Catalogue:
    config = local.config()
    config.catalogue_url = proxy.url("/stac/")
    config.protocol = "stac"
    for name, value in http.items():
        setattr(config, name, value)
    return terracat.Catalogue(config)


def plain_ids(local: LocalCatalogue, **filters: object) -> list[str]:
    """What the face itself finds for the search (defaults: no cap, filters on the server)."""
    config = local.config()
    config.catalogue_url = local.url + "stac/"
    config.protocol = "stac"
    return list(terracat.Catalogue(config).search(NDVI_URN, **WINDOW, **filters)["id"])


# ---- 1. page size step-down -------------------------------------------------------------------


def test_a_capped_page_size_is_kept_to_and_remembered(local, settings, caplog):
    expected = plain_ids(local)
    settings.stac_max_limit = 4
    assert len(expected) > 2 * settings.stac_max_limit
    with Proxy(local.url) as proxy:
        catalogue = catalogue_behind(proxy, local)
        with caplog.at_level(logging.INFO, "terracat.protocols.stac.paging"):
            found = catalogue.search(NDVI_URN, **WINDOW)
        assert list(found["id"]) == expected and found["id"].is_unique
        first, *rest = proxy.searches()
        assert limit_of(first) == 1000 and rest
        assert all(limit_of(r) == 4 for r in rest)  # the POST next link's merge gets the size
        assert any("at most 4 items a page" in m for m in caplog.messages)
        before = len(proxy.searches())
        again = catalogue.search(NDVI_URN, **WINDOW)
        assert list(again["id"]) == expected
        assert limit_of(proxy.searches()[before]) == 4  # the next search starts from it
        assert catalogue.backend.page_size == 4


def test_a_refused_page_size_steps_down_once_to_the_maximum_named(local, settings, caplog):
    expected = plain_ids(local)
    settings.stac_max_limit, settings.stac_refuse_above_max = 250, True
    with Proxy(local.url) as proxy:
        catalogue = catalogue_behind(proxy, local)
        with caplog.at_level(logging.INFO, "terracat.protocols.stac.paging"):
            found = catalogue.search(NDVI_URN, **WINDOW)
        assert list(found["id"]) == expected
        assert [limit_of(r) for r in proxy.searches()] == [1000, 250]
        assert any("refused 1000" in m and "250" in m for m in caplog.messages)
        catalogue.search(NDVI_URN, **WINDOW)
        assert [limit_of(r) for r in proxy.searches()] == [1000, 250, 250]


def test_a_maximum_below_100_steps_down_to_100_and_the_second_refusal_stands(local, settings):
    settings.stac_max_limit, settings.stac_refuse_above_max = 50, True
    with Proxy(local.url) as proxy:
        catalogue = catalogue_behind(proxy, local)
        with pytest.raises(SearchException, match="less than or equal to 50"):
            catalogue.search(NDVI_URN, **WINDOW)
        assert [limit_of(r) for r in proxy.searches()] == [1000, 100]


def test_a_refusal_without_a_maximum_asks_100(local, settings):
    expected = plain_ids(local)
    settings.stac_max_limit, settings.stac_refuse_above_max = 100, True

    def vague(request: Request) -> tuple[int, bytes] | None:
        if request.path.endswith("/search") and limit_of(request) > 100:
            return 400, b'{"code": "BadRequest", "description": "limit too large"}'
        return None

    with Proxy(local.url, vague) as proxy:
        found = catalogue_behind(proxy, local).search(NDVI_URN, **WINDOW)
        assert list(found["id"]) == expected
        assert [limit_of(r) for r in proxy.searches()] == [1000, 100]


def test_a_400_not_about_the_limit_is_not_retried(local, settings):
    def broken(request: Request) -> tuple[int, bytes] | None:
        if request.path.endswith("/search"):
            return 400, b'{"code": "BadRequest", "description": "bbox out of range"}'
        return None

    with Proxy(local.url, broken) as proxy:
        with pytest.raises(SearchException, match="bbox out of range"):
            catalogue_behind(proxy, local).search(NDVI_URN, **WINDOW)
        assert len(proxy.searches()) == 1
