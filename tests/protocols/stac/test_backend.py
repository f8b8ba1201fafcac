"""The STAC backend against the local catalogue's STAC face over HTTP: every translation finds
the items the OpenSearch face finds for the same call, paging, counts, collections, urn ids,
split windows, and a server without the Filter extension (filtered on the frame, one warning).
"""

from __future__ import annotations

import datetime as dt
import socket
import warnings

import cql2
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

import terracat
from terracat.exceptions import ParameterParserException, TerracatWarning
from terracat.protocols.stac.backend import derived_id
from terracat.protocols.stac.encode import as_query, encode
from terracat.request import SearchRequest
from tests.hostile import HostileServer, Request, send

NDVI_URN = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
WINDOW = {"start": "2021-07-01", "end": "2021-07-15"}


def stac_config(local, **http):
    config = local.config()
    config.catalogue_url = local.url + "stac/"
    config.protocol = "stac"
    for name, value in http.items():
        setattr(config, name, value)
    return config


@pytest.fixture
def stac(local_catalogue):
    return terracat.Catalogue(stac_config(local_catalogue))


@pytest.fixture
def opensearch(local_catalogue):
    return terracat.Catalogue(local_catalogue.config())


TRANSLATIONS = [
    {},
    {"tileId": "31UFS"},
    {"cloudCover": 40},
    {"cloudCover": (10, 60)},
    {"cloudCover": "[10,60]"},
    {"cloudCover": "60]"},
    {"bbox": [4.0, 50.5, 5.0, 51.5]},
    {"geometry": "POLYGON((4 50.5,5 50.5,5 51.5,4 51.5,4 50.5))"},
    {"end": "2021-07-10"},
    {"start": dt.datetime(2021, 7, 5, 10, 30)},
]


@pytest.mark.parametrize("given_filters", TRANSLATIONS, ids=str)
def test_each_translation_finds_what_opensearch_finds(stac, opensearch, given_filters):
    filters = {**WINDOW, **given_filters}
    ours = stac.search(NDVI_URN, **filters)
    theirs = opensearch.search(NDVI_URN, **filters)
    assert sorted(ours["id"]) == sorted(i.rpartition(":")[2] for i in theirs["id"])


def test_orbit_and_type_filters_match_the_faces_own_query(local_catalogue, stac):
    frame = stac.search(NDVI_URN, **WINDOW)
    row = frame.iloc[0]
    item = requests.get(local_catalogue.url + "stac/search", params={"ids": row["id"]}).json()
    properties = item["features"][0]["properties"]
    for keyword, name, value in (
        ("relativeOrbitNumber", "sat:relative_orbit", properties.get("sat:relative_orbit")),
        ("orbitDirection", "sat:orbit_state", properties.get("sat:orbit_state")),
        ("productType", "product:type", properties.get("product:type")),
    ):
        if value is None:
            continue
        given_value = value.upper() if keyword == "orbitDirection" else value
        found = stac.search(NDVI_URN, **WINDOW, **{keyword: given_value})
        text = f'"{name}" = {value!r}' if isinstance(value, str) else f'"{name}" = {value}'
        body = {
            "collections": ["terrascope-s2-ndvi-v2"],
            "datetime": "2021-07-01T00:00:00Z/2021-07-15T23:59:59.999Z",
            "filter": cql2.Expr(text).to_json(),
            "limit": 1000,
        }
        face = requests.post(local_catalogue.url + "stac/search", json=body).json()
        assert sorted(found["id"]) == sorted(f["id"] for f in face["features"]), keyword
        assert len(found)


def test_filter_and_extra_keywords_are_anded(stac, opensearch):
    plain = stac.search(NDVI_URN, **WINDOW, tileId="31UFS")
    text = stac.search(NDVI_URN, **WINDOW, tileId="31UFS", filter='"eo:cloud_cover" <= 50')
    assert set(text["id"]) == set(plain[plain["cloudCover"] <= 50]["id"])
    tile = plain.iloc[0]["grid:code"]
    extra = stac.search(NDVI_URN, **WINDOW, **{"grid:code": tile})
    assert set(plain["id"]) <= set(extra["id"])


