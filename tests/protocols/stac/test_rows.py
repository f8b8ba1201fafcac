"""STAC items into the frame contract: columns, OpenSearch aliases, file lists by asset roles,
local hrefs, views, and a GeoParquet round trip (terracat.protocols.stac.page/rows)."""

from __future__ import annotations

import copy
import json

import msgspec
import pandas as pd
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

import terracat
from terracat.exceptions import ParameterParserException
from terracat.frame import FILE_COLUMNS, features_frame
from terracat.frame.files import FILE_LIST_DTYPE
from terracat.products import collection_from_row, product_from_row, rows
from terracat.protocols.stac import StacDecoder, collections_frame, decode_stac_page
from terracat.protocols.stac.rows import file_kind, tile_id
from tests.conftest import load_fixture

REAL_2026 = "stac/search_s2_toc_2026.json"
REAL_2023 = ("stac/item_s2_toc_2023_36VVR.json", "stac/item_s2_toc_2023_38TLK.json")


def _page(items: list[dict], **counts) -> bytes:
    return json.dumps(
        {"type": "FeatureCollection", "features": items, "links": [], **counts}
    ).encode()


def _frame(body: bytes, href_mode: str = ""):
    page = decode_stac_page(body)
    return features_frame(page.features, decoder=StacDecoder(href_mode=href_mode))


def _items_2023() -> list[dict]:
    return [load_fixture(name) for name in REAL_2023]


def _assert_contract(frame) -> None:
    assert frame.crs == "EPSG:4326" and frame["id"].is_unique
    for name, dtype in {
        "id": "string",
        "title": "string",
        "collection": "string",
        "properties": "string",
        "beginningDateTime": "datetime64[ms, UTC]",
        "endingDateTime": "datetime64[ms, UTC]",
        "cloudCover": "float64",
        "tileId": "string",
        "relativeOrbitNumber": "Int64",
        "orbitDirection": "string",
    }.items():
        assert str(frame[name].dtype) == dtype, name
    for kind in FILE_COLUMNS:
        assert frame[kind].dtype == FILE_LIST_DTYPE, kind


def test_the_real_2026_search_page_becomes_a_contract_row():
    body = json.dumps(load_fixture(REAL_2026)).encode()
    page = decode_stac_page(body)
    assert (page.numberMatched, page.numberReturned) == (1, 1)
    frame = _frame(body)
    _assert_contract(frame)
    row = frame.iloc[0]
    assert row["id"] == row["title"] == "S2A_20240807T105031_31TCN_TOC_V220"
    assert row["collection"] == "terrascope-s2-toc-v2"
    assert row["beginningDateTime"] == pd.Timestamp("2024-08-07T10:50:31.024Z")
    assert (row["cloudCover"], row["eo:cloud_cover"]) == (55.19, 55.19)
    assert (row["tileId"], row["grid:code"]) == ("31TCN", "MGRS-31TCN")
    assert (row["relativeOrbitNumber"], row["orbitDirection"]) == (51, "DESCENDING")
    assert row["productType"] == "TOC" and row["sat:orbit_state"] == "descending"
    assert json.loads(row["properties"]) == load_fixture(REAL_2026)["features"][0]
    assets = load_fixture(REAL_2026)["features"][0]["assets"]
    entries = [entry for kind in FILE_COLUMNS for entry in row[kind]]
    assert sorted(e["category"] for e in entries) == sorted(assets)
    for entry in entries:
        asset = assets[entry["category"]]
        assert entry["href"] == asset["href"] and entry["length"] == asset.get("file:size")
        assert entry["title"] == asset.get("title", entry["category"])
        assert entry["type"] == asset.get("type")
    assert {e["category"] for e in row["alternates"]} == {"metadata"}


