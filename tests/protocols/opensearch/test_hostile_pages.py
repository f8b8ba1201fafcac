"""Pages written to break the decoder: every answer is a frame or a SearchException naming why.

The servers are :class:`tests.hostile.HostileServer` instances speaking OpenSearch GeoJSON by
hand; the decoder and frame builder are also fed malformed pages directly, by hypothesis.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from typing import Any

import msgspec
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import terracat
from terracat.exceptions import SearchException
from terracat.frame import FrameBuilder, nesting_depth
from terracat.products import product_from_row, rows
from terracat.protocols.opensearch import OpenSearchDecoder, decode_page
from tests.hostile import HostileServer, send

DEEP = 100_000


def _feature(product: str = "p1", **members: Any) -> dict[str, Any]:
    feature: dict[str, Any] = {
        "type": "Feature",
        "id": product,
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
        "properties": {
            "title": f"{product} title",
            "parentIdentifier": "urn:any",
            "links": {"data": [{"href": f"https://data.example/{product}.tif", "length": 3}]},
        },
    }
    feature.update(members)
    return feature


def _text(value: Any) -> str:
    """A member as JSON text: strings of our own JSON (deep nesting) are put in as they are."""
    return value.raw if isinstance(value, _Raw) else json.dumps(value)


class _Raw:
    def __init__(self, raw: str) -> None:
        self.raw = raw


def _page(features: list[Any], total: int | None = None, **extra: Any) -> bytes:
    members = {
        "type": '"FeatureCollection"',
        "totalResults": str(len(features) if total is None else total),
        "startIndex": "1",
        "itemsPerPage": str(len(features)),
        "properties": '{"links": {}}',
        **{name: _text(value) for name, value in extra.items()},
    }
    items = ",".join(_feature_text(f) for f in features)
    head = ",".join(f'"{name}": {text}' for name, text in members.items())
    return f'{{{head}, "features": [{items}]}}'.encode()


def _feature_text(feature: Any) -> str:
    if not isinstance(feature, dict):
        return _text(feature)
    return "{" + ",".join(f'"{k}": {_text(v)}' for k, v in feature.items()) + "}"


def _serving(pages: Callable[[int], bytes]) -> HostileServer:
    """A catalogue answering every products request with ``pages(startIndex)``."""

    def handler(request: Any, connection: Any) -> None:
        start = int(request.param("startIndex", "1"))
        send(connection, 200, pages(start), {"Content-Type": "application/geo+json"})

    return HostileServer(handler)


def _catalogue(server: HostileServer, **settings_: Any) -> terracat.Catalogue:
    config = terracat.CatalogueConfig.from_url(server.url("/"))
    config.retries = 0
    config.search_timeout = 2
    for name, value in settings_.items():
        setattr(config, name, value)
    return terracat.Catalogue(config)


def _search(body: bytes, **settings_: Any) -> Any:
    with _serving(lambda start: body) as server:
        return _catalogue(server, **settings_).search("any")


def _at_stack_depth(frames: int, work: Callable[[], Any]) -> Any:
    """``work`` called below ``frames`` more Python frames: a caller with a deep stack."""
    if frames:
        return _at_stack_depth(frames - 1, work)
    return work()


def _nested(depth: int, *, objects: bool = False) -> _Raw:
    if objects:
        return _Raw('{"a": ' * depth + "1" + "}" * depth)
    return _Raw("[" * depth + "]" * depth)


# ---- item 1: nesting deeper than a recursive parser follows ------------------------------------


@pytest.mark.parametrize(
    "place",
    ["top level", "properties", "properties object", "geometry", "links", "acquisition"],
)
def test_a_page_nested_100000_deep_is_a_search_exception(place):
    features = [_feature("p0"), _feature("p1")]
    extra = {}
    deep = _nested(DEEP, objects=place == "properties object")
    if place == "top level":
        extra["extra"] = deep
    elif place == "geometry":
        features[1]["geometry"] = deep
    else:
        inner = {
            "properties": {"x": None},
            "properties object": {"x": None},
            "links": {"links": {"data": None}},
            "acquisition": {"acquisitionInformation": [{"platform": {"a": None}}]},
        }[place]
        text = json.dumps(inner).replace("null", deep.raw)
        features[1]["properties"] = _Raw(text)
    with pytest.raises(SearchException, match="nests arrays and objects too deeply") as caught:
        _search(_page(features, **extra))
    assert "127.0.0.1" in str(caught.value)


def _decoded_in_a_fresh_thread(body: bytes) -> Any:
    """The page as a search's worker thread decodes it: on a stack of its own."""
    decoded: list[Any] = []
    thread = threading.Thread(target=lambda: decoded.append(decode_page(body)))
    thread.start()
    thread.join(10)
    return decoded[0]