def test_small_pages_give_every_item_once(local_catalogue, stac):
    whole = stac.search(NDVI_URN, **WINDOW)
    small = terracat.Catalogue(stac_config(local_catalogue, page_size=2))
    paged = small.search(NDVI_URN, **WINDOW)
    assert list(paged["id"]) == list(whole["id"]) and paged["id"].is_unique
    assert len(whole) > 4
    frames = list(small.backend.frames(SearchRequest.for_products(NDVI_URN, **WINDOW)))
    assert [len(f) for f in frames[:-1]] == [2] * (len(frames) - 1)
    assert sum(len(f) for f in frames) == len(whole)


def test_count_and_limit(stac):
    whole = stac.search(NDVI_URN, **WINDOW)
    assert stac.count(NDVI_URN, **WINDOW) == len(whole)
    assert list(stac.search(NDVI_URN, limit=3, **WINDOW)["id"]) == list(whole["id"][:3])


def test_collections_and_urn_ids(stac):
    request = SearchRequest.for_collections()
    ids = set(stac.backend.search(request)["id"])
    assert {"terrascope-s2-ndvi-v2", "cgs-s1-grd-sigma0-l1"} <= ids
    assert derived_id("urn:eop:VITO:TERRASCOPE_S2_TOC_V2") == "terrascope-s2-toc-v2"
    by_urn = stac.search(NDVI_URN, **WINDOW)
    by_id = stac.search("terrascope-s2-ndvi-v2", **WINDOW)
    assert list(by_urn["id"]) == list(by_id["id"])


def test_an_unknown_collection_names_the_closest(stac):
    with pytest.raises(ParameterParserException, match="terrascope-s2-ndvi-v2"):
        stac.search("terrascope-s2-ndvi-v3", **WINDOW)


def test_split_windows_join_exactly(local_catalogue, stac):
    whole = stac.search(NDVI_URN, **WINDOW)
    small = terracat.Catalogue(stac_config(local_catalogue, page_size=2))
    split = small.backend.search(SearchRequest.for_products(NDVI_URN, **WINDOW), split=True)
    assert sorted(split["id"]) == sorted(whole["id"]) and split["id"].is_unique
    request = SearchRequest.for_products(NDVI_URN, **WINDOW)
    _, parts = small.backend.partitions(request, 25)
    assert len(parts) > 1 and all(p.total <= 25 for p in parts)
    owned = []
    for part in parts:
        frame = small.backend.partition(part)
        owned += list(frame[part.owns(frame["beginningDateTime"])]["id"])
    assert sorted(owned) == sorted(whole["id"])


def test_a_search_of_all_time_is_cut_into_windows_too(local_catalogue, stac):
    # no start or end: the windows' first count is of all time, sent without a datetime (a
    # lone '..' is no interval, and the catalogue refuses it)
    query = {"tileId": "31UFS", "cloudCover": 20}
    whole = terracat.Catalogue(stac_config(local_catalogue, search_workers=1)).search(
        NDVI_URN, **query
    )
    small = terracat.Catalogue(stac_config(local_catalogue, page_size=10))
    windowed = small.search(NDVI_URN, **query)
    assert len(whole) > 4 * 10  # more than WINDOWED_PAGES pages: cut into time windows
    assert sorted(windowed["id"]) == sorted(whole["id"]) and windowed["id"].is_unique
    _, parts = small.backend.partitions(SearchRequest.for_products(NDVI_URN, **query), 25)
    assert len(parts) > 1 and parts[0].low is None and parts[-1].high is None


def _no_filter_proxy(local_url: str):
    """A STAC API that declares no Filter extension; everything else from the local face."""

    def handler(request: Request, connection: socket.socket) -> None:
        if request.path == "/":
            landing = {
                "type": "Catalog",
                "id": "plain",
                "description": "no filter",
                "links": [],
                "conformsTo": [
                    "https://api.stacspec.org/v1.0.0/core",
                    "https://api.stacspec.org/v1.0.0/item-search",
                ],
            }
            send(
                connection,
                200,
                requests.models.complexjson.dumps(landing).encode(),
                {"Content-Type": "application/json"},
            )
            return
        answer = requests.get(local_url + request.target.lstrip("/"), timeout=30)
        send(
            connection,
            answer.status_code,
            answer.content,
            {"Content-Type": answer.headers.get("Content-Type", "application/json")},
        )

    return HostileServer(handler)