def test_the_real_2023_items_take_their_tile_from_mgrs_and_their_local_paths_for_mep():
    items = _items_2023()
    frame = _frame(_page(items))
    _assert_contract(frame)
    assert list(frame["tileId"]) == ["36VVR", "38TLK"]
    assert frame["cloudCover"].notna().all()
    first = frame.iloc[0]
    assert [e["category"] for e in first["previews"]] == [
        k for k, a in items[0]["assets"].items() if a.get("roles") == ["thumbnail"]
    ]
    assert all(e["href"].startswith("https://") for kind in FILE_COLUMNS for e in first[kind])
    local = _frame(_page(items), href_mode="MEP").iloc[0]
    for entry in local["data"]:
        path = items[0]["assets"][entry["category"]]["alternate"]["MEP"]["href"]
        assert entry["href"] == "file://" + path


def test_mep_takes_the_2026_alternate_local_hrefs():
    item = load_fixture(REAL_2026)["features"][0]
    row = _frame(_page([item]), href_mode="MEP").iloc[0]
    for kind in FILE_COLUMNS:
        for entry in row[kind]:
            asset = item["assets"][entry["category"]]
            expected = asset.get("alternate", {}).get("local", {}).get("href", asset["href"])
            assert entry["href"] == expected
    assert row["data"][0]["href"].startswith("file:///data/MTDA/")


def test_an_unknown_href_mode_is_a_parameter_error():
    with pytest.raises(ParameterParserException, match="href_mode"):
        StacDecoder(href_mode="local")


def test_the_local_catalogues_stac_items_become_contract_rows(local_catalogue):
    url = f"{local_catalogue.url}stac/search?collections=terrascope-s2-ndvi-v2&limit=50"
    answer = requests.get(url, timeout=30)
    answer.raise_for_status()
    page = decode_stac_page(answer.content)
    assert page.numberReturned == 50 and page.numberMatched >= 50
    assert any(link.get("rel") == "next" for link in page.links)
    frame = _frame(answer.content)
    _assert_contract(frame)
    assert len(frame) == 50 and (frame["collection"] == "terrascope-s2-ndvi-v2").all()
    assert frame["tileId"].str.fullmatch(r"\d\d[A-Z]{3}").all()
    assert frame["cloudCover"].notna().all() and frame["productType"].eq("NDVI").all()
    assert all(len(files) > 0 for files in frame["data"])
    assert all(e["length"] > 0 for files in frame["data"] for e in files)
    items = answer.json()["features"]
    assert [json.loads(text) for text in frame["properties"]] == items


def _earth_search_item(**changes) -> dict:
    """An item in the shape of Earth Search / the Data Space: s2:mgrs_tile and proj:*, no
    file:size, one asset without roles."""
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "S2B_31UFS_20230605_0_L2A",
        "collection": "sentinel-2-l2a",
        "bbox": [4.4, 50.4, 6.0, 51.4],
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[4.4, 50.4], [6.0, 50.4], [6.0, 51.4], [4.4, 51.4], [4.4, 50.4]]],
        },
        "properties": {
            "datetime": "2023-06-05T10:46:33.123000Z",
            "eo:cloud_cover": 3,
            "s2:mgrs_tile": "31UFS",
            "sat:orbit_state": "ascending",
            "proj:epsg": 32631,
            "instruments": ["msi"],
        },
        "links": [],
        "assets": {
            "B04": {"href": "s3://bucket/B04.jp2", "type": "image/jp2", "roles": ["data"]},
            "red": {"href": "https://host/B04.tif"},
            "thumbnail": {
                "href": "https://host/t.jpg",
                "type": "image/jpeg",
                "roles": ["thumbnail"],
            },
            "visual": {"href": "https://host/TCI.tif", "roles": ["visual"]},
            "granule_metadata": {"href": "https://host/MTD.xml", "roles": ["metadata"]},
            "cloud": {"href": "https://host/CLD.tif", "title": "Clouds", "roles": ["cloud"]},
        },
    }
    item.update(changes)
    return item


