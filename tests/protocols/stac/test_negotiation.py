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
import threading
import time
from collections.abc import Iterator

import cql2
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

import terracat
from terracat.exceptions import SearchException
from terracat.protocols.stac.backend import ClientSideFilterWarning, UncountedWarning
from terracat.protocols.stac.encode import conjunction, query_of
from terracat.request import SearchRequest
from terracat.server import LocalCatalogue
from terracat.server.settings import Settings
from tests.hostile import Request
from tests.protocols.stac.proxy import Proxy, Rewrite, limit_of

NDVI_URN = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
WINDOW = {"start": "2021-07-01", "end": "2021-07-15"}


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


def test_a_page_size_given_is_asked_even_when_it_is_opensearchs_default(local):
    expected = plain_ids(local)
    with Proxy(local.url) as proxy:
        given = catalogue_behind(proxy, local, page_size=100)  # [HTTP] PageSize = 100
        assert list(given.search(NDVI_URN, **WINDOW)["id"]) == expected
        assert limit_of(proxy.searches()[0]) == 100
        unset = catalogue_behind(proxy, local)
        before = len(proxy.searches())
        unset.search(NDVI_URN, **WINDOW)
        assert limit_of(proxy.searches()[before]) == 1000


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
        assert len(proxy.searches() + proxy.counts()) == 1


# ---- 2. the Query extension -----------------------------------------------------------------


def test_a_query_extension_server_gets_the_named_filters_as_query(local, settings):
    filters = {"tileId": "31UFS", "cloudCover": 60}
    expected = plain_ids(local, **filters)
    settings.stac_filtering = "query"
    with Proxy(local.url) as proxy:
        found = catalogue_behind(proxy, local).search(NDVI_URN, **WINDOW, **filters)
        assert list(found["id"]) == expected and len(expected)
        bodies = [json.loads(r.body) for r in proxy.searches()]
        assert all(r.method == "POST" for r in proxy.searches())
        assert bodies[0]["query"] == {
            "grid:code": {"eq": "MGRS-31UFS"},
            "eo:cloud_cover": {"lte": 60},
        }
        assert not any("filter" in body for body in bodies)


def test_what_query_cannot_say_is_applied_to_the_frame_with_one_warning(local, settings):
    filters = {"cloudCover": (5, 80), "filter": '"eo:cloud_cover" < 20 or "eo:cloud_cover" > 60'}
    expected = plain_ids(local, **filters)
    settings.stac_filtering = "query"
    with Proxy(local.url) as proxy:
        with pytest.warns(ClientSideFilterWarning) as caught:
            found = catalogue_behind(proxy, local).search(NDVI_URN, **WINDOW, **filters)
        assert sorted(found["id"]) == sorted(expected) and len(expected)
        assert len(caught) == 1 and " OR " in str(caught[0].message).upper()
        body = json.loads(proxy.searches()[0].body)
        assert body["query"] == {"eo:cloud_cover": {"gte": 5, "lte": 80}}


def test_the_face_takes_query_by_get_and_post_and_refuses_what_it_does_not_declare(local, settings):
    search = local.url + "stac/search"
    common = {"collections": ["terrascope-s2-ndvi-v2"], "limit": 1000}
    query = {"eo:cloud_cover": {"lte": 30}, "sat:relative_orbit": {"in": [51, 8]}}
    cql = {
        "op": "and",
        "args": [
            {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 30]},
            {"op": "in", "args": [{"property": "sat:relative_orbit"}, [51, 8]]},
        ],
    }
    by_filter = requests.post(search, json={**common, "filter": cql}, timeout=30).json()
    settings.stac_filtering = "query"
    by_post = requests.post(search, json={**common, "query": query}, timeout=30).json()
    params = {"collections": "terrascope-s2-ndvi-v2", "limit": 1000, "query": json.dumps(query)}
    by_get = requests.get(search, params=params, timeout=30).json()
    ids = [f["id"] for f in by_filter["features"]]
    assert ids and [f["id"] for f in by_post["features"]] == ids
    assert [f["id"] for f in by_get["features"]] == ids
    refused = requests.post(search, json={**common, "filter": cql}, timeout=30)
    assert refused.status_code == 400 and "Filter extension" in refused.json()["description"]
    landing = requests.get(local.url + "stac/", timeout=30).json()["conformsTo"]
    assert any(c.endswith("#query") for c in landing)
    assert not any("filter" in c for c in landing)
    settings.stac_filtering = "none"
    refused = requests.post(search, json={**common, "query": query}, timeout=30)
    assert refused.status_code == 400 and "Query extension" in refused.json()["description"]