def test_a_server_without_the_filter_extension_filters_on_the_frame(local_catalogue, stac):
    expected = stac.search(NDVI_URN, **WINDOW, tileId="31UFS", cloudCover=50)
    with _no_filter_proxy(local_catalogue.url + "stac/") as server:
        config = stac_config(local_catalogue)
        config.catalogue_url = server.url("/")
        plain = terracat.Catalogue(config)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found = plain.search(NDVI_URN, **WINDOW, tileId="31UFS", cloudCover=50)
        assert sorted(found["id"]) == sorted(expected["id"]) and len(found)
        ours = [w for w in caught if issubclass(w.category, TerracatWarning)]
        assert len(ours) == 1 and "Filter" in str(ours[0].message)
        assert all("filter" not in r.params for r in server.requests)


# ---- encoding, pure -----------------------------------------------------------------------

bounds = st.integers(0, 100)


@given(bounds, bounds)
def test_cloud_cover_text_and_tuple_encode_alike(a, b):
    low, high = min(a, b), max(a, b)
    as_tuple = encode(SearchRequest.for_products("c", cloudCover=(low, high)))
    as_text = encode(SearchRequest.for_products("c", cloudCover=f"[{low},{high}]"))
    assert as_tuple["filter"] == as_text["filter"]
    upper = encode(SearchRequest.for_products("c", cloudCover=f"{high}]"))
    assert upper["filter"] == encode(SearchRequest.for_products("c", cloudCover=high))["filter"]


@given(st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1)), st.integers(0, 400))
def test_datetime_intervals(start, days):
    end = start + dt.timedelta(days=days)
    body = encode(SearchRequest.for_products("c", start=start, end=end))
    assert body["datetime"] == f"{start.isoformat()}T00:00:00Z/{end.isoformat()}T23:59:59.999Z"
    assert encode(SearchRequest.for_products("c", end=end))["datetime"].startswith("../")
    assert encode(SearchRequest.for_products("c", start=start))["datetime"].endswith("/..")


@given(
    st.sampled_from(["31UFS", "MGRS-31UFS"]),
    st.sampled_from(["ASCENDING", "descending"]),
    st.integers(1, 200),
)
def test_the_get_filter_text_is_the_post_json(tile, direction, orbit):
    request = SearchRequest.for_products(
        "c", tileId=tile, orbitDirection=direction, relativeOrbitNumber=orbit
    )
    body = encode(request)
    query = as_query(body)
    assert cql2.Expr(query["filter"]).to_json() == body["filter"]
    assert "'MGRS-31UFS'" in query["filter"] and direction.lower() in query["filter"]


# ---- an empty result ----------------------------------------------------------------------

EMPTY = {"start": "1990-01-01", "end": "1990-01-02"}


def test_an_empty_search_has_the_stac_frames_columns(stac, tmp_path):
    full = stac.search(NDVI_URN, **WINDOW)
    empty = stac.search(NDVI_URN, **EMPTY)
    assert len(empty) == 0 and empty.crs == "EPSG:4326"
    assert list(empty.columns) == [
        "id",
        "title",
        "collection",
        "beginningDateTime",
        "endingDateTime",
        "cloudCover",
        "tileId",
        "relativeOrbitNumber",
        "orbitDirection",
        "productType",
        "data",
        "related",
        "previews",
        "alternates",
        "properties",
        "geometry",
    ]
    assert {"date", "published", "available"}.isdisjoint(empty.columns)  # OpenSearch's only
    for name in empty.columns:  # every column of an empty result is one a full result has
        assert empty[name].dtype == full[name].dtype, name
    assert len(empty.query("cloudCover < 10 and tileId == '31UFS'")) == 0
    empty.to_parquet(tmp_path / "empty.parquet")
    assert list(terracat.read_parquet(tmp_path / "empty.parquet").columns) == list(empty.columns)
    request = SearchRequest.for_products(NDVI_URN, **EMPTY)
    meta, parts = stac.backend.partitions(request, 100)  # terracat.dask's columns of none
    assert list(meta.columns) == list(empty.columns) and parts == []


def test_whole_numbers_are_floats_unless_integers_by_definition(stac):
    """A field's dtype is the field's, not its values': the items' gsd of 10 is a float (the next
    search's may be 10.5), their relative orbit an integer (the sat extension says so)."""
    frame = stac.search(NDVI_URN, start="2021-07-01", end="2021-07-15")
    assert len(frame) and frame["gsd"].dtype == "float64"
    assert (
        frame["sat:relative_orbit"].dtype == "Int64"
        and frame["relativeOrbitNumber"].dtype == "Int64"
    )
