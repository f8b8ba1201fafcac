"""Properties flattened by Arrow give exactly the frame the general (msgspec) path gives."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.json as pj
import pytest
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from terracat.frame import FrameBuilder
from terracat.frame.contract import Unlearnable, merged
from terracat.protocols.opensearch import OpenSearchDecoder, decode_page
from terracat.protocols.opensearch.arrow_rows import layout_of, learned_type
from tests.conftest import load_fixture

_names = st.sampled_from(["tileId", "status", "title", "cloudCover", "beginningDateTime", "x"])
_time = st.sampled_from(["2020-01-01T10:11:12Z", "2021-02-20T10:11:12.5+01:00", "soon"])
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
    _time,
)
_rare = st.one_of(_scalar, st.just([1, "a"]), st.just({"nested": 1}), st.just(2**70))
_section = st.dictionaries(_names, st.one_of(_scalar, _scalar, _scalar, _rare), max_size=3)
_block = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "acquisitionParameters": _section,
            "platform": _section,
            "instrument": _section,
            "other": _scalar,
        },
    ),
    st.just(None),
)
_link = st.one_of(
    st.fixed_dictionaries(
        {"href": st.text(max_size=6)},
        optional={
            "length": st.one_of(st.integers(0, 2**40), st.just(1.0), st.none()),
            "title": st.one_of(st.text(max_size=4), st.just(5)),
            "type": st.just("image/tiff"),
            "conformsTo": st.text(max_size=3),
        },
    ),
    st.just(None),
)
_links = st.one_of(
    st.fixed_dictionaries(
        {}, optional={kind: st.lists(_link, max_size=2) for kind in ("data", "related", "via")}
    ),
    st.just(None),
)
_properties = st.fixed_dictionaries(
    {"title": st.one_of(st.text(max_size=3), st.none())},
    optional={
        "parentIdentifier": st.sampled_from(["c", "d"]),
        "acquisitionInformation": st.lists(_block, max_size=3),
        "productInformation": _section,
        "additionalAttributes": _section,
        "date": _time,
        "status": _rare,
        "identifier": _scalar,
        "keywords": st.lists(st.text(max_size=2), max_size=2),
        "links": _links,
    },
)


def _frames(products: list[dict], batch: int, chunk: int) -> tuple:
    features = [
        {"type": "Feature", "id": f"p{number}", "geometry": None, "properties": properties}
        for number, properties in enumerate(products)
    ]
    decoded = decode_page(json.dumps({"features": features}).encode()).features
    frames = []
    for arrow in (True, False):
        builder = FrameBuilder(chunk=chunk, batch=batch, decoder=OpenSearchDecoder(arrow=arrow))
        for start in range(0, len(decoded), 3):  # pages of three
            builder.add(decoded[start : start + 3])
        frames.append(builder.build())
    return frames


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    products=st.lists(_properties, min_size=1, max_size=12),
    same_shape=st.booleans(),
    batch=st.integers(1, 8),
    chunk=st.integers(1, 12),
)
def test_arrow_flattening_equals_the_general_path(products, same_shape, batch, chunk):
    if same_shape:  # most searches: products of one shape, values varying
        products = [json.loads(json.dumps(products[0])) for _ in products]
    arrow, general = _frames(products, batch, chunk)
    assert_geodataframe_equal(arrow, general, check_like=True)


@pytest.mark.parametrize("fixture", ["products_s2_fapar.json"])
def test_real_products_take_the_arrow_path(fixture):
    page = load_fixture(fixture)
    first = page["features"][0]
    page["features"] = [first | {"id": f"{first['id']}-{n}"} for n in range(250)]
    features = decode_page(json.dumps(page).encode()).features
    builder = FrameBuilder(batch=100, decoder=OpenSearchDecoder())
    for start in range(0, len(features), 100):
        builder.add(features[start : start + 100])
    frame = builder.build()
    assert builder.flattened == {"arrow": 3, "general": 0}
    general = FrameBuilder(decoder=OpenSearchDecoder(arrow=False))
    general.add(decode_page(json.dumps(page).encode()).features)
    assert_geodataframe_equal(frame, general.build())  # column order too


def test_demo_products_take_the_arrow_path():
    from terracat.server.demo import build_demo_collections

    for collection in build_demo_collections(0.001):
        if not collection.products:
            continue
        body = json.dumps({"features": collection.products[:300]}).encode()
        builder = FrameBuilder(batch=100, decoder=OpenSearchDecoder())
        builder.add(decode_page(body).features)
        frame = builder.build()
        assert builder.flattened["general"] == 0, collection.id
        general = FrameBuilder(decoder=OpenSearchDecoder(arrow=False))
        general.add(decode_page(body).features)
        assert_geodataframe_equal(frame, general.build())


def test_a_key_first_seen_late_is_learned_and_later_batches_stay_fast():
    page = load_fixture("products_s2_fapar.json")
    first = page["features"][0]
    features = []
    for number in range(40):
        clone = json.loads(json.dumps(first)) | {"id": f"p{number}"}
        if number >= 10:
            clone["properties"]["productInformation"]["lateKey"] = number
        features.append(clone)
    page["features"] = features
    decoded = decode_page(json.dumps(page).encode()).features
    builder = FrameBuilder(
        batch=10, chunk=10, decoder=OpenSearchDecoder()
    )  # each batch flattened before the next
    for start in range(0, len(decoded), 10):
        builder.add(decoded[start : start + 10])
    frame = builder.build()
    assert builder.flattened == {"arrow": 3, "general": 1}
    assert frame["lateKey"].isna().sum() == 10
    assert frame["lateKey"].iloc[10:].tolist() == list(range(10, 40))


@given(st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3), max_leaves=8))
def test_a_learned_type_holds_what_arrow_reads_of_the_value(value):
    try:
        kind = learned_type({"v": value})
    except Unlearnable:
        return
    assume("list<item: null>" not in str(kind))  # Arrow reads such lists wrongly (pyarrow 26)
    text = json.dumps({"v": value}).encode()

    table = pj.read_json(
        pa.BufferReader(text), parse_options=pj.ParseOptions(explicit_schema=pa.schema(list(kind)))
    )
    assert table.column("v").to_pylist() == [value]


def test_types_merge_as_the_reader_accepts_them():
    assert merged(pa.int64(), pa.float64()) == pa.float64()
    assert merged(pa.null(), pa.string()) == pa.string()
    assert merged(pa.list_(pa.null()), pa.list_(pa.int64())) == pa.list_(pa.int64())
    with pytest.raises(Unlearnable):
        merged(pa.string(), pa.int64())
    with pytest.raises(Unlearnable):
        learned_type(2**64)


def test_a_name_two_sections_give_leaves_the_layout_to_the_general_path():
    both = learned_type(
        {
            "acquisitionInformation": [{"platform": {"x": 1}}],
            "productInformation": {"x": 2},
        }
    )
    assert layout_of(both) is None
    apart = learned_type(
        {"acquisitionInformation": [{"platform": {"x": 1}}], "productInformation": {"y": 2}}
    )
    assert layout_of(apart) is not None