_QUERY_CHECKS = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
}


def query_matches(query: dict, properties: dict) -> bool:
    """The Query extension's meaning, written out: every comparison of every property holds."""
    return all(
        name in properties and _QUERY_CHECKS[op](properties[name], value)
        for name, comparisons in query.items()
        for op, value in comparisons.items()
    )


def _cql_matches(expression: dict | None, properties: dict) -> bool:
    if expression is None:
        return True
    try:
        return bool(cql2.Expr(expression).matches({"properties": properties, **properties}))
    except Exception:  # a comparison with a property the item lacks: no match
        return False


NAMES = st.sampled_from(["eo:cloud_cover", "sat:relative_orbit"])
COMPARISONS = st.builds(
    lambda op, name, value: {"op": op, "args": [{"property": name}, value]},
    st.sampled_from(["=", "<>", "<", "<=", ">", ">="]),
    NAMES,
    st.integers(0, 100),
)
MEMBERSHIP = st.builds(
    lambda name, values: {"op": "in", "args": [{"property": name}, values]},
    NAMES,
    st.lists(st.integers(0, 100), min_size=1, max_size=4),
)
EITHER = st.builds(lambda a, b: {"op": "or", "args": [a, b]}, COMPARISONS, COMPARISONS)
ITEMS = st.fixed_dictionaries(
    {"eo:cloud_cover": st.integers(0, 100), "sat:relative_orbit": st.integers(0, 100)}
)


@given(st.lists(st.one_of(COMPARISONS, MEMBERSHIP, EITHER), min_size=1, max_size=5), ITEMS)
def test_the_query_search_and_the_cql2_search_find_the_same_items(parts, item):
    expression = conjunction(parts)
    query, rest = query_of(expression)
    assert _cql_matches(expression, item) == (
        query_matches(query, item) and _cql_matches(rest, item)
    )
    pairs = [(p["args"][0]["property"], p["op"]) for p in parts if p["op"] != "or"]
    if len(pairs) == len(parts) and len(set(pairs)) == len(pairs):
        assert rest is None  # everything a query can say goes to the server


# ---- 3. the tile's spelling from the queryables ---------------------------------------------

NDVI_QUERYABLES = "/stac/collections/terrascope-s2-ndvi-v2/queryables"


def _queryables(*names: str) -> Rewrite:
    def rewrite(request: Request) -> tuple[int, bytes] | None:
        if request.path != NDVI_QUERYABLES:
            return None
        if not names:
            return 404, b'{"code": "NotFound", "description": "no queryables"}'
        properties = {name: {"type": "string"} for name in names}
        return 200, json.dumps({"type": "object", "properties": properties}).encode()

    return rewrite


def test_the_tile_filter_names_the_property_the_queryables_offer(local):
    with Proxy(local.url, _queryables("eo:cloud_cover", "s2:mgrs_tile")) as proxy:
        catalogue = catalogue_behind(proxy, local)
        catalogue.search(NDVI_URN, **WINDOW, tileId="31UFS")
        catalogue.search(NDVI_URN, **WINDOW, tileId="31UFT")
        filters = [json.loads(r.body)["filter"] for r in proxy.searches()]
        assert filters[0] == {"op": "=", "args": [{"property": "s2:mgrs_tile"}, "31UFS"]}
        assert filters[1]["args"][1] == "31UFT"
        assert [r.path for r in proxy.requests].count(NDVI_QUERYABLES) == 1  # read once


def test_without_queryables_the_tile_is_grid_code(local):
    expected = plain_ids(local, tileId="31UFS")
    with Proxy(local.url, _queryables()) as proxy:
        found = catalogue_behind(proxy, local).search(NDVI_URN, **WINDOW, tileId="31UFS")
        assert list(found["id"]) == expected and len(expected)
        body = json.loads(proxy.searches()[0].body)
        assert body["filter"]["args"][0] == {"property": "grid:code"}
        catalogue_behind(proxy, local).search(NDVI_URN, **WINDOW)  # no tileId: not asked
        assert [r.path for r in proxy.requests].count(NDVI_QUERYABLES) == 1


