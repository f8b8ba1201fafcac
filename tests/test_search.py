"""Searches into frames and the documented object API, against the local catalogue over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import time
from urllib.parse import parse_qs, urlsplit

import geopandas
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

import terracat
from terracat import Catalogue, Product, ProductFile, SearchException, TooManyResultsException
from terracat.server import LocalCatalogue, Settings

TOC = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"
NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"


@pytest.fixture(scope="module")
def catalogue(local_catalogue: LocalCatalogue) -> Catalogue:
    return Catalogue(local_catalogue.config())


@pytest.fixture(scope="module")
def shallow() -> LocalCatalogue:
    """A catalogue that lets clients page 250 results deep, as a real one limits them."""
    with LocalCatalogue(settings=Settings(max_depth=250)) as local:
        yield local


def _store_ids(local: LocalCatalogue, collection: str, keep=lambda f: True) -> list[str]:
    return [f["id"] for f in local.store.collections[collection].products if keep(f)]


def _tile(feature: dict) -> str:
    return feature["properties"]["acquisitionInformation"][1]["acquisitionParameters"]["tileId"]


def _last_query(local: LocalCatalogue) -> dict[str, list[str]]:
    products = [r for r in local.app.requests if r.startswith("/products")]
    return parse_qs(urlsplit(products[-1]).query)


def test_public_names_are_exactly_the_intended_ones():
    assert [name for name in terracat.__all__ if not hasattr(terracat, name)] == []
    assert sorted(terracat.__all__) == sorted(
        [
            "AuthenticationException",
            "Catalogue",
            "CatalogueConfig",
            "CatalogueEnvironment",
            "Collection",
            "ConfigurationException",
            "ParameterParserException",
            "Product",
            "ProductDownloadException",
            "ProductFile",
            "ProductFileType",
            "SearchException",
            "SyncIncomplete",
            "SyncReport",
            "TerracatError",
            "TerracatWarning",
            "TooManyResultsException",
            "collections",
            "count",
            "login",
            "read_parquet",
            "search",
            "set_default_catalogue",
            "sync",
        ]
    )


def test_parameters_reach_the_catalogue_encoded_as_the_reference_encodes_them(
    local_catalogue, catalogue
):
    catalogue.search(
        TOC,
        start=dt.date(2022, 2, 1),
        end=dt.datetime(2022, 3, 1, 10, 11, 12),
        bbox=[4.1, 50.0, 5.5, 51.0],
        cloudCover=(None, 60),
        relativeOrbitNumber=51,
        publicationDate=(dt.date(2022, 1, 1), None),
    )
    sent = _last_query(local_catalogue)
    assert sent["collection"] == [TOC]
    assert sent["start"] == ["2022-02-01"]
    assert sent["end"] == ["2022-03-01T10:11:12Z"]
    assert sent["bbox"] == ["4.1,50.0,5.5,51.0"]
    assert sent["cloudCover"] == ["60]"]
    assert sent["relativeOrbitNumber"] == ["51"]
    assert sent["publicationDate"] == ["[2022-01-01"]
    catalogue.search(S1, geometry=shapely.box(4, 50, 5, 51), cloudCover=(1.0, 78), limit=1)
    sent = _last_query(local_catalogue)
    assert sent["cloudCover"] == ["[1.0,78]"]
    assert shapely.from_wkt(sent["geometry"][0]).equals(shapely.box(4, 50, 5, 51))


def test_a_multi_page_search_is_complete_and_in_catalogue_order(local_catalogue, catalogue):
    expected = _store_ids(local_catalogue, TOC, lambda f: _tile(f) == "31UES")
    df = catalogue.search(TOC, tileId="31UES", count=37)
    assert len(expected) > 5 * 37
    assert list(df["id"]) == expected
    pages = [r for r in local_catalogue.app.requests if "count=37" in r]
    assert len(pages) == -(-len(expected) // 37)


def test_limit_stops_early(local_catalogue, catalogue):
    expected = _store_ids(local_catalogue, NDVI)[:15]
    assert list(catalogue.search(NDVI, limit=15)["id"]) == expected
    assert [p.id for p in catalogue.get_products(NDVI, limit=15)] == expected
    assert len(catalogue.search(NDVI, limit=0)) == 0


def test_counts_equal_lengths(catalogue):
    query = {"start": "2021-06-01", "end": "2021-08-31", "cloudCover": 50}
    assert catalogue.count(TOC, **query) == len(catalogue.search(TOC, **query)) > 0
    assert catalogue.get_product_count(S1) == len(catalogue.search(S1))


def test_search_matching_nothing_gives_an_empty_frame(catalogue):
    df = catalogue.search(TOC, bbox=[100, 10, 101, 11])
    assert len(df) == 0 and isinstance(df, geopandas.GeoDataFrame)
    assert {"id", "beginningDateTime", "geometry"} <= set(df.columns)


def test_the_frame_queries_like_any_table(catalogue):
    df = catalogue.search(S1, start="2021-01-01", end="2021-03-31")
    descending = df.query("orbitDirection == 'DESCENDING' and relativeOrbitNumber == 110")
    assert len(descending) > 0
    assert set(descending["orbitDirection"]) == {"DESCENDING"}


def test_module_level_functions_take_a_catalogue(catalogue):
    assert terracat.count(NDVI, catalogue=catalogue, tileId="31UFS") == len(
        terracat.search(NDVI, catalogue=catalogue, tileId="31UFS")
    )
    collections = terracat.collections(catalogue=catalogue)
    assert set(collections["id"]) == {TOC, NDVI, S1}


def test_default_catalogue_is_terrascope_and_reused():
    assert terracat.catalogue.default_catalogue() is terracat.catalogue.default_catalogue()
    assert (
        terracat.catalogue.default_catalogue().config.catalogue_url
        == "https://services.terrascope.be/catalogue/"
    )


# ---- depth ------------------------------------------------------------------------------------


def test_get_products_raises_too_many_results_lazily(shallow):
    catalogue = Catalogue(shallow.config())
    before = len(shallow.app.requests)
    products = catalogue.get_products(TOC)
    assert len(shallow.app.requests) == before  # nothing requested yet
    with pytest.raises(TooManyResultsException, match="Too many results"):
        next(products)


def test_get_products_within_the_depth_pages_to_the_end(shallow):
    """The deepest whole page (101-200 of a 250-deep catalogue) bounds a client, as in the reference."""
    catalogue = Catalogue(shallow.config())
    expected = _store_ids(shallow, TOC)[:200]
    assert [p.id for p in catalogue.get_products(TOC, limit=200)] == expected
    with pytest.raises(TooManyResultsException):
        next(catalogue.get_products(TOC, limit=201))


def test_search_past_the_depth_raises_unless_split(shallow):
    catalogue = Catalogue(shallow.config())
    with pytest.raises(TooManyResultsException, match="split=True"):
        catalogue.search(TOC, start="2021-01-01", end="2021-12-31")


@pytest.mark.parametrize(
    "window", [{}, {"start": "2021-01-01", "end": "2021-12-31"}, {"tileId": "31UFS"}]
)
def test_split_search_gets_exactly_the_catalogue_ids(shallow, window):
    catalogue = Catalogue(shallow.config())
    full = shallow.store.collections[TOC].products
    if "start" in window:
        expected = {
            f["id"] for f in full if "2021-01-01" <= f["properties"]["date"][:10] <= "2021-12-31"
        }
    elif "tileId" in window:
        expected = {f["id"] for f in full if _tile(f) == "31UFS"}
    else:
        expected = {f["id"] for f in full}
    df = catalogue.search(TOC, split=True, **window)
    assert len(expected) > 250
    assert df["id"].is_unique
    assert set(df["id"]) == expected


# ---- errors ---------------------------------------------------------------------------------


def test_search_exception_carries_the_catalogue_exception_text(catalogue):
    with pytest.raises(SearchException) as caught:
        catalogue.search(TOC, sortKeys="colour,,1")
    error = caught.value
    assert error.response.status_code == 400
    assert error.search_exceptions[0]["locator"] == "sortKeys"
    assert str(error).startswith("sortKeys - cannot sort on 'colour'")


def test_unknown_collection_is_a_search_exception(catalogue):
    with pytest.raises(SearchException, match="collection - Unknown collection"):
        catalogue.search("urn:eop:VITO:NOPE")


def test_bad_parameters_fail_before_any_request(local_catalogue, catalogue):
    before = len(local_catalogue.app.requests)
    with pytest.raises(terracat.ParameterParserException, match="bbox"):
        catalogue.search(TOC, bbox=[4, 50, 5])
    with pytest.raises(terracat.ParameterParserException, match="limit"):
        catalogue.get_products(TOC, limit=-1)
    assert len(local_catalogue.app.requests) == before


def test_unreachable_catalogue_is_a_search_exception():
    config = terracat.CatalogueConfig.from_url("http://127.0.0.1:9/")
    config.retries = 0
    with pytest.raises(SearchException, match="no answer"):
        Catalogue(config).search(TOC)


def test_transient_errors_and_throttling_are_retried(local_catalogue, catalogue, faults):
    expected = _store_ids(local_catalogue, S1)[:120]
    faults.set(error_burst=2, routes={"products"})
    assert list(catalogue.search(S1, limit=120)["id"]) == expected
    faults.set(throttle_burst=2, retry_after=0, routes={"products"})
    assert list(catalogue.search(S1, limit=120)["id"]) == expected
    assert faults.injected["throttle"] == 2


def test_retry_after_is_honoured(local_catalogue, catalogue, faults):
    faults.set(throttle_burst=1, retry_after=1, routes={"products"})
    began = time.monotonic()
    assert len(catalogue.search(S1, limit=10)) == 10
    assert time.monotonic() - began >= 1.0


def test_persistent_errors_end_in_a_search_exception(local_catalogue, faults):
    config = local_catalogue.config()
    config.retries = 1
    faults.set(error_rate=1.0, routes={"products"})
    with pytest.raises(SearchException, match="503"):
        Catalogue(config).search(S1)


# ---- views ----------------------------------------------------------------------------------


def test_products_are_views_with_the_documented_attributes(local_catalogue, catalogue):
    product = next(iter(catalogue.get_products(TOC, tileId="31UES")))
    feature = next(
        f for f in local_catalogue.store.collections[TOC].products if _tile(f) == "31UES"
    )
    assert isinstance(product, Product)
    assert str(product) == product.id == feature["id"]
    assert product.title == feature["properties"]["title"]
    assert product.beginningDateTime == dt.datetime.fromisoformat(
        feature["properties"]["date"][:19]
    )
    assert product.beginningDateTime.tzinfo is None
    assert product.geometry.equals(shapely.geometry.shape(feature["geometry"]))
    assert product.bbox == pytest.approx(feature["bbox"])
    assert set(product.properties) == set(feature["properties"])
    assert product.geojson["properties"] == product.properties
    first = product.data[0]
    assert isinstance(first, ProductFile)
    assert (
        first.href
        == f"{local_catalogue.url}{feature['properties']['links']['data'][0]['href'][1:]}"
    )
    assert first.length == feature["properties"]["links"]["data"][0]["length"]
    assert len(product.related) and len(product.previews) and len(product.alternates)


def test_frame_views_equal_lazy_views(catalogue):
    df = catalogue.search(NDVI, tileId="31UGS", limit=30)
    from_frame = list(df.terracat.products())
    lazy = list(catalogue.get_products(NDVI, tileId="31UGS", limit=30))
    assert [p.id for p in from_frame] == [p.id for p in lazy]
    assert all(
        a.properties == b.properties and a.data == b.data
        for a, b in zip(from_frame, lazy, strict=True)
    )


def test_get_products_fetches_page_by_page(local_catalogue, catalogue):
    before = len(local_catalogue.app.requests)
    products = catalogue.get_products(TOC, count=20)
    for _ in range(5):
        next(products)
    assert (
        len(local_catalogue.app.requests) - before <= 2
    )  # the first page, and the next prefetched
    products.close()


def test_pages_are_not_fetched_far_ahead_of_their_parsing(local_catalogue, catalogue):
    """Pages fetched faster than they are parsed wait in memory: at most 2 x workers of them."""
    pages = catalogue.backend._pages("products", {"collection": TOC, "count": "5"}, 200)
    before = len(local_catalogue.app.requests)
    ahead = []

    def slow_parse(features):
        time.sleep(0.02)
        ahead.append(len(local_catalogue.app.requests) - before - len(ahead))

    pages.collect(slow_parse)
    assert len(ahead) > 6 * pages.workers  # long enough for the fetches to run away
    assert max(ahead) <= 2 * pages.workers + 1  # fetched, not yet parsed (the first page too)


def test_collections_are_views(catalogue):
    collections = {c.id: c for c in catalogue.get_collections()}
    assert set(collections) == {TOC, NDVI, S1}
    assert str(collections[TOC]) == TOC
    assert collections[TOC].properties["title"].startswith("Sentinel-2")
    assert [c.id for c in catalogue.get_collections(platform="SENTINEL-1")] == [S1]


def test_accessor_refuses_frames_that_are_not_product_frames():
    with pytest.raises(AttributeError, match="not a terracat product frame"):
        pd.DataFrame({"a": [1]}).terracat  # noqa: B018


# ---- GeoParquet -----------------------------------------------------------------------------


def test_parquet_round_trip_keeps_every_column_and_every_view(tmp_path, catalogue):
    df = catalogue.search(TOC, tileId="31UFT", start="2022-01-01", end="2022-03-31")
    path = tmp_path / "toc.parquet"
    df.to_parquet(path)
    back = terracat.read_parquet(path)
    assert_geodataframe_equal(back, df, check_like=False)
    assert back.attrs["terracat"]["query"]["tileId"] == "31UFT"
    for before, after in zip(df.terracat.products(), back.terracat.products(), strict=True):
        assert (before.id, before.title, before.beginningDateTime) == (
            after.id,
            after.title,
            after.beginningDateTime,
        )
        assert before.properties == after.properties and before.data == after.data
        assert before.geometry.equals(after.geometry)


def test_parquet_is_geoparquet_with_file_lists_as_structs(tmp_path, catalogue):
    import pyarrow.parquet as pq

    catalogue.search(NDVI, limit=5).to_parquet(tmp_path / "p.parquet")
    table = pq.read_table(tmp_path / "p.parquet")
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["primary_column"] == "geometry"
    data_type = table.schema.field("data").type
    assert str(data_type).startswith("list<") and "struct<" in str(data_type)


def test_a_parquet_export_can_be_served_as_a_catalogue(tmp_path, catalogue):
    from terracat.server import load_parquet_store

    df = catalogue.search(S1, start="2022-06-01", end="2022-06-30")
    df.to_parquet(tmp_path / "s1.parquet")
    with LocalCatalogue(load_parquet_store(tmp_path / "s1.parquet")) as served:
        again = Catalogue(served.config()).search(S1)
        assert list(again["id"]) == list(df["id"])
        assert again["data"].iloc[0][0]["href"].startswith(served.url)


def test_totals_that_change_between_pages_lose_no_product(local_catalogue, catalogue, faults):
    expected = _store_ids(local_catalogue, S1)
    faults.set(total_jitter=7, seed=11, routes={"products"})
    for _ in range(3):
        assert list(catalogue.search(S1, count=50)["id"]) == expected


@pytest.mark.parametrize("count", [0, -5, "many"])
def test_a_bad_page_size_is_refused(catalogue, count):
    with pytest.raises(terracat.ParameterParserException, match="count"):
        catalogue.search(S1, count=count)


def test_pages_cut_mid_body_are_fetched_again(local_catalogue, catalogue, faults):
    expected = _store_ids(local_catalogue, S1)[:300]
    faults.set(cut_burst=2, cut_fraction=0.3, routes={"products"})
    assert list(catalogue.search(S1, limit=300)["id"]) == expected
    assert faults.injected["cut"] == 2


def test_a_page_that_is_always_cut_ends_in_a_search_exception(local_catalogue, faults):
    config = local_catalogue.config()
    config.retries = 1
    faults.set(cut_rate=1.0, routes={"products"})
    with pytest.raises(SearchException, match="no answer"):
        Catalogue(config).search(S1, limit=10)


def test_tls_is_verified_unless_the_configuration_says_otherwise(tmp_path):
    assert Catalogue()._session.verify is True
    ini = tmp_path / "insecure.ini"
    ini.write_text("[HTTP]\nVerifyTLS = false\n")
    insecure = Catalogue(terracat.CatalogueConfig.from_file(ini))
    assert insecure._session.verify is False
    assert insecure._download_session().verify is False
