"""The demo store: deterministic, realistic, and shaped like the real catalogue's answers."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import Point, shape

from terracat.exceptions import ConfigurationException
from terracat.server.demo import (
    DEFAULT_SIZE_SCALE,
    NDVI_COLLECTION,
    SIGMA0_COLLECTION,
    TOC_COLLECTION,
    build_demo_collections,
)
from terracat.server.store import CollectionEntry

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real"
BELGIUM = shapely.box(2.5, 49.5, 6.4, 51.5)
BRUSSELS = Point(4.35, 50.85)
TILES = {"31UDS", "31UES", "31UFS", "31UGS", "31UDR", "31UER", "31UFR", "31UFT", "31UET"}
FILE_KINDS = ("data", "related", "previews", "alternates")
LINK_KEYS = {"href", "length", "title", "type", "category", "conformsTo"}


@pytest.fixture(scope="module")
def demo() -> dict[str, CollectionEntry]:
    return {entry.id: entry for entry in build_demo_collections()}


@pytest.fixture(scope="module")
def products(demo: dict[str, CollectionEntry]) -> list[dict[str, Any]]:
    return [p for entry in demo.values() for p in entry.products]


@pytest.fixture(scope="module")
def real_product() -> dict[str, Any]:
    page = json.loads((FIXTURES / "products_s2_fapar.json").read_text())
    return page["features"][0]


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _acquisition(product: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in product["properties"]["acquisitionInformation"]:
        for section in block.values():
            merged.update(section)
    return merged


def _files(product: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for kind in FILE_KINDS:
        yield from product["properties"]["links"][kind]


# ---- the store as a whole ----------------------------------------------------------------------


def test_the_same_arguments_build_the_same_store(demo):
    again = {entry.id: entry for entry in build_demo_collections(DEFAULT_SIZE_SCALE)}
    assert again.keys() == demo.keys()
    for collection, entry in demo.items():
        assert again[collection].feature == entry.feature
        assert again[collection].products == entry.products
        assert again[collection].protected == entry.protected


def test_three_collections_and_only_toc_needs_a_login(demo):
    assert list(demo) == [TOC_COLLECTION, NDVI_COLLECTION, SIGMA0_COLLECTION]
    assert {c: e.protected for c, e in demo.items()} == {
        TOC_COLLECTION: True,
        NDVI_COLLECTION: False,
        SIGMA0_COLLECTION: False,
    }


def test_each_collection_has_thousands_of_products(demo):
    assert 3000 <= len(demo[TOC_COLLECTION].products) <= 6000
    assert len(demo[NDVI_COLLECTION].products) == len(demo[TOC_COLLECTION].products)
    assert 1000 <= len(demo[SIGMA0_COLLECTION].products) <= 3000


def test_ndvi_has_one_product_per_toc_acquisition(demo):
    def acquisitions(collection: str) -> list[tuple[Any, ...]]:
        return sorted(
            (a["platformSerialIdentifier"], a["beginningDateTime"], a["tileId"])
            for a in map(_acquisition, demo[collection].products)
        )

    assert acquisitions(NDVI_COLLECTION) == acquisitions(TOC_COLLECTION)

    def clouds(collection: str) -> dict[tuple[str, str], float]:
        return {
            (_acquisition(p)["beginningDateTime"], _acquisition(p)["tileId"]): p["properties"][
                "productInformation"
            ]["cloudCover"]
            for p in demo[collection].products
        }

    assert clouds(NDVI_COLLECTION) == clouds(TOC_COLLECTION)  # the same sky


def test_ids_and_hrefs_are_unique_across_the_store(products):
    ids = [p["id"] for p in products]
    assert len(ids) == len(set(ids))
    hrefs = [f["href"] for p in products for f in _files(p)]
    assert len(hrefs) == len(set(hrefs))


def test_products_are_sorted_by_beginning_then_id(demo):
    for entry in demo.values():
        keys = [(_acquisition(p)["beginningDateTime"], p["id"]) for p in entry.products]
        assert keys == sorted(keys)


# ---- the shape of a product --------------------------------------------------------------------


def test_products_have_the_real_feature_shape(products, real_product):
    real_sections = set(real_product["properties"])
    for product in products:
        assert set(product) == set(real_product)
        assert set(product["properties"]) == real_sections
        assert set(product["properties"]["links"]) == set(FILE_KINDS)
        first, second = product["properties"]["acquisitionInformation"]
        assert set(first) == {"platform", "instrument"}
        assert set(second) == {"acquisitionParameters"}


def test_identifiers_name_the_collection_and_the_title(demo):
    for collection, entry in demo.items():
        for product in entry.products:
            properties = product["properties"]
            assert product["id"] == f"{collection}:{properties['title']}"
            assert properties["identifier"] == product["id"]
            assert properties["parentIdentifier"] == collection
            assert properties["status"] == "ARCHIVED"


def test_files_are_served_under_download_with_a_positive_length(products):
    for product in products:
        title = product["properties"]["title"]
        for link in _files(product):
            assert set(link) <= LINK_KEYS
            assert link["href"].startswith("/download/")
            assert f"/{title}/" in link["href"]
            assert type(link["length"]) is int and link["length"] > 0
            assert link["type"]


def test_file_lists_are_those_of_terrascope(demo):
    toc = demo[TOC_COLLECTION].products[0]["properties"]["links"]
    assert {f["title"] for f in toc["data"]} >= {
        f"TOC-{band}" for band in ("B02_10M", "B03_10M", "B04_10M", "B08_10M", "B11_20M")
    }
    assert {f["category"] for f in toc["related"]} == {"QUALITY", "CLOUD"}
    assert "SCENECLASSIFICATION_20M" in {f["title"] for f in toc["related"]}
    assert [f["category"] for f in toc["previews"]] == ["QUICKLOOK"]
    assert [f["title"] for f in toc["alternates"]] == ["Inspire metadata"]
    assert toc["alternates"][0]["type"] == "application/vnd.iso.19139+xml"
    ndvi = demo[NDVI_COLLECTION].products[0]["properties"]["links"]
    assert [f["title"] for f in ndvi["data"]] == ["NDVI_10M"]
    sigma0 = demo[SIGMA0_COLLECTION].products[0]["properties"]["links"]
    assert [f["title"] for f in sigma0["data"]] == ["VV", "VH", "angle"]


def test_lengths_follow_the_size_scale(demo):
    real = build_demo_collections(1.0)
    tenfold = build_demo_collections(DEFAULT_SIZE_SCALE * 10)
    for small, large, full in zip(demo.values(), tenfold, real, strict=True):
        for p_small, p_large, p_full in zip(
            small.products, large.products, full.products, strict=True
        ):
            for f_small, f_large, f_full in zip(
                _files(p_small), _files(p_large), _files(p_full), strict=True
            ):
                assert f_small["href"] == f_large["href"] == f_full["href"]
                assert abs(f_large["length"] - 10 * f_small["length"]) <= 6
                # the same size scaled, give or take rounding the full size first
                scaled = max(1, round(f_full["length"] * DEFAULT_SIZE_SCALE))
                assert abs(f_small["length"] - scaled) <= 1
    sizes = defaultdict(list)  # realistic sizes of files of fully covered products
    for entry in real:
        for product in entry.products:
            if product["properties"]["additionalAttributes"].get("missingDataPercentage"):
                continue
            for link in _files(product):
                sizes[link.get("title") or link["category"]].append(link["length"])
    expected = {
        "TOC-B04_10M": (40e6, 200e6),
        "TOC-B11_20M": (10e6, 60e6),
        "NDVI_10M": (40e6, 200e6),
        "VV": (300e6, 2e9),
        "Inspire metadata": (20e3, 50e3),
        "QUICKLOOK": (50e3, 1.2e6),
    }
    for title, (low, high) in expected.items():
        assert low < min(sizes[title]) <= max(sizes[title]) < high, title


def test_a_size_scale_that_is_not_a_positive_number_is_refused():
    for bad in (0, -1e-4, float("nan"), float("inf")):
        with pytest.raises(ConfigurationException, match="size_scale"):
            build_demo_collections(bad)


# ---- time --------------------------------------------------------------------------------------


def test_acquisitions_fall_in_2020_to_2022(products):
    for product in products:
        acquisition = _acquisition(product)
        begin = _instant(acquisition["beginningDateTime"])
        assert (
            dt.datetime(2020, 1, 1, tzinfo=dt.UTC) <= begin < dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
        )
        assert product["properties"]["date"] == acquisition["beginningDateTime"]
        assert _instant(acquisition["endingDateTime"]) >= begin


def test_publication_follows_the_acquisition_by_one_to_three_days(products):
    for product in products:
        properties = product["properties"]
        begin = _instant(properties["date"])
        published = _instant(properties["published"])
        assert dt.timedelta(days=1) <= published - begin <= dt.timedelta(days=3)
        assert _instant(properties["updated"]) >= published
        assert properties["updated"] >= properties["published"]  # as strings too
        assert properties["available"] == properties["productInformation"]["availabilityTime"]


def test_sentinel_2_follows_the_real_orbit_pattern(demo):
    for product in demo[TOC_COLLECTION].products:
        a = _acquisition(product)
        assert a["orbitDirection"] == "DESCENDING"
        assert a["relativeOrbitNumber"] in (8, 51, 94)
        offset = {"S2A": 2, "S2B": -27}[a["platformSerialIdentifier"]]
        assert (a["orbitNumber"] + offset) % 143 + 1 == a["relativeOrbitNumber"]
        assert dt.time(10, 35) <= _instant(a["beginningDateTime"]).time() <= dt.time(11, 3)
    days = defaultdict(set)
    for product in demo[TOC_COLLECTION].products:
        a = _acquisition(product)
        days[(a["platformSerialIdentifier"], a["relativeOrbitNumber"])].add(
            _instant(a["beginningDateTime"]).date()
        )
    for dates in days.values():
        ordered = sorted(dates)
        assert {(b - a).days for a, b in itertools.pairwise(ordered)} == {10}
    r051 = sorted(days[("S2A", 51)] | days[("S2B", 51)])
    assert {(b - a).days for a, b in itertools.pairwise(r051)} == {5}


def test_sentinel_1_follows_the_real_orbit_pattern(demo):
    hours = {
        "ASCENDING": (dt.time(17, 20), dt.time(17, 35)),
        "DESCENDING": (dt.time(5, 45), dt.time(6, 5)),
    }
    for product in demo[SIGMA0_COLLECTION].products:
        a = _acquisition(product)
        assert (
            a["relativeOrbitNumber"]
            in {"ASCENDING": (88, 161), "DESCENDING": (37, 110)}[a["orbitDirection"]]
        )
        offset = {"S1A": -73, "S1B": -27}[a["platformSerialIdentifier"]]
        assert (a["orbitNumber"] + offset) % 175 + 1 == a["relativeOrbitNumber"]
        begin, end = _instant(a["beginningDateTime"]), _instant(a["endingDateTime"])
        assert hours[a["orbitDirection"]][0] <= begin.time() <= hours[a["orbitDirection"]][1]
        assert end - begin == dt.timedelta(seconds=25)
        assert (a["polarisationMode"], a["polarisationChannels"]) == ("D", "VV, VH")
        assert "IW" in (a.get("sensorMode"), a.get("operationalMode"))
        assert "cloudCover" not in product["properties"]["productInformation"]


def test_sentinel_1b_is_absent_after_its_failure(demo):
    last = dt.datetime(2021, 12, 24, tzinfo=dt.UTC)
    platforms = Counter(
        _acquisition(p)["platformSerialIdentifier"] for p in demo[SIGMA0_COLLECTION].products
    )
    assert platforms["S1A"] > platforms["S1B"] > 0
    for product in demo[SIGMA0_COLLECTION].products:
        a = _acquisition(product)
        if a["platformSerialIdentifier"] == "S1B":
            assert _instant(a["beginningDateTime"]) < last


def test_products_of_one_datatake_share_a_group_id(demo):
    for collection in (TOC_COLLECTION, NDVI_COLLECTION, SIGMA0_COLLECTION):
        passes, groups = defaultdict(set), defaultdict(set)
        for product in demo[collection].products:
            a = _acquisition(product)
            flown = (a["platformSerialIdentifier"], a["orbitNumber"])
            group = product["properties"]["productInformation"]["productGroupId"]
            assert group.startswith(a["platformSerialIdentifier"] + "_")
            passes[group].add(flown)
            groups[flown].add(group)
        assert all(len(flown) == 1 for flown in passes.values())
        assert all(len(group) == 1 for group in groups.values())
        assert len(groups) < len(demo[collection].products)


# ---- Sentinel-2 content ------------------------------------------------------------------------


def test_tiles_are_the_mgrs_tiles_over_belgium(demo):
    for collection in (TOC_COLLECTION, NDVI_COLLECTION):
        tiles = {_acquisition(p)["tileId"] for p in demo[collection].products}
        assert tiles == TILES


def test_cloud_cover_is_always_there_and_both_clear_and_cloudy(demo):
    for collection in (TOC_COLLECTION, NDVI_COLLECTION):
        covers = [
            p["properties"]["productInformation"]["cloudCover"] for p in demo[collection].products
        ]
        assert all(isinstance(c, float) and 0 <= c <= 100 for c in covers)
        assert all(round(c, 3) == c for c in covers)
        clear = sum(c < 10 for c in covers) / len(covers)
        cloudy = sum(c > 90 for c in covers) / len(covers)
        assert 0.1 < clear < 0.4 and 0.1 < cloudy < 0.4


def test_swath_edges_leave_tiles_partly_covered(demo):
    tiles = {
        p["properties"]["title"]: _acquisition(p)["tileId"] for p in demo[TOC_COLLECTION].products
    }
    areas = {
        p["properties"]["title"]: shape(p["geometry"]).area for p in demo[TOC_COLLECTION].products
    }
    whole = defaultdict(float)
    for title, area in areas.items():
        whole[tiles[title]] = max(whole[tiles[title]], area)
    partial = 0
    for product in demo[TOC_COLLECTION].products:
        missing = product["properties"]["additionalAttributes"]["missingDataPercentage"]
        assert isinstance(missing, int) and 0 <= missing < 100
        title = product["properties"]["title"]
        # the footprint is the covered part of the tile
        assert areas[title] / whole[tiles[title]] == pytest.approx(1 - missing / 100, abs=0.02)
        partial += missing > 0
    assert 0.2 < partial / len(demo[TOC_COLLECTION].products) < 0.8


def test_brussels_lies_in_tile_31ues_only(demo):
    containing = {
        _acquisition(p)["tileId"]
        for p in demo[TOC_COLLECTION].products
        if shape(p["geometry"]).contains(BRUSSELS)
    }
    assert containing == {"31UES"}


def test_tile_footprints_are_the_real_mgrs_squares(demo):
    # Terrascope's own footprints of S2A_20171102T105211_31UFS_FAPAR_10M_V210 (the corners off
    # its swath edge) and of S2B_20180814T105019_31UES_TOC_V200
    corners = {
        "31UFS": [(4.4388768, 51.4423523), (4.4087151, 50.4552722), (6.017025, 51.4123427)],
        "31UES": [
            (2.9997122, 51.4511822),
            (2.9997182, 50.4637984),
            (4.5464364, 50.4535233),
            (4.579544, 51.4405412),
        ],
    }
    for product in demo[TOC_COLLECTION].products:
        tile = _acquisition(product)["tileId"]
        if (
            tile in corners
            and product["properties"]["additionalAttributes"]["missingDataPercentage"] < 2
        ):
            ring = product["geometry"]["coordinates"][0]
            for x, y in corners[tile]:
                assert min(abs(x - u) + abs(y - v) for u, v in ring) < 1e-3


# ---- geometry ----------------------------------------------------------------------------------


def test_footprints_are_valid_closed_polygons_over_belgium(products):
    for product in products:
        geometry = product["geometry"]
        assert geometry["type"] == "Polygon"
        (ring,) = geometry["coordinates"]
        assert ring[0] == ring[-1] and len(ring) >= 4
        footprint = shape(geometry)
        assert footprint.is_valid and footprint.exterior.is_ccw
        assert footprint.intersects(BELGIUM)
        assert product["bbox"] == pytest.approx(list(footprint.bounds))


def test_sentinel_1_frames_are_about_250_by_170_km(demo):
    for product in demo[SIGMA0_COLLECTION].products[:200]:
        ring = product["geometry"]["coordinates"][0]
        (se, ne, nw, sw) = (Point(p) for p in ring[:4])

        # degrees to km at ~50.5 degrees north
        def km(a: Point, b: Point) -> float:
            return (((a.x - b.x) * 70.8) ** 2 + ((a.y - b.y) * 111.2) ** 2) ** 0.5

        assert 230 < km(sw, se) < 290 and 230 < km(nw, ne) < 290
        assert 150 < km(se, ne) < 190 and 150 < km(sw, nw) < 190


# ---- collections -------------------------------------------------------------------------------


def test_collections_have_the_real_collection_shape(demo):
    real = json.loads((FIXTURES / "collections.json").read_text())["features"][0]
    for collection, entry in demo.items():
        feature = entry.feature
        assert set(feature) == set(real)
        assert feature["id"] == feature["properties"]["identifier"] == collection
        assert {
            "title",
            "abstract",
            "date",
            "updated",
            "lang",
            "keyword",
            "publisher",
            "authors",
            "acquisitionInformation",
            "links",
            "productType",
        } <= set(feature["properties"])
        assert feature["properties"]["date"].endswith("Z/")
        assert "describedby" in feature["properties"]["links"]
        platforms = {
            b["platform"]["platformShortName"]
            for b in feature["properties"]["acquisitionInformation"]
        }
        assert platforms == {"SENTINEL-1" if collection == SIGMA0_COLLECTION else "SENTINEL-2"}


def test_collection_extent_spans_its_products(demo):
    for entry in demo.values():
        west, south, east, north = entry.feature["bbox"]
        for product in entry.products:
            w, s, e, n = product["bbox"]
            assert west <= w and south <= s and e <= east and n <= north
        assert shape(entry.feature["geometry"]).bounds == pytest.approx((west, south, east, north))