@pytest.mark.parametrize("filtering", ["filter", "cql2-text"])
def test_the_mgrs_triple_filters_on_the_server_where_the_queryables_offer_it(
    local, settings, filtering
):
    expected = plain_ids(local, tileId="31UFS")  # by grid:code
    settings.stac_filtering = filtering
    triple = ("mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square")
    with Proxy(local.url, _queryables(*triple)) as proxy:
        found = catalogue_behind(proxy, local).search(NDVI_URN, **WINDOW, tileId="31UFS")
        assert list(found["id"]) == expected and len(expected)
        assert set(found["tileId"]) == {"31UFS"}
        (search,) = proxy.searches()
        if search.method == "POST":
            sent = json.loads(search.body)["filter"]
        else:
            sent = cql2.Expr(search.param("filter")).to_json()
        assert sent == {
            "op": "and",
            "args": [
                {"op": "=", "args": [{"property": "mgrs:utm_zone"}, 31]},
                {"op": "=", "args": [{"property": "mgrs:latitude_band"}, "U"]},
                {"op": "=", "args": [{"property": "mgrs:grid_square"}, "FS"]},
            ],
        }


# ---- 3b. a server of CQL2 text only -------------------------------------------------------------


def test_a_server_of_cql2_text_only_gets_the_filter_as_text_by_get(local, settings):
    expected = plain_ids(local, tileId="31UFS", cloudCover=60)
    settings.stac_filtering = "cql2-text"
    with Proxy(local.url) as proxy:
        catalogue = catalogue_behind(proxy, local, page_size=5, search_workers=1)
        found = catalogue.search(NDVI_URN, **WINDOW, tileId="31UFS", cloudCover=60)
        assert list(found["id"]) == expected and len(expected) > 5  # more than a page
        assert catalogue.count(NDVI_URN, **WINDOW, tileId="31UFS", cloudCover=60) == len(expected)
        searches = [r for r in proxy.requests if r.path.endswith("/search")]
        assert {r.method for r in searches} == {"GET"} and len(searches) > 2
        first = searches[0]
        assert first.param("filter-lang") == "cql2-text"
        text = first.param("filter")
        parts = cql2.Expr(text).to_json()["args"]  # the tile and the cloud cover, and-ed
        assert sorted(part["args"][0]["property"] for part in parts) == [
            "eo:cloud_cover",
            "grid:code",
        ]
        assert "'MGRS-31UFS'" in text
    # the face takes no filter it does not declare: CQL2 JSON by POST, or by GET
    search = local.url + "stac/search"
    cql = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 60]}
    refused = [
        requests.post(search, json={"filter": cql, "filter-lang": "cql2-json"}, timeout=30),
        requests.get(
            search, params={"filter": json.dumps(cql), "filter-lang": "cql2-json"}, timeout=30
        ),
    ]
    for answer in refused:
        assert answer.status_code == 400 and "CQL2 text" in answer.json()["description"]


# ---- 4. count and split without a server-side filter ------------------------------------------

FILTERS = {"tileId": "31UFS", "cloudCover": 60}


def test_count_without_the_filter_extension_counts_the_rows(local, settings):
    expected = plain_ids(local, **FILTERS)
    settings.stac_filtering = "none"
    with Proxy(local.url) as proxy:
        with pytest.warns(ClientSideFilterWarning) as caught:
            counted = catalogue_behind(proxy, local).get_product_count(
                NDVI_URN, **WINDOW, **FILTERS
            )
        assert counted == len(expected) and counted
        assert len(caught) == 1 and "slow" in str(caught[0].message)
        searches = proxy.searches()
        assert searches and all(r.method == "GET" and "filter" not in r.params for r in searches)


def test_the_lazy_path_warns_once_for_the_whole_search_not_once_a_page(local, settings):
    expected = plain_ids(local, **FILTERS)
    settings.stac_filtering = "none"
    with Proxy(local.url) as proxy:
        catalogue = catalogue_behind(proxy, local, page_size=5)
        with pytest.warns(ClientSideFilterWarning) as caught:
            found = [
                product.id for product in catalogue.get_products(NDVI_URN, **WINDOW, **FILTERS)
            ]
        assert found == expected and len(expected)
        assert len(proxy.searches()) > 3  # many pages, each filtered on the client
        assert len(caught) == 1 and "each page" in str(caught[0].message)