@pytest.mark.parametrize("place", ["properties", "links", "productInformation"])
def test_a_product_read_by_a_worker_but_too_deep_for_the_caller_is_named(place):
    depth = sys.getrecursionlimit() - 150  # read in a fresh thread, too deep 300 frames down
    deep = _nested(depth).raw
    inner = {
        "properties": {"x": None},
        "links": {"links": {"data": None}},
        "productInformation": {"productInformation": {"a": None}},
    }[place]
    deep_feature = _feature("too-deep", properties=_Raw(json.dumps(inner).replace("null", deep)))
    page = _decoded_in_a_fresh_thread(_page([_feature("p0"), deep_feature]))

    def build() -> Any:
        builder = FrameBuilder(
            source="http://catalogue.example/products", decoder=OpenSearchDecoder()
        )
        builder.add(page.features)
        return builder.build()

    with pytest.raises(SearchException, match="'too-deep': its properties nest") as caught:
        _at_stack_depth(300, build)
    assert "catalogue.example" in str(caught.value)
    assert build()["id"].tolist() == ["p0", "too-deep"]  # from a shallow stack it is a row


def test_a_search_whose_later_page_is_too_deep_for_the_caller_names_the_product():
    depth = sys.getrecursionlimit() - 150
    pages = {
        1: _page([_feature("p1")], total=3),
        2: _page([_feature("p2")], total=3, startIndex=2),
        3: _page(
            [_feature("p3", properties=_Raw(f'{{"x": {_nested(depth).raw}}}'))],
            total=3,
            startIndex=3,
        ),
    }
    with _serving(lambda start: pages.get(start, _page([], total=3, startIndex=start))) as server:
        catalogue = _catalogue(server, page_size=1, search_workers=2)
        with pytest.raises(SearchException, match="'p3': its properties nest") as caught:
            _at_stack_depth(300, lambda: catalogue.search("any"))
    assert server.origin in str(caught.value)


def test_a_view_of_a_row_too_deep_for_the_caller_is_a_search_exception():
    deep = _Raw(f'{{"x": {_nested(sys.getrecursionlimit() - 150).raw}}}')
    page = _decoded_in_a_fresh_thread(_page([_feature("too-deep", properties=deep)]))
    builder = FrameBuilder(decoder=OpenSearchDecoder())
    builder.add(page.features)
    (row,) = rows(builder.build())
    with pytest.raises(SearchException, match="'too-deep': its properties nest"):
        _at_stack_depth(300, lambda: product_from_row(row))


@given(
    st.recursive(
        st.none() | st.integers() | st.text(alphabet='[]{}"\\ab'),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=3), inner, max_size=3)
        ),
        max_leaves=20,
    ),
    st.sampled_from([None, 2]),
)
def test_nesting_depth_counts_arrays_and_objects_not_brackets_in_strings(value, indent):
    def depth(item: Any) -> int:
        if isinstance(item, list):
            return 1 + max(map(depth, item), default=0)
        if isinstance(item, dict):
            return 1 + max(map(depth, item.values()), default=0)
        return 0

    assert nesting_depth(json.dumps(value, indent=indent).encode()) == depth(value)


# ---- item 2: properties null, or of another kind -------------------------------------------------


@pytest.mark.parametrize("absent", [False, True])
def test_null_properties_give_a_row_with_empty_properties(absent):
    bare = _feature("bare")
    if absent:
        del bare["properties"]
    else:
        bare["properties"] = None
    frame = _search(_page([_feature("p0"), bare, _feature("p2")]))
    assert frame["id"].tolist() == ["p0", "bare", "p2"]
    row = frame.iloc[1]
    assert row["properties"] == "{}"
    assert pd.isna(row["title"]) and pd.isna(row["collection"])
    assert [len(row[kind]) for kind in ("data", "related", "previews", "alternates")] == [0] * 4
    assert row.geometry.equals(frame.iloc[0].geometry)
    assert len(frame.iloc[0]["data"]) == 1


def test_a_page_of_null_properties_only_gives_rows():
    frame = _search(_page([_feature("a", properties=None), _feature("b", properties=None)]))
    assert frame["id"].tolist() == ["a", "b"]
    assert frame["properties"].tolist() == ["{}", "{}"]


def test_views_of_null_properties_are_empty_dicts():
    with _serving(lambda start: _page([_feature("bare", properties=None)])) as server:
        (product,) = _catalogue(server).get_products("any")
    assert product.id == "bare" and product.properties == {} and product.data == []


@pytest.mark.parametrize(
    ("properties", "found"),
    [(7, "a number (7)"), ("x", 'a string ("x")'), ([1], "a list ([1])"), (True, "true")],
)
def test_properties_of_another_kind_are_a_search_exception_naming_the_product(properties, found):
    body = _page([_feature("p0"), _feature("odd", properties=properties)])
    with pytest.raises(SearchException) as caught:
        _search(body)
    message = str(caught.value)
    assert "'odd': its properties member is " + found in message
    assert "127.0.0.1" in message


