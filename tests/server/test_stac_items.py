"""The store's products as STAC items and collections (terracat/server/stac_items.py).

The items must pass a STAC validator we did not write, with their extensions; look like
Terrascope's 2026 answers (the fixture's key sets); and describe exactly the products the
OpenSearch face serves (ids, times, footprints, files and sizes, fetched over HTTP).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest
import shapely.geometry

from terracat import Catalogue
from terracat.server import LocalCatalogue, load_parquet_store
from terracat.server.stac_items import (
    STAC_VERSION,
    item_properties_for_filter,
    stac_collection,
    stac_collection_id,
    stac_item,
)
from tests.conftest import FIXTURES, load_fixture

TOC = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"
NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
OFFLINE = FIXTURES.parents[1] / "stac-schemas" / "offline.py"
# Where our Sentinel-2 TOC items differ from Terrascope's by design: no titiler preview, no
# processing software or refining flag to report; every file of a protected collection needs a
# login on our server (as its downloads do today), so quicklook and metadata carry auth:refs too.
NOT_OURS = {"processing:software", "image_refining"}


def _root(local: LocalCatalogue) -> str:
    return f"{local.url}stac/"


def _discovery(local: LocalCatalogue) -> str:
    realm = local.settings.realm
    return f"{local.url}auth/realms/{realm}/.well-known/openid-configuration"


def _item(local: LocalCatalogue, feature: dict[str, Any], collection: str) -> dict[str, Any]:
    entry = local.store.collections[collection]
    return stac_item(feature, entry, _root(local), local.app._href, local.url, _discovery(local))


def _sample(local: LocalCatalogue, collection: str, n: int = 3) -> list[dict[str, Any]]:
    """First, middle and last products: deterministic, and few (MEP hrefs write files)."""
    products = local.store.collections[collection].products
    picks = sorted({0, len(products) // 2, len(products) - 1})[:n]
    return [_item(local, products[i], collection) for i in picks]


@pytest.fixture(scope="module")
def toc_item(local_catalogue: LocalCatalogue) -> dict[str, Any]:
    return _sample(local_catalogue, TOC, 1)[0]


@pytest.fixture(scope="module")
def fixture_item() -> dict[str, Any]:
    return load_fixture("stac/search_s2_toc_2026.json")["features"][0]


def _stac_validator(path: Path, *flags: str) -> list[dict[str, Any]]:
    """stac-validator (PyPI) run offline through the shared schemas, in its own process so its
    deprecation warning stays out of this test run."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(OFFLINE), "stac-validator", "validate", str(path), *flags],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    start = done.stdout.index("[")  # a JSON report, then a text summary
    report, _ = json.JSONDecoder().raw_decode(done.stdout[start:])
    return report


# ---- validators ---------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_demo_items_and_collections_pass_stac_validator_with_their_extensions(
    local_catalogue, tmp_path
):
    items = [item for c in (TOC, NDVI, S1) for item in _sample(local_catalogue, c)]
    page = tmp_path / "items.json"
    page.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    reports = _stac_validator(page, "--feature-collection")
    assert all(r["valid_stac"] for r in reports), [r.get("error_message") for r in reports]
    checked = {schema for r in reports for schema in r["schema"]}
    assert {url for item in items for url in item["stac_extensions"]} <= checked
    for collection in (TOC, NDVI, S1):
        path = tmp_path / f"{stac_collection_id(collection)}.json"
        path.write_text(
            json.dumps(stac_collection(local_catalogue.store.collections[collection], "http://x/"))
        )
        (report,) = _stac_validator(path)
        assert report["valid_stac"], report.get("error_message")


# ---- Terrascope's 2026 shape --------------------------------------------------------------------


def test_toc_items_list_terrascopes_extensions(toc_item, fixture_item):
    assert toc_item["stac_version"] == fixture_item["stac_version"] == STAC_VERSION
    assert toc_item["stac_extensions"] == fixture_item["stac_extensions"]


def test_toc_item_properties_are_terrascopes(toc_item, fixture_item):
    ours, theirs = set(toc_item["properties"]), set(fixture_item["properties"])
    assert ours <= theirs
    assert theirs - ours == NOT_OURS
    assert set(toc_item) == set(fixture_item)
    assert [link["rel"] for link in toc_item["links"]] == [
        link["rel"] for link in fixture_item["links"]
    ]