def test_split_without_the_filter_extension_cuts_by_unfiltered_counts(local, settings):
    expected = plain_ids(local, **FILTERS)
    settings.stac_filtering = "none"
    with Proxy(local.url) as proxy:
        catalogue = catalogue_behind(proxy, local, page_size=2)
        with pytest.warns(ClientSideFilterWarning) as caught:
            found = catalogue.search(NDVI_URN, **WINDOW, **FILTERS, split=True)
        assert sorted(found["id"]) == sorted(expected) and found["id"].is_unique
        assert len(caught) == 1
        counts = proxy.counts()
        windows = {r.param("datetime") for r in proxy.searches() if limit_of(r) == 2}
        assert len(counts) > 1 and len(windows) > 1  # cut into windows, not one search
        request = SearchRequest.for_products(NDVI_URN, **WINDOW, **FILTERS)
        with pytest.warns(ClientSideFilterWarning) as caught:
            _, parts = catalogue.backend.partitions(request, 25)
        assert len(caught) == 1 and len(parts) > 1
        owned = []
        for part in parts:
            frame = catalogue.backend.partition(part)
            owned += list(frame[part.owns(frame["beginningDateTime"])]["id"])
        assert sorted(owned) == sorted(expected)


class Counting(Proxy):
    """A proxy that also records the most search requests it had in flight at once."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.in_flight = self.most_in_flight = 0
        self._guard = threading.Lock()
        self._open = threading.local()  # whether this thread's request was answered

    def _forward(self, request: Request, connection: socket.socket) -> None:
        with self._guard:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self._open.done = False
        try:
            time.sleep(0.02)  # a remote catalogue's latency: requests overlap if sent together
            super()._forward(request, connection)
        finally:
            self._answered()

    def _answered(self) -> None:
        # out of flight once answered, before the answer is relayed: the client can ask its next
        # page as soon as it has this one, and must not be seen as asking two at once
        if not self._open.done:
            self._open.done = True
            with self._guard:
                self.in_flight -= 1


def _datetime_of(request: Request) -> str | None:
    if request.method == "POST":
        return json.loads(request.body).get("datetime")
    return request.param("datetime")


def test_a_search_of_many_pages_is_fetched_as_time_windows_side_by_side(local):
    expected = plain_ids(local)
    with Counting(local.url) as proxy:
        found = catalogue_behind(proxy, local, page_size=3).search(NDVI_URN, **WINDOW)
        assert sorted(found["id"]) == sorted(expected) and found["id"].is_unique
        assert len(expected) > 3 * 3  # more than WINDOWED_PAGES pages of 3
        assert len({_datetime_of(r) for r in proxy.searches()}) > 1  # windows, not one chain
        assert proxy.most_in_flight > 1
    with Counting(local.url) as proxy:  # one worker: one plain search, no counting
        polite = catalogue_behind(proxy, local, page_size=3, search_workers=1)
        assert list(polite.search(NDVI_URN, **WINDOW)["id"]) == expected
        assert not proxy.counts() and proxy.most_in_flight == 1
        assert len({_datetime_of(r) for r in proxy.searches()}) == 1
    with Counting(local.url) as proxy:  # a limit: the first pages of one plain search
        capped = catalogue_behind(proxy, local, page_size=3)
        assert list(capped.search(NDVI_URN, **WINDOW, limit=7)["id"]) == expected[:7]
        assert not proxy.counts()


def _uncounted(request: Request, body: bytes) -> bytes:
    if not request.path.endswith("/search"):
        return body
    page = json.loads(body)
    page.pop("numberMatched", None)
    return json.dumps(page).encode()


def test_a_catalogue_without_counts_says_so_and_split_falls_back_to_one_search(local):
    expected = plain_ids(local)
    with Proxy(local.url, alter=_uncounted) as proxy:
        catalogue = catalogue_behind(proxy, local)
        with pytest.raises(SearchException, match="does not count its results"):
            catalogue.get_product_count(NDVI_URN, **WINDOW)
        with pytest.warns(UncountedWarning, match="numberMatched") as caught:
            found = catalogue.search(NDVI_URN, **WINDOW, split=True)
        assert list(found["id"]) == expected and len(caught) == 1
