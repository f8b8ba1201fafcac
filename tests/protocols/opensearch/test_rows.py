"""Pages -> frames: the column contract, on real Terrascope answers and on edge cases."""

from __future__ import annotations

import json
import sys

import msgspec
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terracat.frame import FILE_FIELDS, FrameBuilder, empty_frame, features_frame
from terracat.protocols.opensearch import OpenSearchDecoder, decode_page
from tests.conftest import FIXTURES, load_fixture


def _frame(page: dict) -> pd.DataFrame:
    return features_frame(
        decode_page(json.dumps(page).encode()).features, decoder=OpenSearchDecoder()
    )


def test_real_product_page_parses_into_the_contract():
    page = load_fixture("products_s2_fapar.json")
    df = _frame(page)
    feature = page["features"][0]
    row = df.iloc[0]
    assert df.crs.to_epsg() == 4326
    assert row["id"] == feature["id"]
    assert row["title"] == "S2A_20191128T075251Z_36MZE_FAPAR_10M_V102"
    assert row["collection"] == "urn:eop:VITO:TERRASCOPE_S2_FAPAR_V2"
    assert row["beginningDateTime"] == pd.Timestamp("2019-11-28T07:56:06Z")
    assert row["endingDateTime"] == pd.Timestamp("2019-11-28T08:14:37Z")
    assert row["published"] == pd.Timestamp("2020-01-31T14:58:33Z")
    # acquisition fields from both acquisitionInformation blocks
    assert (row["platformShortName"], row["platformSerialIdentifier"]) == ("SENTINEL-2", "S2A")
    assert row["tileId"] == "36MZE"
    # product and additional attributes
    assert row["cloudCover"] == pytest.approx(8.085)
    assert (row["productType"], row["productVersion"]) == ("FAPAR", "V102")
    assert (row["missingDataPercentage"], row["resolution"]) == (7, 10)
    # other scalar properties as they come
    assert row["status"] == "ARCHIVED"
    assert row["identifier"] == feature["properties"]["identifier"]
    # files
    assert [f["title"] for f in row["data"]] == ["FAPAR_10M"]
    assert row["data"][0]["length"] == 50631148
    assert {f["category"] for f in row["related"]} == {"QUALITY", "CLOUD"}
    assert len(row["previews"]) == 2 and row["alternates"][0]["title"] == "Inspire metadata"
    assert all(set(f) == set(FILE_FIELDS) for kind in ("data", "related") for f in row[kind])
    # lossless properties and the footprint
    assert json.loads(row["properties"]) == feature["properties"]
    assert list(row["geometry"].bounds) == pytest.approx(feature["bbox"])


def test_datetime_columns_are_utc_and_numbers_numeric():
    df = _frame(load_fixture("products_s2_fapar.json"))
    for name in (
        "beginningDateTime",
        "endingDateTime",
        "date",
        "published",
        "updated",
        "available",
    ):
        assert str(df[name].dtype) == "datetime64[ms, UTC]", name
    assert df["cloudCover"].dtype == "float64"
    assert df["resolution"].dtype == "Int64"
    assert df["tileId"].dtype == "string"


def test_real_collections_page_parses_one_row_per_collection():
    page = load_fixture("collections.json")
    df = _frame(page)
    assert list(df["id"]) == [f["id"] for f in page["features"]]
    assert list(df["title"]) == [f["properties"]["title"] for f in page["features"]]
    assert df.geometry.notna().all()


def test_missing_values_are_nulls_with_stable_dtypes():
    page = load_fixture("products_s2_fapar.json")
    first = page["features"][0]
    second = json.loads(json.dumps(first))
    second["id"] += "-2"
    del second["properties"]["productInformation"]["cloudCover"]
    second["properties"]["acquisitionInformation"][1]["acquisitionParameters"][
        "relativeOrbitNumber"
    ] = 8
    page["features"] = [first, second]
    df = _frame(page)
    assert df["cloudCover"].dtype == "float64" and pd.isna(df["cloudCover"].iloc[1])
    assert df["relativeOrbitNumber"].dtype == "Int64"
    assert df["relativeOrbitNumber"].isna().iloc[0] and df["relativeOrbitNumber"].iloc[1] == 8