def test_toc_assets_are_keyed_by_band_and_shaped_as_terrascopes(toc_item, fixture_item):
    assert set(fixture_item["assets"]) - set(toc_item["assets"]) == {"preview"}
    assert set(toc_item["assets"]) <= set(fixture_item["assets"])
    for key, asset in toc_item["assets"].items():
        expected = set(fixture_item["assets"][key])
        if key in ("QUICKLOOK", "metadata"):
            expected |= {"auth:refs"}  # our server protects every file of the collection
        if key == "QUICKLOOK":
            expected -= {"proj:shape", "proj:transform"}  # no resolution in the store
        assert set(asset) == expected, key
        assert asset["roles"] == fixture_item["assets"][key]["roles"], key
        assert asset["title"] == key


def test_toc_properties_values(local_catalogue):
    products = local_catalogue.store.collections[TOC].products
    tile = next(p for p in products if "_31UFS_" in p["id"])
    properties = _item(local_catalogue, tile, TOC)["properties"]
    assert properties["grid:code"] == "MGRS-31UFS"
    assert (
        properties["mgrs:utm_zone"],
        properties["mgrs:latitude_band"],
        properties["mgrs:grid_square"],
    ) == (31, "U", "FS")
    assert properties["sat:orbit_state"] in ("ascending", "descending")
    assert properties["product:type"] == "TOC"
    assert properties["constellation"] == "sentinel-2"
    assert properties["platform"] in ("sentinel-2a", "sentinel-2b")
    assert properties["proj:code"] == "EPSG:32631"
    west, south, east, north = properties["proj:bbox"]
    assert (east - west, north - south) == (109800, 109800)  # the demo's tiles are whole


def test_sentinel1_items_have_their_own_assets_and_properties(local_catalogue):
    for item in _sample(local_catalogue, S1):
        assert list(item["assets"]) == ["VV", "VH", "angle", "QUICKLOOK", "metadata"]
        properties = item["properties"]
        assert properties["constellation"] == "sentinel-1"
        assert properties["sar:polarizations"] == ["VV", "VH"]
        assert properties["sar:instrument_mode"] == "IW"
        assert "grid:code" not in properties and "eo:cloud_cover" not in properties
        assert isinstance(properties["sat:relative_orbit"], int)
        assert not any(url.split("/")[-3] == "eo" for url in item["stac_extensions"])


# ---- the same products as the OpenSearch face ---------------------------------------------------


def _files_of(feature: dict[str, Any]) -> set[tuple[str, int]]:
    links = feature["properties"]["links"]
    return {(urlsplit(link["href"]).path, link["length"]) for kind in links for link in links[kind]}


@pytest.mark.parametrize("collection", [TOC, NDVI, S1])
def test_items_describe_the_products_the_opensearch_face_serves(local_catalogue, http, collection):
    answer = http.get(
        f"{local_catalogue.url}products",
        params={"collection": collection, "count": 5},
        timeout=10,
    ).json()
    stored = {f["id"]: f for f in local_catalogue.store.collections[collection].products}
    for feature in answer["features"]:
        item = _item(local_catalogue, stored[feature["id"]], collection)
        assert item["id"] == feature["id"].rsplit(":", 1)[-1]
        assert item["collection"] == stac_collection_id(collection)
        acquisition = feature["properties"]["acquisitionInformation"][1]["acquisitionParameters"]
        properties = item["properties"]
        assert properties["datetime"] == properties["start_datetime"]
        assert properties["start_datetime"] == acquisition["beginningDateTime"]
        assert properties["end_datetime"] == acquisition["endingDateTime"]
        assert shapely.geometry.shape(item["geometry"]).equals(
            shapely.geometry.shape(feature["geometry"])
        )
        assert item["bbox"] == pytest.approx(feature["bbox"])
        assets = {(urlsplit(a["href"]).path, a["file:size"]) for a in item["assets"].values()}
        assert assets == _files_of(feature)
        for asset in item["assets"].values():
            assert asset["href"].startswith(local_catalogue.url)


def test_local_alternates_are_materialised_files_of_the_right_size(toc_item):
    for asset in toc_item["assets"].values():
        href = asset["alternate"]["local"]["href"]
        assert href.startswith("file://")
        path = Path(url2pathname(urlsplit(href).path))
        assert path.stat().st_size == asset["file:size"]


