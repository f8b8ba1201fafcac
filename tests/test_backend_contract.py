"""What every backend must give, whatever protocol it speaks: the frame contract, the views, a
GeoParquet round trip and downloads. One suite, parametrised by backend (``protocols.BACKENDS``);
a new protocol joins by adding its catalogue to ``CATALOGUES``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas
import pandas as pd
import pytest

import terracat
from terracat.frame import FILE_COLUMNS
from terracat.frame.contract import TIME_COLUMNS
from terracat.frame.files import FILE_LIST_DTYPE
from terracat.protocols import BACKENDS
from terracat.server import LocalCatalogue

# The same demo products through each protocol's face of the local catalogue.
CATALOGUES: dict[str, Callable[[LocalCatalogue], terracat.CatalogueConfig]] = {
    "opensearch": lambda local: local.config(),
    "stac": lambda local: _stac(local),
}
NDVI = {"opensearch": "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2", "stac": "terrascope-s2-ndvi-v2"}
WINDOW = {"start": "2021-07-01", "end": "2021-07-15", "tileId": "31UFS"}


def _stac(local: LocalCatalogue) -> terracat.CatalogueConfig:
    config = local.config()
    config.catalogue_url = local.url + "stac/"
    config.protocol = "stac"
    return config


def test_every_backend_is_under_contract():
    assert set(CATALOGUES) == set(BACKENDS)


@pytest.fixture(params=sorted(CATALOGUES))
def backend(request, local_catalogue) -> tuple[str, terracat.Catalogue]:
    config = CATALOGUES[request.param](local_catalogue)
    catalogue = terracat.Catalogue(config)
    assert catalogue.backend.name == request.param
    return request.param, catalogue


@pytest.fixture
def frame(backend) -> geopandas.GeoDataFrame:
    name, catalogue = backend
    found = catalogue.search(NDVI[name], **WINDOW)
    assert len(found) > 3
    return found


def test_the_frame_has_the_column_contract(frame):
    assert isinstance(frame, geopandas.GeoDataFrame) and frame.crs == "EPSG:4326"
    assert frame["id"].dtype == "string" and frame["id"].is_unique
    assert frame["properties"].dtype == "string"
    for name in ("beginningDateTime", "endingDateTime"):
        assert str(frame[name].dtype) == "datetime64[ms, UTC]"
    for name in set(TIME_COLUMNS) & set(frame.columns):
        assert str(frame[name].dtype) == "datetime64[ms, UTC]", name
    for kind in FILE_COLUMNS:
        assert frame[kind].dtype == FILE_LIST_DTYPE, kind
    assert frame["cloudCover"].dtype == "float64" and frame["tileId"].dtype == "string"
    assert set(frame["tileId"]) == {"31UFS"}
    assert frame.geometry.notna().all() and frame.geometry.is_valid.all()
    assert frame.query("cloudCover < 101").shape[0] == len(frame)


def test_an_empty_result_takes_the_query_written_for_a_full_one(backend):
    name, catalogue = backend
    empty = catalogue.search(NDVI[name], start="1990-01-01", end="1990-01-02")
    assert len(empty) == 0 and empty.crs == "EPSG:4326"
    query = "cloudCover < 10 and tileId == '31UFS' and orbitDirection == 'ASCENDING'"
    assert len(empty.query(f"{query} and relativeOrbitNumber == 8 and productType == 'x'")) == 0
    assert empty["cloudCover"].dtype == "float64" and empty["tileId"].dtype == "string"


def test_the_frame_counts_and_pages_as_one_result(backend, frame):
    name, catalogue = backend
    assert catalogue.count(NDVI[name], **WINDOW) == len(frame)
    assert list(catalogue.search(NDVI[name], limit=2, **WINDOW)["id"]) == list(frame["id"][:2])


def test_views_of_the_frame_are_the_lazy_views(backend, frame):
    name, catalogue = backend
    from_frame = list(frame.terracat.products())
    lazy = list(catalogue.get_products(NDVI[name], **WINDOW))
    assert [p.id for p in from_frame] == [p.id for p in lazy] == list(frame["id"])
    for ours, theirs in zip(from_frame, lazy, strict=True):
        assert ours.beginningDateTime == theirs.beginningDateTime
        assert ours.beginningDateTime.tzinfo is None  # naive UTC, as the reference
        assert ours.data == theirs.data and ours.data
        assert ours.properties == theirs.properties
        assert ours.geometry.equals(theirs.geometry)


def test_collection_views_are_the_catalogues_collections(backend):
    name, catalogue = backend
    views = list(catalogue.get_collections())
    frame = catalogue.collections()
    assert [c.id for c in views] == list(frame["id"])
    assert NDVI[name] in {c.id for c in views}
    assert all(isinstance(c, terracat.Collection) for c in views)


def test_a_parquet_round_trip_keeps_the_frame_and_its_views(frame, tmp_path: Path):
    frame.to_parquet(tmp_path / "frame.parquet")
    back = terracat.read_parquet(tmp_path / "frame.parquet")
    pd.testing.assert_frame_equal(
        pd.DataFrame(back.drop(columns="geometry")), pd.DataFrame(frame.drop(columns="geometry"))
    )
    assert back.geometry.geom_equals(frame.geometry).all()
    assert [p.data for p in back.terracat.products()] == [p.data for p in frame.terracat.products()]


def test_downloads_of_the_frame_are_exact_and_laid_out_as_the_reference(frame, tmp_path: Path):
    chosen = frame.head(2)
    report = chosen.terracat.download(tmp_path, "data", progress=False)
    assert (report["status"] == "downloaded").all()
    expected = chosen.terracat.files("data")
    assert len(report) == len(expected)
    for row in report.itertuples():
        path = Path(row.path)
        assert path.parent.name == row.product.rsplit(":", 1)[-1]
        assert path.stat().st_size == row.bytes > 0
    assert int(report["bytes"].sum()) == chosen.terracat.total_size("data")