def test_a_name_given_by_two_sections_keeps_the_first_and_prefixes_the_other():
    page = load_fixture("products_s2_fapar.json")
    properties = page["features"][0]["properties"]
    properties["productInformation"]["tileId"] = "not-the-tile"
    properties["additionalAttributes"]["cloudCover"] = 99
    df = _frame(page)
    assert df["tileId"].iloc[0] == "36MZE"
    assert df["productInformation_tileId"].iloc[0] == "not-the-tile"
    assert df["cloudCover"].iloc[0] == pytest.approx(8.085)
    assert df["additionalAttributes_cloudCover"].iloc[0] == 99


def test_a_feature_without_geometry_or_links_still_gets_a_row():
    page = {
        "type": "FeatureCollection",
        "totalResults": 1,
        "features": [
            {"type": "Feature", "id": "x", "geometry": None, "properties": {"title": "x"}}
        ],
    }
    df = _frame(page)
    assert len(df) == 1 and df.geometry.iloc[0] is None
    assert df["data"].iloc[0] == [] and df["collection"].isna().iloc[0]


def test_no_features_give_the_empty_contract_frame():
    df = features_frame([], decoder=OpenSearchDecoder())
    assert len(df) == 0
    assert list(df.columns) == list(empty_frame().columns)
    assert str(df["beginningDateTime"].dtype) == "datetime64[ms, UTC]"


@pytest.mark.parametrize(
    "body",
    [b"<html>502 Bad Gateway</html>", b'{"features": [{"id": 1}]', b'{"features": "none"}'],
)
def test_malformed_pages_fail_to_decode(body):
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        decode_page(body)


def test_fixtures_are_where_the_tests_expect_them():
    assert (FIXTURES / "products_s2_fapar.json").is_file()


def test_a_frame_built_in_chunks_equals_one_built_at_once():
    from geopandas.testing import assert_geodataframe_equal

    from terracat.frame import FrameBuilder

    page = load_fixture("products_s2_fapar.json")
    first = page["features"][0]
    features = []
    for number in range(25):
        clone = json.loads(json.dumps(first))
        clone["id"] += f"-{number}"
        information = clone["properties"]["productInformation"]
        if number < 12:  # the first chunks lack a column the later ones have, and vice versa
            del information["cloudCover"]
        else:
            information["orbitCategory"] = "late"
        features.append(clone)
    features.append(json.loads(json.dumps(features[3])))  # a repeat across chunks
    page["features"] = features
    decoded = decode_page(json.dumps(page).encode()).features
    builder = FrameBuilder(limit=24, chunk=5, batch=3, decoder=OpenSearchDecoder())
    for start in range(0, len(decoded), 4):
        builder.add(decoded[start : start + 4])
    chunked = builder.build()
    whole = FrameBuilder(limit=24, decoder=OpenSearchDecoder())
    whole.add(decoded)
    whole = whole.build()
    assert_geodataframe_equal(chunked, whole, check_like=True)  # middle columns by first sight
    assert chunked["cloudCover"].dtype == "float64" and chunked["orbitCategory"].dtype == "string"


def test_keys_learned_from_other_catalogues_add_no_empty_columns():
    other = load_fixture("products_s2_fapar.json")
    other["features"][0]["properties"]["someOtherCatalogueKey"] = "x"
    assert "someOtherCatalogueKey" in _frame(other).columns  # now learned by the decoder
    assert "someOtherCatalogueKey" not in _frame(load_fixture("products_s2_fapar.json")).columns


def test_a_frame_keeps_no_page_body_alive():
    body = json.dumps(load_fixture("products_s2_fapar.json")).encode()
    before = sys.getrefcount(body)
    frame = features_frame(decode_page(body).features, decoder=OpenSearchDecoder())
    assert len(frame) == 1
    assert sys.getrefcount(body) == before  # held, a body would stay in memory with its frame