# ---- item 3: other ill-shaped members ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"type": "FeatureCollection", "totalResults": 1, "features": null}', "features"),
        (b'{"type": "FeatureCollection", "totalResults": 1, "features": {"a": 1}}', "features"),
        (b'{"type": "FeatureCollection", "totalResults": 1, "features": [7]}', "features[0]"),
        (_page([{"type": "Feature", "properties": {}}]), "id"),
        (_page([_feature(True)]), "features[0].id"),
        (_page([_feature(None)]), "features[0].id"),
        (_page([_feature("p")], properties={"links": {"last": {"href": 1}}}), "links.last"),
        (_page([_feature("p")], totalResults="many"), "totalResults"),
    ],
    ids=[
        "features null",
        "features an object",
        "a feature a number",
        "no id",
        "id true",
        "id null",
        "page links ill-shaped",
        "total not a number",
    ],
)
def test_an_ill_shaped_page_is_a_search_exception_naming_the_field(body, named):
    with pytest.raises(SearchException) as caught:
        _search(body)
    assert named in str(caught.value)


def test_a_numeric_id_is_a_row_with_that_id_as_text():
    frame = _search(_page([_feature(42), _feature(4.5), _feature("p")]))
    assert frame["id"].tolist() == ["42", "4.5", "p"]


@pytest.mark.parametrize(
    ("geometry", "found"),
    [
        (7, "its geometry member is a number (7)"),
        ("POLYGON", 'its geometry member is a string ("POLYGON")'),
        ([0, 1], "its geometry member is a list ([0, 1])"),
        ({"type": "Polygon", "coordinates": "x"}, "its geometry is not a GeoJSON geometry"),
        ({"type": "Circle", "radius": 1}, "its geometry is not a GeoJSON geometry"),
    ],
)
def test_a_geometry_of_the_wrong_kind_is_a_search_exception_naming_the_product(geometry, found):
    with pytest.raises(SearchException) as caught:
        _search(_page([_feature("p0"), _feature("odd", geometry=geometry)]))
    assert f"'odd': {found}" in str(caught.value)


def test_a_null_geometry_is_a_row_without_footprint():
    frame = _search(_page([_feature("p0"), _feature("none", geometry=None)]))
    assert frame.geometry.iloc[1] is None and frame.geometry.iloc[0] is not None


@pytest.mark.parametrize(
    ("links", "hrefs"),
    [
        (7, []),
        ([1], []),
        (None, []),
        ({"data": 7}, []),
        ({"data": [7, None, {"href": "a"}]}, ["a"]),
        ({"data": [{"href": 5, "length": "x"}]}, ["5"]),
    ],
)
def test_ill_shaped_product_links_give_the_row_with_the_files_that_can_be_read(links, hrefs):
    odd = _feature("odd")
    odd["properties"]["links"] = links
    frame = _search(_page([_feature("p0"), odd]))
    assert frame["id"].tolist() == ["p0", "odd"]
    assert [f["href"] for f in frame.iloc[1]["data"]] == hrefs


# ---- hypothesis: whatever the page, a frame or a SearchException --------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
_SECTIONS = st.sampled_from(
    [
        "title",
        "parentIdentifier",
        "acquisitionInformation",
        "productInformation",
        "additionalAttributes",
        "links",
        "date",
        "cloudCover",
    ]
)
_PROPERTIES = st.one_of(
    _JSON, st.dictionaries(st.one_of(_SECTIONS, st.text(max_size=4)), _JSON, max_size=5)
)
_GEOMETRY = st.one_of(
    st.none(),
    _JSON,
    st.fixed_dictionaries(
        {"type": st.sampled_from(["Polygon", "Point", "LineString", "x"]), "coordinates": _JSON}
    ),
)
_FEATURE = st.one_of(
    _JSON,
    st.fixed_dictionaries(
        {"id": st.one_of(st.text(max_size=3), st.integers(), _JSON)},
        optional={"properties": _PROPERTIES, "geometry": _GEOMETRY, "type": _JSON},
    ),
)
_PAGE = st.one_of(
    _JSON,
    st.fixed_dictionaries(
        {"totalResults": st.one_of(st.integers(0, 10), _JSON)},
        optional={
            "features": st.one_of(st.lists(_FEATURE, max_size=4), _JSON),
            "properties": st.one_of(_JSON, st.fixed_dictionaries({"links": _JSON})),
        },
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PAGE, st.booleans())
def test_any_page_gives_a_frame_or_a_search_exception(page, arrow):
    body = json.dumps(page).encode()
    try:
        decoded = decode_page(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return  # paging turns these into a retried, then a SearchException
    builder = FrameBuilder(decoder=OpenSearchDecoder(arrow=arrow))
    try:
        builder.add(decoded.features)
        frame = builder.build()
    except SearchException:
        return
    assert len(frame) == len(dict.fromkeys(f.id for f in decoded.features))
