"""File lists: Arrow list<struct> columns from raw links, strict where Arrow is, lenient where not."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from typing import Any

import geopandas
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import terracat
from terracat.frame import features_frame
from terracat.frame.files import FILE_COLUMNS, FILE_FIELDS, FILE_LIST_DTYPE, FileLists
from terracat.protocols.opensearch import OpenSearchDecoder, decode_page
from tests.conftest import load_fixture


def _file_lists(links: list[Any], indent: int | None = None) -> dict[str, list[Any]]:
    table = FileLists([json.dumps(value, indent=indent).encode() for value in links]).table()
    return table.to_pydict()


def _expected(links: Any) -> dict[str, list[dict[str, Any]]]:
    """What a links value must give: every object entry of each kind, fields made to fit."""
    links = links if isinstance(links, dict) else {}
    expected = {}
    for kind in FILE_COLUMNS:
        entries = links.get(kind)
        entries = entries if isinstance(entries, list) else []
        expected[kind] = [_expected_entry(entry) for entry in entries if isinstance(entry, dict)]
    return expected


def _expected_entry(entry: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {field: None for field in FILE_FIELDS}
    for field in ("href", "title", "type", "category"):
        if entry.get(field) is not None:
            value = entry[field]
            fields[field] = value if isinstance(value, str) else str(value)
    with contextlib.suppress(KeyError, TypeError, ValueError, OverflowError):
        length = int(entry["length"])
        fields["length"] = length if -(2**63) <= length < 2**63 else None
    return fields


def test_well_formed_links_become_lists_of_the_five_fields():
    links = {
        "data": [{"href": "a.tif", "length": 5, "title": "B01", "type": "image/tiff"}],
        "related": [{"href": "m.tif", "category": "CLOUD", "conformsTo": "EPSG:32631"}],
    }
    assert _file_lists([links, {}]) == {
        "data": [
            [
                {
                    "href": "a.tif",
                    "length": 5,
                    "title": "B01",
                    "type": "image/tiff",
                    "category": None,
                }
            ],
            [],
        ],
        "related": [
            [{"href": "m.tif", "length": None, "title": None, "type": None, "category": "CLOUD"}],
            [],
        ],
        "previews": [[], []],
        "alternates": [[], []],
    }


@pytest.mark.parametrize(
    ("entry", "read"),
    [
        ({"href": "a", "length": 1.0}, {"href": "a", "length": 1}),
        ({"href": "a", "length": "12"}, {"href": "a", "length": 12}),
        ({"href": "a", "length": "twelve"}, {"href": "a", "length": None}),
        ({"href": "a", "length": 2**70}, {"href": "a", "length": None}),
        ({"href": 5, "title": True}, {"href": "5", "title": "True"}),
    ],
)
def test_odd_entries_are_read_leniently_and_the_batch_kept(entry, read):
    good = {"data": [{"href": "ok", "length": 3}]}
    lists = _file_lists([good, {"data": [entry]}, good])
    assert (
        lists["data"][0]
        == lists["data"][2]
        == [{**dict.fromkeys(FILE_FIELDS), "href": "ok", "length": 3}]
    )
    assert lists["data"][1] == [{**dict.fromkeys(FILE_FIELDS), **read}]


@pytest.mark.parametrize(
    "links",
    [
        {"data": [None, {"href": "a"}, "b", 3]},  # entries that are not objects are left out
        {"data": "a.tif"},  # a kind that is not a list
        ["a.tif"],  # links that are not an object
        "a.tif",
        None,
    ],
)
def test_ill_shaped_links_keep_what_can_be_read(links):
    assert {kind: lists[0] for kind, lists in _file_lists([links]).items()} == _expected(links)


def test_pretty_printed_links_parse_like_compact_ones():
    links = load_fixture("products_s2_fapar.json")["features"][0]["properties"]["links"]
    assert _file_lists([links, links], indent=2) == _file_lists([links, links])


def test_a_pretty_printed_page_gives_the_frame_of_the_compact_one():
    page = load_fixture("products_s2_fapar.json")
    compact = features_frame(
        decode_page(json.dumps(page).encode()).features, decoder=OpenSearchDecoder()
    )
    pretty = features_frame(
        decode_page(json.dumps(page, indent=2).encode()).features, decoder=OpenSearchDecoder()
    )
    assert compact.drop(columns="properties").equals(pretty.drop(columns="properties"))
    assert json.loads(pretty["properties"].iloc[0]) == json.loads(compact["properties"].iloc[0])


def test_frame_file_columns_are_arrow_lists_that_read_as_dicts():
    df = features_frame(
        decode_page(json.dumps(load_fixture("products_s2_fapar.json")).encode()).features,
        decoder=OpenSearchDecoder(),
    )
    for kind in FILE_COLUMNS:
        assert df[kind].dtype == FILE_LIST_DTYPE
    assert isinstance(df["data"].iloc[0], list) and df["data"].iloc[0][0]["title"] == "FAPAR_10M"


_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
_entry = st.dictionaries(
    st.sampled_from([*FILE_FIELDS, "conformsTo"]),
    st.one_of(_scalar, st.lists(_scalar, max_size=2)),
    max_size=6,
)
_kind = st.one_of(st.lists(st.one_of(_entry, _entry, _scalar), max_size=4), _scalar)
_links = st.one_of(
    st.dictionaries(st.sampled_from([*FILE_COLUMNS, "other"]), _kind, max_size=5),
    _scalar,
    st.lists(_scalar, max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(batch=st.lists(_links, min_size=1, max_size=6), indent=st.sampled_from([None, 1]))
def test_any_links_give_exactly_their_object_entries(batch, indent):
    lists = _file_lists(batch, indent=indent)
    for position, links in enumerate(batch):
        assert {kind: lists[kind][position] for kind in FILE_COLUMNS} == _expected(links)


# ---- GeoParquet ------------------------------------------------------------------------------


def _fapar_frame() -> geopandas.GeoDataFrame:
    return features_frame(
        decode_page(json.dumps(load_fixture("products_s2_fapar.json")).encode()).features,
        decoder=OpenSearchDecoder(),
    )


def test_geopandas_reads_an_export_back_in_a_terracat_process(tmp_path):
    _fapar_frame().to_parquet(tmp_path / "p.parquet")
    back = geopandas.read_parquet(tmp_path / "p.parquet")
    assert back["data"].dtype == FILE_LIST_DTYPE
    assert back["data"].iloc[0] == _fapar_frame()["data"].iloc[0]


def test_geopandas_without_terracat_reads_an_export_as_the_docs_say(tmp_path):
    _fapar_frame().to_parquet(tmp_path / "p.parquet")
    script = (
        "import sys, geopandas, pandas as pd\n"
        "assert 'terracat' not in sys.modules\n"
        "df = geopandas.read_parquet(sys.argv[1], to_pandas_kwargs={'types_mapper': pd.ArrowDtype})\n"
        "print(df['data'].iloc[0][0]['href'])\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "p.parquet")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.stdout.strip() == _fapar_frame()["data"].iloc[0][0]["href"]


def test_exports_with_file_lists_as_python_objects_still_read_back(tmp_path):
    frame = _fapar_frame()
    old = frame.copy()
    for kind in FILE_COLUMNS:  # how terracat 0.1 wrote them: lists of dicts, object dtype
        old[kind] = pd.Series([list(v) for v in frame[kind]], dtype=object, index=frame.index)
    old.to_parquet(tmp_path / "old.parquet")
    back = terracat.read_parquet(tmp_path / "old.parquet")
    for kind in FILE_COLUMNS:
        assert back[kind].dtype == FILE_LIST_DTYPE
        assert list(back[kind]) == list(frame[kind])


def test_the_file_listing_follows_the_frame_product_by_product():
    page = load_fixture("products_s2_fapar.json")
    first = page["features"][0]
    second = json.loads(json.dumps(first))
    second["id"] += "-2"
    second["properties"]["links"]["data"] = []
    page["features"] = [first, second, json.loads(json.dumps(first)) | {"id": "third"}]
    df = features_frame(
        decode_page(json.dumps(page).encode()).features, decoder=OpenSearchDecoder()
    )
    listed = df.terracat.files("all")
    expected = [
        {"product": product, "kind": kind, **entry}
        for product, *lists in df[["id", *FILE_COLUMNS]].itertuples(index=False)
        for kind, entries in zip(FILE_COLUMNS, lists, strict=True)
        for entry in entries
    ]
    assert listed.to_dict("records") == expected
    assert listed["length"].dtype == "Int64" and listed["href"].dtype == "string"
    assert len(df.iloc[:0].terracat.files("data")) == 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Python 3.12+ on forking with threads
def test_a_forked_child_parses_file_lists_too():
    import multiprocessing

    body = json.dumps(load_fixture("products_s2_fapar.json")).encode()
    frame = features_frame(decode_page(body).features, decoder=OpenSearchDecoder())
    assert len(frame) == 1  # the parent's thread is running
    context = multiprocessing.get_context("fork")
    child = context.Process(
        target=features_frame,
        args=(decode_page(body).features,),
        kwargs={"decoder": OpenSearchDecoder()},
    )
    child.start()
    child.join(30)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0