def test_earth_search_and_data_space_items_fill_the_same_columns():
    frame = _frame(_page([_earth_search_item()]))
    _assert_contract(frame)
    row = frame.iloc[0]
    assert row["title"] == row["id"]  # no properties.title
    assert (
        row["beginningDateTime"]
        == row["endingDateTime"]
        == pd.Timestamp("2023-06-05T10:46:33.123Z")
    )
    assert (row["tileId"], row["cloudCover"], row["orbitDirection"]) == ("31UFS", 3.0, "ASCENDING")
    assert row["proj:epsg"] == 32631 and "instruments" not in frame.columns
    kinds = {kind: [e["category"] for e in row[kind]] for kind in FILE_COLUMNS}
    assert kinds == {
        "data": ["B04", "red"],
        "related": ["cloud"],
        "previews": ["thumbnail", "visual"],
        "alternates": ["granule_metadata"],
    }
    assert all(e["length"] is None for kind in FILE_COLUMNS for e in row[kind])
    assert row["related"][0]["title"] == "Clouds" and row["data"][1]["title"] == "red"
    assert frame.query("cloudCover < 10 and tileId == '31UFS'").shape[0] == 1


def test_items_of_different_shapes_share_one_frame():
    odd = _earth_search_item(
        id="odd",
        properties={
            "datetime": None,
            "start_datetime": "2023-01-01T00:00:00Z",
            "end_datetime": "2023-01-02T00:00:00+01:00",
        },
        assets="nope",
    )
    frame = _frame(_page([load_fixture(REAL_2026)["features"][0], odd, *_items_2023()]))
    _assert_contract(frame)
    assert len(frame) == 4
    row = frame.set_index("id").loc["odd"]
    assert row["endingDateTime"] == pd.Timestamp("2023-01-01T23:00:00Z")
    assert all(len(row[kind]) == 0 for kind in FILE_COLUMNS) and pd.isna(row["tileId"])


def test_ill_typed_asset_members_are_cleaned_not_fatal():
    assets = {
        "a": {"href": "https://h/a", "file:size": 10.0, "title": 5, "roles": ["data", 3]},
        "b": {"href": 7, "type": None, "roles": "thumbnail", "alternate": "x"},
        "c": {"href": "https://h/c", "roles": [1, "metadata"], "alternate": {"local": 4}},
        "d": "not an asset",
    }
    row = _frame(_page([_earth_search_item(assets=assets)]), href_mode="MEP").iloc[0]
    assert list(row["data"]) == [
        {"href": "https://h/a", "length": 10, "title": "a", "type": None, "category": "a"},
        {"href": None, "length": None, "title": "b", "type": None, "category": "b"},
    ]
    assert [e["category"] for e in row["alternates"]] == ["c"]
    assert len(row["previews"]) == len(row["related"]) == 0


@pytest.mark.parametrize(
    ("properties", "tile"),
    [
        ({"grid:code": "MGRS-31UFS"}, "31UFS"),
        ({"mgrs:utm_zone": 5, "mgrs:latitude_band": "V", "mgrs:grid_square": "NK"}, "05VNK"),
        ({"s2:mgrs_tile": "36VVR"}, "36VVR"),
        ({"grid:code": "WRS2-198024"}, None),
        ({}, None),
    ],
)
def test_the_tile_is_read_wherever_the_item_holds_it(properties, tile):
    assert tile_id(properties) == tile


ROLES = st.lists(
    st.sampled_from(
        ["data", "overview", "thumbnail", "visual", "metadata", "cloud", "snow-ice", "x"]
    ),
    max_size=5,
)


@given(ROLES)
def test_an_assets_roles_choose_its_file_list_by_the_first_matching_rule(roles):
    kind = file_kind(roles)
    if not roles or "data" in roles:
        assert kind == "data"
    elif {"overview", "thumbnail", "visual"} & set(roles):
        assert kind == "previews"
    elif "metadata" in roles:
        assert kind == "alternates"
    else:
        assert kind == "related"


def test_a_malformed_page_is_a_decode_error():
    with pytest.raises(msgspec.ValidationError):
        decode_stac_page(b'{"features": [{"geometry": null}]}')  # an item without id
    with pytest.raises(msgspec.DecodeError):
        decode_stac_page(b'{"features": [')
    with pytest.raises(msgspec.DecodeError, match="UTF-8"):
        decode_stac_page(b'{"features": [{"id": "a", "x": "\xff"}]}')


