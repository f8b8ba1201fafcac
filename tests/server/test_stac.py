"""The STAC face over real HTTP: every search parameter against a brute-force oracle over the store.

The oracle reads each stored product's item and decides with plain Python and shapely, one item at a
time; the server decides with the store's numpy index and cql2. hypothesis draws the queries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests
import shapely
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from terracat.server import LocalCatalogue

COLLECTIONS = ["terrascope-s2-toc-v2", "terrascope-s2-ndvi-v2", "cgs-s1-grd-sigma0-l1"]
FAST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class _Items(dict):
    """Items by collection, shown by their counts: hypothesis prints a failing call's arguments,
    and the items themselves are tens of megabytes of repr."""

    def __repr__(self) -> str:
        return f"<items: {', '.join(f'{c} {len(v)}' for c, v in self.items())}>"


@pytest.fixture(scope="module")
def store_items(local_catalogue: LocalCatalogue) -> dict[str, list[dict[str, Any]]]:
    """Every stored product's item, by collection (built once: the face's one-off cost)."""
    face = local_catalogue.app.stac
    return _Items({c: face._view(c).items for c in COLLECTIONS})


def _stac(local: LocalCatalogue) -> str:
    return f"{local.url}stac/"


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _all_ids(url: str, method: str = "GET", **query: Any) -> list[str]:
    """Every item id of a search, following next links (GET tokens or POST merge)."""
    ids: list[str] = []
    if method == "GET":
        page = requests.get(url, params=query, timeout=30).json()
    else:
        body = dict(query)
        page = requests.post(url, json=body, timeout=30).json()
    while True:
        ids += [f["id"] for f in page["features"]]
        link = next((link for link in page["links"] if link["rel"] == "next"), None)
        if link is None:
            return ids
        if link.get("method") == "POST":
            body = {**body, **link["body"]} if link.get("merge") else link["body"]
            page = requests.post(link["href"], json=body, timeout=30).json()
        else:
            page = requests.get(link["href"], timeout=30).json()


def _oracle(
    items: dict[str, list[dict[str, Any]]], collections, area, start, end, keep
) -> list[str]:
    chosen = []
    for collection in collections:
        for item in items[collection]:
            props = item["properties"]
            begin, finish = _when(props["start_datetime"]), _when(props["end_datetime"])
            if start is not None and finish < start:
                continue
            if end is not None and begin > end:
                continue
            if area is not None and not shapely.intersects(
                shapely.geometry.shape(item["geometry"]), area
            ):
                continue
            if keep(item):
                chosen.append(item["id"])
    return chosen


def _iso(instant: dt.datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


instants = st.datetimes(min_value=dt.datetime(2019, 12, 1), max_value=dt.datetime(2022, 3, 1)).map(
    lambda d: d.replace(tzinfo=dt.UTC, microsecond=0)
)
boxes = st.tuples(
    st.floats(2.0, 6.5), st.floats(49.3, 51.6), st.floats(0.05, 1.5), st.floats(0.05, 1.0)
).map(lambda t: (round(t[0], 3), round(t[1], 3), round(t[0] + t[2], 3), round(t[1] + t[3], 3)))


@FAST
@example(  # every stored item: more than one page of the largest limit
    collections=list(COLLECTIONS),
    box=None,
    interval=(dt.datetime(2019, 12, 1, tzinfo=dt.UTC), None),
    cloud=None,
    orbit=None,
)
@given(
    collections=st.lists(st.sampled_from(COLLECTIONS), min_size=1, max_size=3, unique=True),
    box=st.none() | boxes,
    interval=st.tuples(st.none() | instants, st.none() | instants).filter(
        lambda t: t != (None, None) and (None in t or t[0] <= t[1])
    ),
    cloud=st.none() | st.integers(0, 100),
    orbit=st.none() | st.sampled_from([8, 37, 51, 94, 110]),
)
def test_search_gives_exactly_the_oracles_items(
    local_catalogue, store_items, collections, box, interval, cloud, orbit
):
    start, end = interval
    text, json_filter = [], []
    if cloud is not None:
        text.append(f"eo:cloud_cover < {cloud}")
        json_filter.append({"op": "<", "args": [{"property": "eo:cloud_cover"}, cloud]})
    if orbit is not None:
        text.append(f"sat:relative_orbit = {orbit}")
        json_filter.append({"op": "=", "args": [{"property": "sat:relative_orbit"}, orbit]})

    def keep(item):
        props = item["properties"]
        if cloud is not None and not (
            props.get("eo:cloud_cover") is not None and props["eo:cloud_cover"] < cloud
        ):
            return False
        return orbit is None or props.get("sat:relative_orbit") == orbit

    area = shapely.box(*box) if box else None
    expected = _oracle(store_items, collections, area, start, end, keep)
    window = f"{_iso(start) if start else '..'}/{_iso(end) if end else '..'}"
    query: dict[str, Any] = {
        "collections": ",".join(collections),
        "datetime": window,
        "limit": 10000,
        "fields": "id",
    }
    if box:
        query["bbox"] = ",".join(map(str, box))
    if text:
        query["filter"] = " AND ".join(text)
    url = f"{_stac(local_catalogue)}search"
    # the whole result, next links followed: it can hold more than the largest page (10,000)
    assert sorted(_all_ids(url, **query)) == sorted(expected)
    first = requests.get(url, params={**query, "limit": 1}, timeout=30).json()
    assert first["numberMatched"] == len(expected)
    body: dict[str, Any] = {
        "collections": collections,
        "datetime": window,
        "limit": 10000,
        "fields": {"include": ["id"]},
    }
    if box:
        body["bbox"] = list(box)
    if json_filter:
        body["filter"] = (
            {"op": "and", "args": json_filter} if len(json_filter) > 1 else json_filter[0]
        )
    assert sorted(_all_ids(url, "POST", **body)) == sorted(expected)


@FAST
@given(instant=instants, geometry=boxes)
def test_an_instant_and_intersects_match_like_the_oracle(
    local_catalogue, store_items, instant, geometry
):
    area = shapely.box(*geometry)
    items = store_items["terrascope-s2-ndvi-v2"]
    some = items[len(items) // 3]["properties"]["datetime"]
    for moment in (_iso(instant), some):
        when = _when(moment)
        expected = _oracle(store_items, ["terrascope-s2-ndvi-v2"], area, when, when, lambda i: True)
        got = requests.post(
            f"{_stac(local_catalogue)}search",
            json={
                "collections": ["terrascope-s2-ndvi-v2"],
                "datetime": moment,
                "intersects": shapely.geometry.mapping(area),
                "limit": 10000,
                "fields": {"include": ["id"]},
            },
            timeout=30,
        ).json()
        assert sorted(f["id"] for f in got["features"]) == sorted(expected)


def test_ids_sortby_and_fields(local_catalogue, store_items):
    url = f"{_stac(local_catalogue)}search"
    ids = [i["id"] for i in store_items["terrascope-s2-toc-v2"][:7]]
    got = requests.get(url, params={"ids": ",".join(ids[::-1])}, timeout=30).json()
    assert sorted(f["id"] for f in got["features"]) == sorted(ids)
    by_cloud = requests.get(
        url,
        params={"collections": "terrascope-s2-ndvi-v2", "sortby": "-eo:cloud_cover", "limit": 50},
        timeout=30,
    ).json()
    clouds = [f["properties"]["eo:cloud_cover"] for f in by_cloud["features"]]
    assert clouds == sorted(clouds, reverse=True)
    assert clouds[0] == max(
        i["properties"]["eo:cloud_cover"] for i in store_items["terrascope-s2-ndvi-v2"]
    )
    cut = requests.get(
        url, params={"ids": ids[0], "fields": "-assets,-geometry"}, timeout=30
    ).json()
    assert "assets" not in cut["features"][0] and "geometry" not in cut["features"][0]
    only = requests.post(
        url,
        json={"ids": [ids[0]], "fields": {"include": ["properties.eo:cloud_cover"]}},
        timeout=30,
    ).json()
    assert only["features"][0]["properties"] == {
        "eo:cloud_cover": store_items["terrascope-s2-toc-v2"][0]["properties"]["eo:cloud_cover"]
    }


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_paging_with_small_limits_returns_every_item_once(local_catalogue, store_items, method):
    url = f"{_stac(local_catalogue)}search"
    query: dict[str, Any] = {
        "collections": "cgs-s1-grd-sigma0-l1",
        "datetime": "2020-01-01T00:00:00Z/2020-03-01T00:00:00Z",
        "limit": 7,
    }
    if method == "POST":
        query["collections"] = [query["collections"]]
    ids = _all_ids(url, method, **query)
    first = _when("2020-01-01T00:00:00Z")
    last = _when("2020-03-01T00:00:00Z")
    expected = _oracle(store_items, ["cgs-s1-grd-sigma0-l1"], None, first, last, lambda i: True)
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(expected) and len(ids) > 14
    second = requests.get(
        url, params={**query, "collections": "cgs-s1-grd-sigma0-l1"}, timeout=30
    ).json()
    page_two = requests.get(
        next(link["href"] for link in second["links"] if link["rel"] == "next"), timeout=30
    ).json()
    back = requests.get(
        next(link["href"] for link in page_two["links"] if link["rel"] == "prev"), timeout=30
    ).json()
    assert [f["id"] for f in back["features"]] == [f["id"] for f in second["features"]]
    assert page_two["numberReturned"] == 7 and page_two["numberMatched"] == len(expected)


@pytest.mark.parametrize(
    "query",
    [
        {"datetime": "2020-13-01T00:00:00Z"},
        {"datetime": "../.."},
        {"datetime": "2021-01-01T00:00:00Z/2020-01-01T00:00:00Z"},
        {"bbox": "1,2,3"},
        {"bbox": "0,60,1,50"},
        {"filter": "eo:cloud_cover <<< 3"},
        {"filter": "x = 1", "filter-lang": "sql"},
        {"limit": "0"},
        {"limit": "ten"},
        {"token": "not-ours"},
    ],
)
def test_bad_parameters_are_400_with_code_and_description(local_catalogue, query):
    answer = requests.get(f"{_stac(local_catalogue)}search", params=query, timeout=30)
    assert answer.status_code == 400
    assert set(answer.json()) == {"code", "description"}


def test_unknown_collection_and_item_are_404(local_catalogue):
    root = _stac(local_catalogue)
    for path in (
        "collections/nope",
        "collections/nope/items",
        "collections/terrascope-s2-toc-v2/items/nope",
        "nope",
    ):
        answer = requests.get(f"{root}{path}", timeout=30)
        assert answer.status_code == 404 and answer.json()["code"] == "NotFound"


def test_limit_above_the_maximum_gives_the_maximum(local_catalogue):
    local_catalogue.settings.stac_max_limit, saved = 3, local_catalogue.settings.stac_max_limit
    try:
        page = requests.get(
            f"{_stac(local_catalogue)}search", params={"limit": 1000}, timeout=30
        ).json()
    finally:
        local_catalogue.settings.stac_max_limit = saved
    assert page["numberReturned"] == 3


def test_protected_collections_are_searchable_but_their_assets_are_not(
    local_catalogue, store_items
):
    page = requests.get(
        f"{_stac(local_catalogue)}collections/terrascope-s2-toc-v2/items",
        params={"limit": 1},
        timeout=30,
    ).json()
    item = page["features"][0]
    assert item["properties"]["auth:schemes"]["oidc"]["openIdConnectUrl"].startswith(
        local_catalogue.url
    )
    asset = next(a for a in item["assets"].values() if "data" in a["roles"])
    assert asset["auth:refs"] == ["oidc"] and asset["href"].startswith(
        f"{local_catalogue.url}download/"
    )
    anonymous = requests.get(asset["href"], allow_redirects=False, timeout=30)
    assert anonymous.status_code == 302 and "/openid-connect/auth" in anonymous.headers["Location"]
    stale = requests.get(
        asset["href"], headers={"Authorization": "Bearer stale"}, allow_redirects=False, timeout=30
    )
    assert stale.status_code == 401
    local = asset["alternate"]["local"]["href"]
    assert local.startswith("file://")
    from urllib.parse import unquote, urlsplit

    assert __import__("os").path.getsize(unquote(urlsplit(local).path)) == asset["file:size"]


def test_faults_apply_to_stac_requests(local_catalogue, faults):
    faults.set(error_burst=1, routes={"stac"})
    url = f"{_stac(local_catalogue)}search"
    assert requests.get(url, timeout=30).status_code == 503
    assert requests.get(url, timeout=30).status_code == 200
    faults.set(garble_burst=1, garble_kind="html", routes={"stac"})
    assert requests.get(url, timeout=30).headers["Content-Type"].startswith("text/html")
    faults.set(error_burst=1, routes={"products"})
    assert requests.get(url, timeout=30).status_code == 200


def test_stac_and_opensearch_describe_the_same_products(local_catalogue):
    opensearch = requests.get(
        f"{local_catalogue.url}products",
        params={
            "collection": "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2",
            "count": 20,
            "start": "2021-06-01",
            "end": "2021-06-10",
        },
        timeout=30,
    ).json()["features"]
    stac = requests.get(
        f"{_stac(local_catalogue)}collections/terrascope-s2-ndvi-v2/items",
        params={"limit": 20, "datetime": "2021-06-01T00:00:00Z/2021-06-10T23:59:59.999Z"},
        timeout=30,
    ).json()["features"]
    assert [f["properties"]["title"] for f in opensearch] == [i["id"] for i in stac]
    for feature, item in zip(opensearch, stac, strict=True):
        begin = feature["properties"]["acquisitionInformation"][1]["acquisitionParameters"][
            "beginningDateTime"
        ]
        assert _when(item["properties"]["start_datetime"]) == _when(begin)
        assert shapely.equals(
            shapely.geometry.shape(feature["geometry"]), shapely.geometry.shape(item["geometry"])
        )
        files = {
            (link["href"], link["length"])
            for links in feature["properties"]["links"].values()
            for link in links
            if "length" in link
        }
        assets = {(a["href"], a["file:size"]) for a in item["assets"].values()}
        assert files == assets


def test_a_geoparquet_export_is_served_as_stac_too(local_catalogue, tmp_path):
    import terracat
    from terracat.server import load_parquet_store

    frame = terracat.search(
        "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1",
        catalogue=terracat.Catalogue(local_catalogue.config()),
        limit=5,
    )
    path = tmp_path / "export.parquet"
    frame.to_parquet(path)
    with LocalCatalogue(load_parquet_store(path)) as served:
        page = requests.get(f"{served.url}stac/search", timeout=30).json()
    assert page["numberMatched"] == 5 and {i["collection"] for i in page["features"]} == {
        "cgs-s1-grd-sigma0-l1"
    }


def test_above_its_maximum_the_face_caps_or_refuses_the_limit(local_catalogue):
    items = f"{_stac(local_catalogue)}collections/terrascope-s2-ndvi-v2/items"
    search = f"{_stac(local_catalogue)}search"
    chosen = local_catalogue.settings
    try:
        chosen.stac_max_limit = 3
        capped = requests.get(items, params={"limit": 5}, timeout=30).json()
        assert capped["numberReturned"] == 3
        assert any(link["rel"] == "next" for link in capped["links"])
        chosen.stac_refuse_above_max = True
        for answer in (
            requests.get(items, params={"limit": 5}, timeout=30),
            requests.post(search, json={"limit": 5}, timeout=30),
        ):
            assert answer.status_code == 400
            assert "limit" in answer.json()["description"]
            assert "less than or equal to 3" in answer.json()["description"]
        assert requests.post(search, json={"limit": 3}, timeout=30).status_code == 200
    finally:
        chosen.stac_max_limit, chosen.stac_refuse_above_max = 10_000, False