def _reference_row(properties: dict) -> dict:
    """The column contract for one product, written plainly, key by key."""
    row = {"title": properties.get("title"), "collection": properties.get("parentIdentifier")}
    first = None
    for block in properties.get("acquisitionInformation", []):
        parameters = block.get("acquisitionParameters")
        if parameters and first is None:
            first = parameters
        for section in (parameters, block.get("platform"), block.get("instrument")):
            for key, value in (section or {}).items():
                row.setdefault(key, value)
    for name in ("productInformation", "additionalAttributes"):
        for key, value in (properties.get(name) or {}).items():
            row[f"{name}_{key}" if key in row else key] = value
    if first is not None:
        row["beginningDateTime"] = first.get("beginningDateTime")
        row["endingDateTime"] = first.get("endingDateTime")
    for key, value in properties.items():
        if key not in row and type(value) in (str, int, float, bool):
            row[key] = value
    return row


_value = st.one_of(st.none(), st.integers(-5, 5), st.sampled_from(["a", "b"]), st.just([1]))
_section = st.dictionaries(st.sampled_from(["tileId", "status", "title", "x"]), _value, max_size=3)
_block = st.fixed_dictionaries(
    {},
    optional={"acquisitionParameters": _section, "platform": _section, "instrument": _section},
)
_properties = st.fixed_dictionaries(
    {"title": st.sampled_from(["p", "q"]), "parentIdentifier": st.just("c")},
    optional={
        "acquisitionInformation": st.lists(_block, max_size=3),
        "productInformation": _section,
        "additionalAttributes": _section,
        "status": _value,
        "keywords": _value,
        "identifier": _value,
    },
)


@settings(max_examples=200, deadline=None)
@given(products=st.lists(_properties, min_size=1, max_size=6), same_layout=st.booleans())
def test_rows_by_column_follow_the_contract_key_by_key(products, same_layout):
    from terracat.protocols.opensearch.rows import _flatten, _page_values, decode_properties

    if same_layout:  # most pages: every product with the same keys
        products = [products[0]] * len(products)
    decoded = [decode_properties(json.dumps(p).encode()) for p in products]
    columns = _page_values([_flatten(p) for p in decoded], decoded)
    expected = [_reference_row(p) for p in products]
    assert set(columns) <= {name for row in expected for name in row}  # no column of nothing
    names = {name for row in expected for name in row if row[name] is not None}
    assert {n for n, values in columns.items() if any(v is not None for v in values)} == names
    for name in names:
        assert list(columns[name]) == [row.get(name) for row in expected], name


def test_a_key_learned_mid_page_leaves_the_products_before_it_alone():
    page = load_fixture("products_s2_fapar.json")
    first = page["features"][0]
    second = json.loads(json.dumps(first)) | {"id": "second"}
    second["properties"]["aKeyNoCatalogueSentBefore"] = "x"
    page["features"] = [first, second]
    df = _frame(page)
    assert df["aKeyNoCatalogueSentBefore"].isna().iloc[0]
    assert df["aKeyNoCatalogueSentBefore"].iloc[1] == "x"


def test_a_page_that_is_not_utf8_is_refused_as_malformed():
    page = json.dumps(load_fixture("products_s2_fapar.json")).encode()
    broken = page.replace(b'"ARCHIVED"', b'"ARCH\xffVED"')
    assert broken != page
    with pytest.raises(msgspec.DecodeError, match="UTF-8"):
        decode_page(broken)
    assert len(decode_page(page.replace(b'"ARCHIVED"', '"ARCHIVÉ"'.encode())).features) == 1


@pytest.mark.parametrize("arrow", [True, False])
def test_property_keys_that_are_not_python_names_are_columns_like_any_other(arrow):
    """STAC-style and odd keys (``eo:cloud_cover``, ``class``, ``""``) once crashed the
    general path, whose struct fields must be Python names."""
    properties = {"title": "t", "eo:cloud_cover": 5, "class": "x", "": 1, "_private": 2, "\x1f": 3}
    page = {
        "totalResults": 1,
        "features": [{"id": "a", "type": "Feature", "geometry": None, "properties": properties}],
    }
    builder = FrameBuilder(decoder=OpenSearchDecoder(arrow=arrow))
    builder.add(decode_page(json.dumps(page).encode()).features)
    frame = builder.build()
    row = frame.iloc[0]
    assert (row["eo:cloud_cover"], row["class"], row[""], row["_private"]) == (5, "x", 1, 2)
    # a key with a control character cannot be a column: it stays in the whole properties
    assert "\x1f" not in frame.columns
    assert json.loads(row["properties"])["\x1f"] == 3