def test_counts_come_from_the_page_or_the_context_extension():
    assert decode_stac_page(_page([])).numberMatched is None
    older = decode_stac_page(_page([], context={"matched": 12, "returned": 0, "limit": 10}))
    assert (older.numberMatched, older.numberReturned) == (12, 0)
    both = decode_stac_page(_page([], numberMatched=3, context={"matched": 12}))
    assert both.numberMatched == 3


def _views(frame):
    return [product_from_row(row) for row in rows(frame)]


def test_a_stac_rows_product_is_the_item():
    items = [load_fixture(REAL_2026)["features"][0], *_items_2023()]
    (product, *_) = _views(_frame(_page(copy.deepcopy(items))))
    assert product.geojson == items[0] and product.properties == items[0]["properties"]
    assert product.beginningDateTime.isoformat() == "2024-08-07T10:50:31.024000"
    assert product.title == product.id and product.bbox == pytest.approx(items[0]["bbox"])
    assert {f.category for f in product.files()} == set(items[0]["assets"])


def test_a_stac_frame_round_trips_through_geoparquet_with_the_same_views(tmp_path):
    items = [load_fixture(REAL_2026)["features"][0], *_items_2023(), _earth_search_item()]
    frame = _frame(_page(items))
    frame.to_parquet(tmp_path / "stac.parquet")
    back = terracat.read_parquet(tmp_path / "stac.parquet")
    for fresh, read in zip(_views(frame), _views(back), strict=True):
        assert read.geojson == fresh.geojson and read.properties == fresh.properties
        assert read.beginningDateTime == fresh.beginningDateTime
        assert read.files() == fresh.files()
    assert list(back["tileId"]) == list(frame["tileId"])


def test_stac_collections_become_a_frame_whose_views_are_the_collections(local_catalogue):
    answer = requests.get(f"{local_catalogue.url}stac/collections", timeout=30)
    collections = answer.json()["collections"] + [load_fixture("stac/collection_s2_toc_2023.json")]
    frame = collections_frame(collections)
    assert list(frame["id"]) == [c["id"] for c in collections]
    assert frame["id"].dtype == "string" and frame.crs == "EPSG:4326"
    for row, collection in zip(rows(frame), collections, strict=True):
        view = collection_from_row(row)
        assert view.geojson == collection and view.properties == collection
        assert view.bbox == pytest.approx(collection["extent"]["spatial"]["bbox"][0][:4])
        assert row.title == collection.get("title", collection["id"])


def test_the_stac_rows_describe_the_products_the_opensearch_face_serves(local_catalogue):
    url = (
        f"{local_catalogue.url}stac/search?collections=terrascope-s2-ndvi-v2&limit=500"
        "&datetime=2021-07-01T00:00:00Z/2021-07-16T00:00:00Z"
    )
    answer = requests.get(url, timeout=30)
    answer.raise_for_status()
    assert "next" not in {link.get("rel") for link in decode_stac_page(answer.content).links}
    stac = _frame(answer.content).set_index("title").sort_index()
    catalogue = terracat.Catalogue(local_catalogue.config())
    opensearch = catalogue.search(
        "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2", start="2021-07-01", end="2021-07-15"
    )
    # the OpenSearch ids are the STAC ids under the collection's urn; the titles are the same
    opensearch = opensearch.set_index("title").sort_index()
    assert len(stac) > 3 and list(stac.index) == list(opensearch.index)
    assert (opensearch["id"].str.rsplit(":", n=1).str[-1] == stac["id"]).all()
    for name in ("beginningDateTime", "endingDateTime", "cloudCover", "tileId"):
        pd.testing.assert_series_equal(stac[name], opensearch[name], check_names=False)
    for ours, theirs in zip(stac["data"], opensearch["data"], strict=True):
        assert sorted(e["length"] for e in ours) == sorted(e["length"] for e in theirs)
    assert all(
        a.equals_exact(b, 1e-7) for a, b in zip(stac.geometry, opensearch.geometry, strict=True)
    )
