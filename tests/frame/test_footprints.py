"""Footprints: polygons in bulk give exactly what GEOS's GeoJSON reader gives, odd ones too."""

from __future__ import annotations

import json

import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from terracat.frame.footprints import _polygons, footprints


def _geos(texts: list[bytes]) -> list:
    return list(shapely.from_geojson(texts, on_invalid="ignore"))


def _same(ours, reference) -> bool:
    return len(ours) == len(reference) and all(
        (a is None and b is None)
        or (a is not None and b is not None and shapely.equals_exact(a, b, tolerance=0))
        for a, b in zip(ours, reference, strict=True)
    )


def _square(x: float, y: float, size: float = 1.0) -> list[list[float]]:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]


_coordinate = st.floats(-180, 180, allow_nan=False, allow_infinity=False)
_polygon = st.builds(
    lambda x, y, size, hole: {
        "type": "Polygon",
        "coordinates": [_square(x, y, size)]
        + ([_square(x + size / 4, y + size / 4, size / 4)] if hole else []),
    },
    _coordinate,
    _coordinate,
    st.floats(0.001, 5),
    st.booleans(),
)
_odd = st.sampled_from(
    [
        None,
        {"type": "Point", "coordinates": [1, 2]},
        {"type": "MultiPolygon", "coordinates": [[_square(0, 0)]]},
        {"type": "Polygon", "coordinates": [[[0, 0, 5], [1, 0, 5], [1, 1, 5], [0, 0, 5]]]},
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]},  # not closed
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]},  # too short
        {"type": "Polygon", "coordinates": []},
        {"type": "Polygon"},
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    geometries=st.lists(st.one_of(_polygon, _polygon, _odd), min_size=1, max_size=8),
    indent=st.sampled_from([None, 1]),
)
def test_footprints_are_what_the_geojson_reader_gives(geometries, indent):
    texts = [json.dumps(g, indent=indent).encode() for g in geometries]
    assert _same(list(footprints(texts)), _geos(texts))


def test_simple_polygons_take_the_bulk_path():
    texts = [
        json.dumps({"type": "Polygon", "coordinates": [_square(i, 0)]}).encode() for i in range(3)
    ]
    built = _polygons(texts)
    assert built is not None and _same(list(built), _geos(texts))


def test_a_repeated_footprint_is_parsed_once_and_shared():
    text = json.dumps({"type": "Polygon", "coordinates": [_square(4, 50)]}).encode()
    first, second = footprints([text, bytes(text)])
    assert first is second


def test_garbage_gives_nulls_not_an_error():
    assert list(footprints([b"{", b"[1, 2]", b'{"type": "Polygon", "coordinates": "x"}'])) == [
        None,
        None,
        None,
    ]


def test_products_without_footprint_leave_the_others_on_the_bulk_path(monkeypatch):
    import terracat.frame.footprints as module

    texts = [b"null", json.dumps({"type": "Polygon", "coordinates": [_square(0, 0)]}).encode()]
    monkeypatch.setattr(module.shapely, "from_geojson", None)  # the bulk path must not need it
    first, second = footprints(texts)
    assert first is None and second.equals(shapely.box(0, 0, 1, 1))