def test_protected_items_name_the_identity_provider(local_catalogue, http, toc_item):
    (scheme,) = toc_item["properties"]["auth:schemes"].values()
    assert scheme["type"] == "openIdConnect"
    discovery = http.get(scheme["openIdConnectUrl"], timeout=10)
    assert discovery.status_code == 200 and "token_endpoint" in discovery.json()
    assert all(a["auth:refs"] == ["oidc"] for a in toc_item["assets"].values())
    for item in _sample(local_catalogue, NDVI, 1):
        assert "auth:schemes" not in item["properties"]
        assert not any("auth:refs" in a for a in item["assets"].values())
        assert not any("authentication" in url for url in item["stac_extensions"])


def test_every_product_of_the_demo_maps(local_catalogue):
    """Every stored product gives an item with unique id, its files, times and extensions."""

    def http_only(link: dict[str, Any], base: str, mode: str) -> dict[str, Any]:
        return {**link, "href": base.rstrip("/") + link["href"]}

    for collection, entry in local_catalogue.store.collections.items():
        ids = set()
        for feature in entry.products:
            item = stac_item(feature, entry, "http://x/stac/", http_only, "http://x/", "http://d")
            ids.add(item["id"])
            assert len(item["assets"]) == len(_files_of(feature))
            assert item["properties"]["start_datetime"] <= item["properties"]["end_datetime"]
            assert all("alternate" not in a for a in item["assets"].values())
        assert len(ids) == len(entry.products), collection


def test_filter_view_has_the_queryables(toc_item):
    view = item_properties_for_filter(toc_item)
    assert view["id"] == toc_item["id"] and view["collection"] == "terrascope-s2-toc-v2"
    assert view["eo:cloud_cover"] == toc_item["properties"]["eo:cloud_cover"]


# ---- collections --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("store_id", "stac_id"),
    [
        (TOC, "terrascope-s2-toc-v2"),
        (NDVI, "terrascope-s2-ndvi-v2"),
        (S1, "cgs-s1-grd-sigma0-l1"),
        ("my export", "my-export"),
    ],
)
def test_collection_ids_as_terrascope_names_them(store_id, stac_id):
    assert stac_collection_id(store_id) == stac_id


def test_collections_have_extents_summaries_and_protection(local_catalogue):
    for collection, entry in local_catalogue.store.collections.items():
        body = stac_collection(entry, _root(local_catalogue))
        assert body["id"] == stac_collection_id(collection)
        (interval,) = body["extent"]["temporal"]["interval"]
        items = _sample(local_catalogue, collection)
        for item in items:
            assert interval[0] <= item["properties"]["start_datetime"] <= interval[1]
            assert shapely.box(*body["extent"]["spatial"]["bbox"][0]).covers(
                shapely.box(*item["bbox"])
            )
        assert body["summaries"]["constellation"] == [items[0]["properties"]["constellation"]]
        assert ("_auth" in body) == entry.protected
        rels = {link["rel"]: link["href"] for link in body["links"]}
        assert rels["items"] == f"{_root(local_catalogue)}collections/{body['id']}/items"


# ---- a GeoParquet export served back ------------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_parquet_export_maps_to_the_same_items(local_catalogue, tmp_path):
    frame = Catalogue(local_catalogue.config()).search(S1, start="2022-06-01", end="2022-06-10")
    frame.to_parquet(tmp_path / "s1.parquet")
    (entry,) = load_parquet_store(tmp_path / "s1.parquet")
    stored = {f["id"]: f for f in local_catalogue.store.collections[S1].products}

    def http_only(link: dict[str, Any], base: str, mode: str) -> dict[str, Any]:
        return {**link, "href": base.rstrip("/") + link["href"]}

    demo = local_catalogue.store.collections[S1]
    for feature in entry.products:
        served = stac_item(feature, entry, "http://x/", http_only, "http://x/", "http://d")
        original = stac_item(stored[feature["id"]], demo, "http://x/", http_only, "http://x/", "d")
        assert served["id"] == original["id"] and served["collection"] == original["collection"]
        assert served["properties"]["datetime"] == original["properties"]["datetime"]
        assert served["assets"] == original["assets"]
        assert shapely.geometry.shape(served["geometry"]).equals_exact(
            shapely.geometry.shape(original["geometry"]), 1e-9
        )
