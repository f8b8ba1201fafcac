"""Frames in and out of the STAC ecosystem (issue 19): items from frames of both protocols, checked
by stac-validator; stac-geoparquet written with the ``stac-geoparquet`` package and read by it and
by rustac; stac-geoparquet files written elsewhere read back into the frame contract; the CLI.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import geopandas
import msgspec
import pandas as pd
import pyarrow.parquet as pq
import pytest
import rustac
import shapely
import stac_geoparquet.arrow
from geopandas.testing import assert_geodataframe_equal

import terracat
from terracat import Catalogue, CatalogueConfig
from terracat.frame import features_frame
from terracat.protocols.stac.page import StacFeature
from terracat.protocols.stac.partitions import as_stac_numbers
from terracat.protocols.stac.rows import StacDecoder
from terracat.stacio import OPENSEARCH_PROPERTIES, write_stac_geoparquet
from tests.conftest import FIXTURES, load_fixture
from tests.hostile import HostileServer, Request, send
from tests.server.test_stac_items import _stac_validator

TOC = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"
NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
OFFLINE = FIXTURES.parents[1] / "stac-schemas" / "offline.py"
TERRACAT = str(Path(sys.executable).parent / "terracat")
REAL_STAC = FIXTURES / "stac"


def _opensearch(local) -> Catalogue:
    return Catalogue(CatalogueConfig.from_url(local.url))


def _stac_search(local, collection: str = "terrascope-s2-toc-v2", limit: int = 5):
    return terracat.search(collection, catalogue=f"{local.url}stac/", limit=limit)


def _real_opensearch_frame():
    """The real Terrascope OpenSearch page, served over HTTP and searched as any catalogue."""
    body = json.dumps(load_fixture("products_s2_fapar.json")).encode()

    def answer(request: Request, connection: socket.socket) -> None:
        send(connection, 200, body, {"Content-Type": "application/geo+json"})

    with HostileServer(answer) as server:
        return Catalogue(CatalogueConfig.from_url(server.url("/"))).search(
            "urn:eop:VITO:TERRASCOPE_S2_FAPAR_V2"
        )


def _instants(value: Any) -> Any:
    """Items compared as data: datetimes as instants (writers format them differently), tuples
    as lists."""
    if isinstance(value, dict):
        return {k: _instants(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_instants(v) for v in value]
    if isinstance(value, str) and len(value) >= 20 and value[4] == "-" and value[10] == "T":
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value


# ---- 1. items from frames ------------------------------------------------------------------------


def test_a_stac_frame_gives_back_the_items_the_catalogue_served(local_catalogue, http):
    frame = _stac_search(local_catalogue)
    served = http.get(
        f"{local_catalogue.url}stac/search",
        params={"collections": "terrascope-s2-toc-v2", "limit": 5},
        timeout=30,
    ).json()["features"]
    assert list(frame.terracat.to_stac_items()) == served
    collection = frame.terracat.to_stac()
    assert collection["type"] == "FeatureCollection" and collection["features"] == served


@pytest.mark.parametrize("collection", [TOC, NDVI, S1])
def test_opensearch_items_are_the_stac_faces_items_of_the_same_products(
    local_catalogue, http, collection
):
    frame = _opensearch(local_catalogue).search(collection, limit=3)
    items = list(frame.terracat.to_stac_items())
    assert len(items) == 3
    for item, original in zip(items, frame["properties"], strict=True):
        served = http.get(
            f"{local_catalogue.url}stac/collections/{item['collection']}/items/{item['id']}",
            timeout=30,
        ).json()
        # what only the server knows: its links, sign-in, where it keeps files on disk, the
        # checksums of the bytes it serves
        assert item["properties"].pop(OPENSEARCH_PROPERTIES) == json.loads(original)
        served["properties"].pop("auth:schemes", None)
        for key in ("id", "collection", "geometry", "bbox", "properties"):
            assert _instants(item[key]) == _instants(served[key]), key
        assert list(item["assets"]) == list(served["assets"])
        for key, asset in item["assets"].items():
            expected = {
                k: v
                for k, v in served["assets"][key].items()
                if k not in ("alternate", "auth:refs", "file:checksum")
            }
            assert asset == expected, key
        local_only = {u for u in served["stac_extensions"] if "alternate" in u or "auth" in u}
        assert item["stac_extensions"] == [
            u for u in served["stac_extensions"] if u not in local_only
        ]


@pytest.mark.timeout(90)
@pytest.mark.skipif(not OFFLINE.exists(), reason=f"{OFFLINE} is not there")
def test_items_from_opensearch_frames_pass_stac_validator_with_their_extensions(
    local_catalogue, tmp_path
):
    frames = [_real_opensearch_frame()]
    frames += [_opensearch(local_catalogue).search(c, limit=3) for c in (TOC, NDVI, S1)]
    frames.append(pd.concat(frames[1:3], ignore_index=True))  # no attrs: no catalogue to link
    items = [item for frame in frames for item in frame.terracat.to_stac_items()]
    assert items[0]["id"] and items[0]["properties"]["eo:cloud_cover"] is not None
    page = tmp_path / "items.json"
    page.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    reports = _stac_validator(page, "--feature-collection")
    assert len(reports) == len(items)
    assert all(r["valid_stac"] for r in reports), [r.get("error_message") for r in reports]
    checked = {schema for r in reports for schema in r["schema"]}
    declared = {url for item in items for url in item["stac_extensions"]}
    assert declared <= checked
    assert any("/sar/" in url for url in declared) and any("/eo/" in url for url in declared)


def test_the_real_opensearch_product_keeps_its_fields_in_stac_names():
    (item,) = _real_opensearch_frame().terracat.to_stac_items()
    original = item["properties"][OPENSEARCH_PROPERTIES]
    assert original == load_fixture("products_s2_fapar.json")["features"][0]["properties"]
    properties = item["properties"]
    assert properties["datetime"] == properties["start_datetime"]
    assert {"platform", "eo:cloud_cover", "grid:code", "product:type"} <= set(properties)
    roles = {key: asset["roles"] for key, asset in item["assets"].items()}
    assert ["metadata"] in roles.values() and ["data"] in roles.values()
    assert all("file:size" in a for a in item["assets"].values() if "data" in a["roles"])


# ---- 2. stac-geoparquet out ---------------------------------------------------------------------


def test_stac_geoparquet_follows_the_spec_and_stac_geoparquet_and_rustac_read_the_same_items(
    local_catalogue, tmp_path
):
    frame = _stac_search(local_catalogue, limit=4)
    path = frame.terracat.to_stac_geoparquet(tmp_path / "toc.stac.parquet")
    file = pq.ParquetFile(path)
    assert b"stac-geoparquet" in file.metadata.metadata and b"geo" in file.metadata.metadata
    columns = file.schema_arrow
    assert {"eo:cloud_cover", "datetime", "assets", "links"} <= set(columns.names)
    assert "properties" not in columns.names  # properties are top-level columns
    assert str(columns.field("links").type).startswith("list<")
    assert str(columns.field("assets").type).startswith("struct<")
    by_package = list(stac_geoparquet.arrow.stac_table_to_items(pq.read_table(path)))
    by_rustac = rustac.read_sync(str(path))["features"]
    assert _instants(by_package) == _instants(by_rustac)
    assert _instants(by_package) == _instants(list(frame.terracat.to_stac_items()))


def test_duckdb_reads_the_stac_geoparquet_with_its_footprints(local_catalogue, tmp_path):
    frame = _stac_search(local_catalogue, limit=4)
    path = frame.terracat.to_stac_geoparquet(tmp_path / "toc.stac.parquet")
    with duckdb.connect() as con:  # DuckDB reads GeoParquet geometry as GEOMETRY itself
        rows = con.execute(
            'SELECT id, "eo:cloud_cover", ST_AsText(geometry), typeof(geometry) FROM read_parquet(?)',
            [str(path)],
        ).fetchall()
    assert [r[0] for r in rows] == list(frame["id"])
    assert [r[1] for r in rows] == list(frame["eo:cloud_cover"])
    assert all(r[3].startswith("GEOMETRY") for r in rows)
    for (_, _, wkt, _), footprint in zip(rows, frame.geometry, strict=True):
        assert shapely.from_wkt(wkt).equals(footprint)


def test_an_opensearch_frame_writes_stac_geoparquet_that_rustac_reads(local_catalogue, tmp_path):
    frame = _opensearch(local_catalogue).search(S1, limit=3)
    path = frame.terracat.to_stac_geoparquet(tmp_path / "s1.stac.parquet")
    items = rustac.read_sync(str(path))["features"]
    assert [i["id"] for i in items] == [i.rsplit(":", 1)[-1] for i in frame["id"]]
    # the original properties are JSON text in the file (documented): other readers see text
    original = items[0]["properties"][OPENSEARCH_PROPERTIES]
    assert isinstance(original, str)
    assert json.loads(original)["title"] == frame["title"].iloc[0]


def test_stac_geoparquet_declares_the_versions_its_docstring_names(local_catalogue, tmp_path):
    path = _stac_search(local_catalogue, limit=2).terracat.to_stac_geoparquet(
        tmp_path / "a.parquet"
    )
    metadata = pq.ParquetFile(path).metadata.metadata
    stac_version = json.loads(metadata[b"stac-geoparquet"])["version"]
    geo_version = json.loads(metadata[b"geo"])["version"]
    assert (stac_version, geo_version) == ("1.0.0", "1.1.0")
    doc = write_stac_geoparquet.__doc__
    assert f"stac-geoparquet {stac_version}" in doc and f"GeoParquet {geo_version}" in doc


def _through_stac_geoparquet(local_catalogue, tmp_path, source: str):
    """An OpenSearch frame (the real page's, or a demo collection's) and the frame read back
    from its stac-geoparquet file."""
    frame = (
        _real_opensearch_frame()
        if source == "real"
        else _opensearch(local_catalogue).search(source, limit=4)
    )
    path = frame.terracat.to_stac_geoparquet(tmp_path / "os.stac.parquet")
    return frame, terracat.read_parquet(path)


@pytest.mark.parametrize("source", ["real", TOC, NDVI, S1])
def test_the_original_opensearch_properties_come_back_exactly(local_catalogue, tmp_path, source):
    frame, back = _through_stac_geoparquet(local_catalogue, tmp_path, source)
    originals = [json.loads(text) for text in frame["properties"]]
    assert [json.loads(t)["properties"][OPENSEARCH_PROPERTIES] for t in back["properties"]] == (
        originals
    )
    # the frame read back gives the same objects out again, in its items and the JSON outputs
    assert [i["properties"][OPENSEARCH_PROPERTIES] for i in back.terracat.to_stac_items()] == (
        originals
    )
    assert [
        f["properties"][OPENSEARCH_PROPERTIES] for f in frame.terracat.to_stac()["features"]
    ] == originals


@pytest.mark.parametrize("source", ["real", TOC, NDVI, S1])
def test_an_opensearch_frame_keeps_its_file_lists_through_stac_geoparquet(
    local_catalogue, tmp_path, source
):
    frame, back = _through_stac_geoparquet(local_catalogue, tmp_path, source)
    for kind in ("data", "related", "previews", "alternates"):
        expected = frame.terracat.files(kind)
        expected["product"] = expected["product"].str.rsplit(":", n=1).str[-1].astype("string")
        pd.testing.assert_frame_equal(back.terracat.files(kind), expected, obj=kind)
    # the assets keep the roles of Terrascope's STAC items: a quality band is data there
    (item, *_) = stac_geoparquet.arrow.stac_table_to_items(
        pq.read_table(tmp_path / "os.stac.parquet")
    )
    if source == TOC:
        assert item["assets"]["AOT"]["roles"] == ["data"]
        assert "AOT_60M" in set(back.terracat.files("related")["title"])


def test_a_concatenated_frame_names_each_items_collection(local_catalogue, tmp_path):
    searches = [_opensearch(local_catalogue).search(c, limit=2) for c in (TOC, S1)]
    mixed = pd.concat(searches, ignore_index=True)
    assert mixed.attrs == {}  # pandas keeps no attrs that differ
    items = list(mixed.terracat.to_stac_items())
    expected = ["terrascope-s2-toc-v2"] * 2 + ["cgs-s1-grd-sigma0-l1"] * 2
    assert [item.get("collection") for item in items] == expected
    # STAC wants a collection link beside it: without the catalogue, its identifier
    links = [[link for link in item["links"] if link["rel"] == "collection"] for item in items]
    assert [link["href"] for (link,) in links] == [TOC] * 2 + [S1] * 2
    back = terracat.read_parquet(mixed.terracat.to_stac_geoparquet(tmp_path / "m.parquet"))
    assert list(back["collection"]) == expected


def test_an_empty_frame_is_refused_with_the_file_named(local_catalogue, tmp_path):
    frame = _stac_search(local_catalogue).iloc[:0]
    with pytest.raises(terracat.TerracatError, match=r"empty\.stac\.parquet"):
        frame.terracat.to_stac_geoparquet(tmp_path / "empty.stac.parquet")


# ---- 3. stac-geoparquet in ----------------------------------------------------------------------


def _decoded(items: list[dict[str, Any]]) -> geopandas.GeoDataFrame:
    """The frame a STAC search of ``items`` gives: the STAC decoder over their JSON, numbers
    typed by field as the backend types them."""
    features = [
        StacFeature(
            id=item["id"],
            properties=msgspec.Raw(msgspec.json.encode(item)),
            geometry=msgspec.Raw(msgspec.json.encode(item["geometry"])),
        )
        for item in items
    ]
    return as_stac_numbers(features_frame(features, decoder=StacDecoder()))


_INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _scalars(frame: geopandas.GeoDataFrame, floor: str | None = None) -> geopandas.GeoDataFrame:
    """The frame but its item text; STAC's datetime text columns (``datetime``, ``created``...)
    as instants: a Parquet file keeps timestamps, not how an item spelled them (``floor``: to
    the precision a writer keeps)."""
    scalars = frame.drop(columns=["properties"])
    for name in scalars.columns:
        values = scalars[name].dropna()
        if len(values) and all(isinstance(v, str) and _INSTANT.match(v) for v in values):
            instants = pd.to_datetime(scalars[name], utc=True, format="ISO8601")
            scalars[name] = instants.dt.floor(floor) if floor else instants
    return scalars


def test_a_stac_frame_round_trips_through_stac_geoparquet(local_catalogue, tmp_path):
    frame = _stac_search(local_catalogue, limit=6)
    path = frame.terracat.to_stac_geoparquet(tmp_path / "toc.stac.parquet")
    back = terracat.read_parquet(path)
    assert list(back.columns) == list(frame.columns)
    assert_geodataframe_equal(_scalars(back), _scalars(frame))
    assert back.terracat.files("all").equals(frame.terracat.files("all"))
    assert [p.id for p in back.terracat.products()] == [p.id for p in frame.terracat.products()]
    first, again = next(frame.terracat.products()), next(back.terracat.products())
    assert [f.href for f in again.data] == [f.href for f in first.data]
    assert again.beginningDateTime == first.beginningDateTime


REAL_ITEMS = [
    "search_s2_toc_2026.json",
    "item_s2_toc_2023_36VVR.json",
    "item_s2_toc_2023_38TLK.json",
]


def _real_items(name: str) -> list[dict[str, Any]]:
    """The items of a fixture of ``fixtures/real/stac/``; ``"all"``: of all three in one list."""
    if name == "all":
        return [item for each in REAL_ITEMS for item in _real_items(each)]
    fixture = json.loads((REAL_STAC / name).read_text())
    return fixture["features"] if fixture.get("type") == "FeatureCollection" else [fixture]


def _write_elsewhere(items: list[dict[str, Any]], path: Path, writer: str) -> None:
    """``items`` written by another writer: rustac, the stac-geoparquet package, or that
    package's older GeoDataFrame writer (Planetary Computer's bulk exports: no metadata key,
    ``bbox`` a list; ``numpy_nullable`` is its historic default)."""
    if writer == "rustac":
        rustac.write_sync(str(path), {"type": "FeatureCollection", "features": items})
    elif writer == "stac_geoparquet":
        reader = stac_geoparquet.arrow.parse_stac_items_to_arrow(items)
        stac_geoparquet.arrow.to_parquet(reader, path)
    else:
        backend = writer.removeprefix("legacy-")
        stac_geoparquet.to_geodataframe(items, dtype_backend=backend).to_parquet(path)


def _check_read(frame, items: list[dict[str, Any]], writer: str) -> None:
    """``frame``, read from ``items`` as ``writer`` wrote them, is the frame a STAC search of
    them gives, and its items are theirs but for what Parquet keeps in its own types."""
    expected = _decoded(items)
    # the columns in the order of the file's properties: the items' own, but rustac's order
    if writer == "rustac":
        assert sorted(frame.columns) == sorted(expected.columns)
        frame = frame[list(expected.columns)]
    else:
        assert list(frame.columns) == list(expected.columns)
    assert list(frame["id"]) == [item["id"] for item in items]
    # rustac keeps instants to the millisecond (Terrascope's `created` has microseconds)
    floor = "ms" if writer == "rustac" else None
    assert_geodataframe_equal(
        _scalars(frame, floor), _scalars(expected, floor), check_less_precise=True
    )
    assert frame.terracat.files("all").equals(expected.terracat.files("all"))
    assert len(list(frame.terracat.products())) == len(items)
    for text, original in zip(frame["properties"], items, strict=True):
        item = json.loads(text)
        assert item["bbox"] == pytest.approx(original["bbox"])
        assert list(item["assets"]) == list(original["assets"])
        given = {k: v for k, v in item["properties"].items() if v is not None}
        assert set(given) == {k for k, v in original["properties"].items() if v is not None}
        if "proj:geometry" in given:
            assert shapely.geometry.shape(given["proj:geometry"]).equals(
                shapely.geometry.shape(original["properties"]["proj:geometry"])
            )


@pytest.mark.parametrize("name", REAL_ITEMS)
@pytest.mark.parametrize(
    "writer", ["stac_geoparquet", "rustac", "legacy-numpy_nullable", "legacy-pyarrow"]
)
def test_stac_geoparquet_written_elsewhere_from_real_items_reads_into_the_contract(
    tmp_path, name, writer
):
    items = _real_items(name)
    path = tmp_path / "real.parquet"
    _write_elsewhere(items, path, writer)
    _check_read(terracat.read_parquet(path), items, writer)


def test_items_with_and_without_proj_geometry_read_from_one_file(tmp_path):
    # the 2026 items have proj:geometry, the 2023 ones none: a null the package's reader
    # fails on (rustac and the older writer cannot write these items together at all)
    items = _real_items("all")
    path = tmp_path / "mixed.parquet"
    _write_elsewhere(items, path, "stac_geoparquet")
    _check_read(terracat.read_parquet(path), items, "stac_geoparquet")


@pytest.mark.parametrize("index", ["unnamed", "id"])
def test_a_legacy_file_written_with_its_index_reads_the_items_columns_only(tmp_path, index):
    items = _real_items("all")[1:]  # the 2023 items: the older writer wants the same keys
    written = stac_geoparquet.to_geodataframe(items, dtype_backend="numpy_nullable")
    if index == "unnamed":
        written.index = pd.Index([7, 3])  # not a range: pandas stores it as a column
    else:
        written = written.set_index("id", drop=True)
    path = tmp_path / "indexed.parquet"
    written.to_parquet(path)
    _check_read(terracat.read_parquet(path), items, "legacy-numpy_nullable")


def test_a_legacy_file_of_an_unusable_bbox_is_refused_with_the_file_named(tmp_path):
    (item,) = _real_items("item_s2_toc_2023_36VVR.json")
    item["bbox"] = item["bbox"][:3]
    path = tmp_path / "three.parquet"
    _write_elsewhere([item], path, "legacy-numpy_nullable")
    with pytest.raises(terracat.TerracatError, match=r"three\.parquet.*bbox has \[3\] values"):
        terracat.read_parquet(path)


def _parts(local, directory: Path, counts: list[int]) -> geopandas.GeoDataFrame:
    """A STAC search written as part files of ``counts`` items each (and a Spark-style
    ``_SUCCESS`` marker); the search."""
    frame = _stac_search(local, "cgs-s1-grd-sigma0-l1", limit=sum(counts))
    directory.mkdir()
    (directory / "_SUCCESS").write_text("")
    start = 0
    for n, count in enumerate(counts):
        frame.iloc[start : start + count].terracat.to_stac_geoparquet(
            directory / f"part-{n:05d}.parquet"
        )
        start += count
    return frame


@pytest.mark.parametrize("form", ["directory", "glob"])
def test_a_directory_of_stac_geoparquet_parts_reads_into_the_contract(
    local_catalogue, tmp_path, form
):
    frame = _parts(local_catalogue, tmp_path / "export", [2, 1, 3])
    whole = terracat.read_parquet(frame.terracat.to_stac_geoparquet(tmp_path / "whole.parquet"))
    path = tmp_path / "export" if form == "directory" else tmp_path / "export" / "part-*.parquet"
    back = terracat.read_parquet(path)
    assert list(back["id"]) == list(frame["id"])
    assert_geodataframe_equal(back.drop(columns="properties"), whole.drop(columns="properties"))
    assert back.terracat.files("all").equals(frame.terracat.files("all"))
    report = back.iloc[:2].terracat.download(tmp_path / "out", "data", progress=False)
    assert len(report) > 0 and set(report["status"]) == {"downloaded"}


def test_a_part_that_is_not_parquet_is_named(local_catalogue, tmp_path):
    _parts(local_catalogue, tmp_path / "export", [1, 1])
    (tmp_path / "export" / "part-00001.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(terracat.TerracatError, match=r"part-00001\.parquet"):
        terracat.read_parquet(tmp_path / "export")


def test_a_stac_geoparquet_file_downloads_its_files(local_catalogue, tmp_path):
    path = tmp_path / "s1.stac.parquet"
    _stac_search(local_catalogue, "cgs-s1-grd-sigma0-l1", limit=1).terracat.to_stac_geoparquet(path)
    frame = terracat.read_parquet(path)
    report = frame.terracat.download(tmp_path / "out", "data", progress=False)
    assert len(report) > 0 and set(report["status"]) == {"downloaded"}
    sizes = [Path(p).stat().st_size for p in report["path"]]
    assert sizes == list(frame.terracat.files("data")["length"])


def test_a_product_frames_geoparquet_is_still_read_as_one(local_catalogue, tmp_path):
    frame = _opensearch(local_catalogue).search(S1, limit=2)
    frame.to_parquet(tmp_path / "s1.parquet")
    back = terracat.read_parquet(tmp_path / "s1.parquet")
    assert list(back.columns) == list(frame.columns)
    assert "acquisitionInformation" in back["properties"].iloc[0]


# ---- 4. the command line ------------------------------------------------------------------------


def _run(*args: str, url: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [TERRACAT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TERRACAT_URL": url},
    )
    assert result.returncode == 0, result.stderr
    return result


def test_search_writes_stac_geoparquet_and_an_item_collection(local_catalogue, tmp_path):
    parquet, collection = tmp_path / "s1.stac.parquet", tmp_path / "s1.json"
    for output in (parquet, collection):
        result = _run("search", S1, "--limit", "4", "-o", str(output), url=local_catalogue.url)
        assert f"4 products written to {output}" in result.stdout
    expected = [f["id"].rsplit(":", 1)[-1] for f in local_catalogue.store.collections[S1].products]
    assert list(terracat.read_parquet(parquet)["id"]) == expected[:4]
    written = json.loads(collection.read_text())
    assert written["type"] == "FeatureCollection"
    assert [item["id"] for item in written["features"]] == expected[:4]
    assert all(item["stac_version"] == "1.1.0" for item in written["features"])
    # the JSON output keeps the original properties as an object (only Parquet has them as text)
    assert all(
        isinstance(i["properties"][OPENSEARCH_PROPERTIES], dict) for i in written["features"]
    )
