"""The STAC fast path (terracat.protocols.stac.arrow_rows, by Arrow) gives the general path's
frame, column by column, files included: for the real items, the local catalogue's STAC items,
and generated variations of them; and what its narrow schema would skip sends a batch down the
general path instead of vanishing."""

from __future__ import annotations

import copy
import json

import pandas as pd
import requests
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terracat.frame import FrameBuilder
from terracat.protocols.stac import StacDecoder, decode_stac_page
from tests.conftest import load_fixture

REAL_2026 = "stac/search_s2_toc_2026.json"
REAL_2023 = ("stac/item_s2_toc_2023_36VVR.json", "stac/item_s2_toc_2023_38TLK.json")


def _real_2026() -> dict:
    return load_fixture(REAL_2026)["features"][0]


def _copies(items: list[dict], count: int) -> list[dict]:
    """``count`` items cycling through ``items``, each under its own id and second."""
    copies = []
    for number in range(count):
        item = copy.deepcopy(items[number % len(items)])
        item["id"] = f"{item['id']}_{number}"
        item["properties"]["datetime"] = f"2024-08-07T10:{number // 60 % 60:02d}:{number % 60:02d}Z"
        copies.append(item)
    return copies


def _built(
    items: list[dict],
    *,
    arrow: bool,
    href_mode: str = "",
    batch: int = 4,
    alternates: tuple[str, ...] = (),
):
    """A frame of the items as a search builds it (pages of 2, batches of ``batch``), and the
    builder's count of batches by path."""
    decoder = StacDecoder(href_mode=href_mode, alternates=alternates, arrow=arrow)
    builder = FrameBuilder(decoder=decoder, batch=batch)
    for start in range(0, len(items), 2):
        page = json.dumps({"type": "FeatureCollection", "features": items[start : start + 2]})
        builder.add(decode_stac_page(page.encode()).features)
    return builder.build(), builder.flattened


def _assert_same_frames(
    items: list[dict], href_mode: str = "", batch: int = 4, alternates: tuple[str, ...] = ()
) -> dict:
    """The fast path's frame equals the general path's; returns the fast path's batch counts."""
    options = {"href_mode": href_mode, "batch": batch, "alternates": alternates}
    fast, paths = _built(items, arrow=True, **options)
    general, general_paths = _built(items, arrow=False, **options)
    assert general_paths["arrow"] == 0
    assert set(fast.columns) == set(general.columns)
    for name in general.columns:
        if name != "geometry":
            pd.testing.assert_series_equal(fast[name], general[name], obj=name)
    assert_geodataframe_equal(fast[list(general.columns)], general)
    return paths


def test_the_real_2026_items_take_the_fast_path_into_the_same_frame():
    items = _copies([_real_2026()], 12)
    for href_mode in ("", "MEP"):
        paths = _assert_same_frames(items, href_mode)
        assert paths == {"arrow": 3, "general": 0}
    fast, _ = _built(items, arrow=True)
    general, _ = _built(items, arrow=False)
    assert list(fast.columns) == list(general.columns)  # the same order, too
    assert json.loads(fast["properties"][0]) == items[0]


def test_the_real_2023_items_take_the_fast_path_into_the_same_frame():
    items = _copies([load_fixture(name) for name in REAL_2023], 8)
    for href_mode in ("", "MEP"):
        assert _assert_same_frames(items, href_mode) == {"arrow": 2, "general": 0}


def test_both_years_in_one_search_give_the_same_frame():
    items = _copies([_real_2026(), *(load_fixture(name) for name in REAL_2023)], 12)
    _assert_same_frames(items, batch=3)


def test_the_local_catalogues_stac_items_give_the_same_frame(local_catalogue):
    collections = requests.get(local_catalogue.url + "stac/collections", timeout=60).json()
    for collection in collections["collections"]:
        answer = requests.get(
            local_catalogue.url + "stac/search",
            params={"collections": collection["id"], "limit": 40},
            timeout=60,
        )
        items = answer.json()["features"]
        assert items, collection["id"]
        for href_mode in ("", "MEP"):
            paths = _assert_same_frames(items, href_mode, batch=10)
            assert paths["arrow"] >= 1, collection["id"]


def test_an_asset_the_schema_does_not_know_is_not_skipped():
    items = _copies([_real_2026()], 8)
    items[6]["assets"]["B99"] = {"href": "https://x/B99.tif", "roles": ["data"], "file:size": 7}
    paths = _assert_same_frames(items)
    assert paths == {"arrow": 1, "general": 1}
    fast, _ = _built(items, arrow=True)
    assert "B99" in [entry["category"] for entry in fast["data"][6]]


