"""The local catalogue's OpenSearch face, spoken to over HTTP as the real catalogue would be."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import shapely
from shapely.geometry import shape

from terracat.server import LocalCatalogue, Settings

from ..conftest import load_fixture

TOC = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"
NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _acquisition(feature: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in feature["properties"]["acquisitionInformation"]:
        for section in block.values():
            for key, value in section.items():
                merged.setdefault(key, value)
    return merged


def _all(local: LocalCatalogue, collection: str) -> list[dict[str, Any]]:
    return local.store.collections[collection].products


def _ids(http: requests.Session, local: LocalCatalogue, **params: Any) -> list[str]:
    """Every product id the catalogue answers for ``params``, walking the next links."""
    url: str | None = f"{local.url}products"
    query: dict[str, Any] | None = {"count": 1000, **params}
    ids: list[str] = []
    while url:
        response = http.get(url, params=query, timeout=30)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [f["id"] for f in page["features"]]
        url = page["properties"]["links"].get("next", [{}])[0].get("href")
        query = None
    return ids


# ---- shape ----------------------------------------------------------------------------------


def test_products_page_has_the_real_catalogue_shape(local_catalogue, http):
    real = load_fixture("products_s2_fapar.json")
    page = http.get(
        f"{local_catalogue.url}products", params={"collection": NDVI}, timeout=30
    ).json()
    assert set(page) == set(real)
    assert set(real["properties"]) <= set(page["properties"])
    assert {"first", "last", "search"} <= set(page["properties"]["links"])
    ours, theirs = page["features"][0], real["features"][0]
    assert set(ours) == set(theirs)
    assert set(theirs["properties"]) - {"creationDate"} <= set(ours["properties"])
    assert set(theirs["properties"]["links"]) == set(ours["properties"]["links"])
    for kind in ("data", "related", "previews", "alternates"):
        for link in ours["properties"]["links"][kind]:
            assert link["href"].startswith(f"{local_catalogue.url}download/")
            assert isinstance(link["length"], int) and link["length"] > 0
    assert page["itemsPerPage"] == len(page["features"]) == 100


def test_collections_page_has_the_real_catalogue_shape(local_catalogue, http):
    real = load_fixture("collections.json")
    page = http.get(f"{local_catalogue.url}collections", timeout=30).json()
    assert set(real) <= set(page)
    assert {f["id"] for f in page["features"]} == {TOC, NDVI, S1}
    for feature in page["features"]:
        assert {"type", "id", "geometry", "bbox", "properties"} <= set(feature)
        assert {"title", "identifier", "date", "acquisitionInformation"} <= set(
            feature["properties"]
        )
    assert page["totalResults"] == 3


def test_collections_filter_by_platform(local_catalogue, http):
    page = http.get(
        f"{local_catalogue.url}collections", params={"platform": "SENTINEL-1"}, timeout=30
    ).json()
    assert [f["id"] for f in page["features"]] == [S1]


# ---- paging ---------------------------------------------------------------------------------


def test_next_links_walk_every_product_once_in_order(local_catalogue, http):
    params = {"collection": TOC, "tileId": "31UES", "start": "2022-01-01", "end": "2022-06-30"}
    whole = _ids(http, local_catalogue, **params)
    assert len(whole) > 30
    walked = []
    url: str | None = f"{local_catalogue.url}products"
    query: dict[str, Any] | None = {**params, "count": 7}
    pages = 0
    while url:
        page = http.get(url, params=query, timeout=30).json()
        assert page["totalResults"] == len(whole)
        walked += [f["id"] for f in page["features"]]
        url, query, pages = (
            page["properties"]["links"].get("next", [{}])[0].get("href"),
            None,
            pages + 1,
        )
    assert walked == whole
    assert pages == -(-len(whole) // 7)


def test_links_carry_the_query_and_point_at_neighbour_pages(local_catalogue, http):
    params = {"collection": NDVI, "tileId": "31UFS", "count": 10, "startIndex": 21}
    page = http.get(f"{local_catalogue.url}products", params=params, timeout=30).json()
    links = {
        k: parse_qs(urlsplit(v[0]["href"]).query)
        for k, v in page["properties"]["links"].items()
        if k in ("first", "previous", "next", "last")
    }
    assert links["first"]["startIndex"] == ["1"]
    assert links["previous"]["startIndex"] == ["11"]
    assert links["next"]["startIndex"] == ["31"]
    last = int(links["last"]["startIndex"][0])
    assert last <= page["totalResults"] < last + 10
    assert all(q["tileId"] == ["31UFS"] and q["count"] == ["10"] for q in links.values())


def test_count_zero_answers_the_total_only(local_catalogue, http):
    page = http.get(
        f"{local_catalogue.url}products", params={"collection": S1, "count": 0}, timeout=30
    ).json()
    assert page["totalResults"] == len(_all(local_catalogue, S1))
    assert page["features"] == [] and page["itemsPerPage"] == 0


def test_paging_beyond_the_depth_limit_is_refused_and_last_link_stays_within():
    with LocalCatalogue(settings=Settings(max_depth=250)) as local:
        url = f"{local.url}products"
        page = requests.get(url, params={"collection": TOC, "count": 100}, timeout=30).json()
        assert page["totalResults"] > 250
        last = parse_qs(urlsplit(page["properties"]["links"]["last"][0]["href"]).query)
        assert int(last["startIndex"][0]) == 101  # 101..200 is the deepest whole page
        within = requests.get(
            url, params={"collection": TOC, "count": 50, "startIndex": 201}, timeout=30
        )
        assert within.status_code == 200 and len(within.json()["features"]) == 50
        beyond = requests.get(
            url, params={"collection": TOC, "count": 100, "startIndex": 201}, timeout=30
        )
        assert beyond.status_code == 400
        (exception,) = beyond.json()["exceptions"]
        assert exception["locator"] == "startIndex" and "250" in exception["exceptionText"]


# ---- filters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2021-03-01", "2021-03-10"),
        ("2021-03-01T10:55:00Z", "2021-03-06T10:00:00Z"),
        ("2022-12-30", None),
    ],
)
def test_time_filter_selects_acquisitions_overlapping_the_window(local_catalogue, http, start, end):
    low = _instant(start if "T" in start else f"{start}T00:00:00Z")
    high = None
    if end:
        high = _instant(end) if "T" in end else _instant(f"{end}T00:00:00Z") + dt.timedelta(days=1)
    expected = [
        f["id"]
        for f in _all(local_catalogue, NDVI)
        if _instant(_acquisition(f)["endingDateTime"]) >= low
        and (high is None or _instant(_acquisition(f)["beginningDateTime"]) < high)
    ]
    params = {"collection": NDVI, "start": start} | ({"end": end} if end else {})
    assert _ids(http, local_catalogue, **params) == expected
    assert expected


def test_bbox_and_geometry_select_intersecting_footprints(local_catalogue, http):
    box = (4.3, 50.8, 4.4, 50.9)
    expected = [
        f["id"]
        for f in _all(local_catalogue, S1)
        if shape(f["geometry"]).intersects(shapely.box(*box))
    ]
    assert expected
    assert _ids(http, local_catalogue, collection=S1, bbox=",".join(map(str, box))) == expected
    assert _ids(http, local_catalogue, collection=S1, geometry=shapely.box(*box).wkt) == expected


def test_bbox_far_away_matches_nothing(local_catalogue, http):
    assert _ids(http, local_catalogue, collection=TOC, bbox="100,10,101,11") == []


@pytest.mark.parametrize(
    ("expression", "accept"),
    [
        ("10]", lambda c: c <= 10),
        ("[90", lambda c: c >= 90),
        ("[10,20]", lambda c: 10 <= c <= 20),
        ("]10,20[", lambda c: 10 < c < 20),
        ("5[", lambda c: c < 5),
    ],
)
def test_cloud_cover_interval_syntax(local_catalogue, http, expression, accept):
    products = [f for f in _all(local_catalogue, TOC) if _acquisition(f)["tileId"] == "31UFR"]
    expected = [
        f["id"] for f in products if accept(f["properties"]["productInformation"]["cloudCover"])
    ]
    assert expected
    assert (
        _ids(http, local_catalogue, collection=TOC, tileId="31UFR", cloudCover=expression)
        == expected
    )


@pytest.mark.parametrize(
    ("parameter", "pick"),
    [
        ("tileId", lambda f: _acquisition(f).get("tileId")),
        ("relativeOrbitNumber", lambda f: _acquisition(f).get("relativeOrbitNumber")),
        ("orbitDirection", lambda f: _acquisition(f).get("orbitDirection")),
        ("productType", lambda f: f["properties"]["productInformation"].get("productType")),
        ("productGroupId", lambda f: f["properties"]["productInformation"].get("productGroupId")),
        ("title", lambda f: f["properties"]["title"]),
    ],
)
def test_exact_value_filters(local_catalogue, http, parameter, pick):
    collection = S1 if parameter == "orbitDirection" else TOC
    products = _all(local_catalogue, collection)
    value = pick(products[len(products) // 2])
    assert value is not None
    expected = [f["id"] for f in products if pick(f) == value]
    assert _ids(http, local_catalogue, collection=collection, **{parameter: value}) == expected


def test_publication_date_interval(local_catalogue, http):
    products = _all(local_catalogue, S1)
    low, high = "2021-05-01", "2021-05-31"
    expected = [
        f["id"]
        for f in products
        if _instant(f"{low}T00:00:00Z")
        <= _instant(f["properties"]["published"])
        < _instant(f"{high}T00:00:00Z") + dt.timedelta(days=1)
    ]
    assert expected
    assert _ids(http, local_catalogue, collection=S1, publicationDate=f"[{low},{high}]") == expected


def test_sort_keys_order_by_cloud_cover(local_catalogue, http):
    page = http.get(
        f"{local_catalogue.url}products",
        params={"collection": TOC, "tileId": "31UDS", "sortKeys": "cloudCover,,1", "count": 50},
        timeout=30,
    ).json()
    covers = [f["properties"]["productInformation"]["cloudCover"] for f in page["features"]]
    assert covers == sorted(covers)


# ---- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "locator"),
    [
        ({"collection": TOC, "bbox": "4,50,5"}, "bbox"),
        ({"collection": TOC, "bbox": "4,51,5,50"}, "bbox"),
        ({"collection": TOC, "start": "yesterday"}, "start"),
        ({"collection": TOC, "start": "2022-02-01", "end": "2022-01-01"}, "end"),
        ({"collection": TOC, "cloudCover": "cloudy"}, "cloudCover"),
        ({"collection": TOC, "cloudCover": "[30,20]"}, "cloudCover"),
        ({"collection": TOC, "geometry": "POLYGON((broken"}, "geometry"),
        ({"collection": TOC, "count": "-1"}, "count"),
        ({"collection": TOC, "startIndex": "0"}, "startIndex"),
        ({"collection": TOC, "sortKeys": "colour,,1"}, "sortKeys"),
        ({"collection": "urn:eop:VITO:NO_SUCH_THING"}, "collection"),
        ({}, "collection"),
    ],
)
def test_bad_parameters_get_an_ogc_exception_document(local_catalogue, http, params, locator):
    response = http.get(f"{local_catalogue.url}products", params=params, timeout=30)
    assert response.status_code == 400
    (exception,) = response.json()["exceptions"]
    assert exception["locator"] == locator
    assert exception["exceptionCode"] in ("InvalidParameterValue", "MissingParameterValue")
    assert exception["exceptionText"]