def test_a_property_the_schema_does_not_know_is_not_skipped_and_is_learned():
    items = _copies([_real_2026()], 12)
    for item in items[4:]:
        item["properties"]["view:sun_elevation"] = 41.5
    paths = _assert_same_frames(items)
    assert paths == {"arrow": 2, "general": 1}  # the third batch fits the taught schema
    fast, _ = _built(items, arrow=True)
    assert fast["view:sun_elevation"].isna().sum() == 4


def test_type_surprises_go_the_general_path():
    surprises = [
        ("sat:relative_orbit", 51.5),  # a float where an integer was learned
        ("sat:relative_orbit", "51"),  # text where a number was
        ("gsd", [10]),  # a list where a scalar was
        ("providers", "ESA"),  # a scalar where a list was
        ("eo:cloud_cover", None),
    ]
    for key, value in surprises:
        items = _copies([_real_2026()], 8)
        items[5]["properties"][key] = value
        paths = _assert_same_frames(items)
        assert paths["general"] >= 1 or value is None, key


def test_assets_in_another_order_go_the_general_path():
    items = _copies([_real_2026()], 8)
    assets = items[5]["assets"]
    items[5]["assets"] = dict(reversed(list(assets.items())))
    assert _assert_same_frames(items) == {"arrow": 1, "general": 1}


_ROLES = st.lists(
    st.sampled_from(["data", "thumbnail", "overview", "visual", "metadata", "cloud", "", "x:y"]),
    max_size=3,
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
_VALUES = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=2),
    st.dictionaries(st.text(max_size=3), _SCALARS, max_size=2),
)
_KEYS = st.sampled_from(
    [
        "eo:cloud_cover",
        "sat:relative_orbit",
        "sat:orbit_state",
        "grid:code",
        "mgrs:utm_zone",
        "product:type",
        "gsd",
        "title",
        "new:field",
        "start_datetime",
        "platform",
        "providers",
    ]
)


@st.composite
def _variation(draw, base: dict) -> dict:
    """An item like ``base`` with some properties and assets missing, added, nulled, retyped,
    their roles, sizes, titles and order changed."""
    item = copy.deepcopy(base)
    properties, assets = item["properties"], item["assets"]
    for key in draw(st.lists(_KEYS, max_size=3)):
        action = draw(st.sampled_from(["drop", "set", "text"]))
        if action == "drop":
            properties.pop(key, None)
        elif action == "set":
            properties[key] = draw(_VALUES)
        elif isinstance(properties.get(key), int | float):
            properties[key] = str(properties[key])  # a number as text
    keys = list(assets)
    for key in draw(st.lists(st.sampled_from([*keys, "NEW"]), max_size=3)):
        action = draw(st.sampled_from(["drop", "null", "roles", "size", "title", "add"]))
        asset = assets.get(key)
        if action == "drop":
            assets.pop(key, None)
        elif action == "null":
            assets[key] = None
        elif action == "add" or not isinstance(asset, dict):
            assets[key] = {"href": f"https://x/{key}", "roles": draw(_ROLES)}
        elif action == "roles":
            asset["roles"] = draw(_ROLES)
        elif action == "size":
            asset["file:size"] = draw(_SCALARS)
        else:
            asset.pop("title", None)
    if draw(st.booleans()):
        order = draw(st.permutations(list(assets)))
        item["assets"] = {key: assets[key] for key in order}
    return item


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_variations_give_the_same_frame(data):
    bases = [_real_2026(), *(load_fixture(name) for name in REAL_2023)]
    base = data.draw(st.sampled_from(bases))
    plain = data.draw(st.integers(0, 4))
    items = [base] * plain + data.draw(st.lists(_variation(base), min_size=1, max_size=5))
    items = _copies(items, len(items))
    href_mode = data.draw(st.sampled_from(["", "MEP"]))
    _assert_same_frames(items, href_mode, batch=2)


def test_a_boolean_among_numbers_is_kept_as_it_came_on_both_paths():
    odd = copy.deepcopy(_real_2026())
    odd["properties"]["eo:cloud_cover"] = False  # not 0: a catalogue's mistake, kept visible
    items = _copies([_real_2026(), _real_2026(), odd], 3)
    for batch in (1, 2, 3):
        _assert_same_frames(items, batch=batch)
    general, _ = _built(items, arrow=False, batch=3)
    assert list(general["eo:cloud_cover"])[2] is False
    assert general["cloudCover"].isna().tolist() == [False, False, True]
