"""Partitioned search and distributed download, on a real dask.distributed cluster of processes.

The search tests run over both faces of the local catalogue: its OpenSearch and its STAC API.
"""

from __future__ import annotations

from collections.abc import Iterator

import dask
import dask_geopandas
import pytest

import terracat
import terracat.dask
from terracat import Catalogue, ParameterParserException, ProductDownloadException
from terracat.server import LocalCatalogue, Settings
from terracat.server.content import read

S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
TOC = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"
NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
FACES = ("opensearch", "stac")


@pytest.fixture(scope="module")
def shallow() -> Iterator[LocalCatalogue]:
    """A catalogue that pages 1,000 results deep: the plain search of TOC needs windows."""
    with LocalCatalogue(settings=Settings(max_depth=1000)) as local:
        yield local


def _face(local: LocalCatalogue, face: str) -> Catalogue:
    """The local catalogue through one of its faces."""
    config = local.config()
    if face == "stac":
        config.catalogue_url, config.protocol = local.url + "stac/", "stac"
    return Catalogue(config)


def _stored_ids(local: LocalCatalogue, collection: str, face: str) -> set[str]:
    """The ids the face gives the stored products (a STAC item's is the urn's last part)."""
    ids = {f["id"] for f in local.store.collections[collection].products}
    return ids if face == "opensearch" else {i.rpartition(":")[2] for i in ids}


def _assert_same_dtypes(frame, plain, face: str) -> None:
    """The partitioned frame's dtypes are the plain search's: on STAC both type a number as a
    float unless its field is an integer by definition (JSON numbers carry no type, and a
    partition's sample of whole numbers says nothing of the next one's)."""
    assert dict(frame.dtypes) == dict(plain.dtypes), face


@pytest.mark.parametrize("face", FACES)
def test_partitioned_search_equals_the_plain_one_on_a_cluster(shallow, dask_client, face):
    catalogue = _face(shallow, face)
    ddf = terracat.dask.search(TOC, catalogue=catalogue, partition_size=700)
    assert isinstance(ddf, dask_geopandas.GeoDataFrame)
    assert ddf.npartitions >= 4400 // 700
    sizes = ddf.map_partitions(len).compute()
    assert sizes.max() <= 700
    frame = ddf.compute()
    plain = catalogue.search(TOC, split=True)
    assert frame["id"].is_unique and len(frame) == len(plain) == len(
        shallow.store.collections[TOC].products
    )
    assert set(frame["id"]) == set(plain["id"])
    assert list(frame.columns) == list(plain.columns)
    assert (frame.dtypes == ddf.dtypes).all()  # every partition as declared
    frame = frame.set_index("id").loc[plain["id"]].reset_index()
    _assert_same_dtypes(frame, plain, face)


@pytest.mark.parametrize("face", FACES)
def test_partitioned_search_with_filters_and_the_default_scheduler(shallow, face):
    catalogue = _face(shallow, face)
    query = {"start": "2021-03-01", "end": "2021-09-30", "bbox": [4.0, 50.5, 4.5, 51.0]}
    frame = terracat.dask.search(S1, catalogue=catalogue, partition_size=50, **query).compute()
    assert set(frame["id"]) == set(catalogue.search(S1, **query)["id"])
    assert frame["id"].is_unique


@pytest.mark.parametrize("face", FACES)
def test_partitions_whose_numbers_differ_from_the_samples_fit_its_dtypes(shallow, face):
    # NDVI's first item has a cloud cover of 0, later ones fractions: a sample's whole numbers
    # must not make the column an integer one that later partitions cannot be cast to
    catalogue = _face(shallow, face)
    query = {"start": "2021-06-01", "end": "2021-07-31"}
    ddf = terracat.dask.search(NDVI, catalogue=catalogue, partition_size=20, **query)
    assert ddf.npartitions > 5
    with dask.config.set(scheduler="sync"):
        frame = ddf.compute()
    plain = catalogue.search(NDVI, **query)
    assert sorted(frame["id"]) == sorted(plain["id"]) and frame["id"].is_unique
    assert (frame.dtypes == ddf.dtypes).all()
    assert frame["cloudCover"].dtype == "float64" and (frame["cloudCover"] % 1 != 0).any()


@pytest.mark.parametrize("face", FACES)
def test_partitions_take_the_hrefs_the_search_asks_for(shallow, face):
    catalogue = _face(shallow, face)
    query = {"start": "2021-06-01", "end": "2021-06-20", "accessedFrom": "MEP"}
    with dask.config.set(scheduler="sync"):
        frame = terracat.dask.search(NDVI, catalogue=catalogue, partition_size=20, **query)
        frame = frame.compute()
    plain = catalogue.search(NDVI, **query)
    hrefs = {e["href"] for files in frame["data"] for e in files}
    assert hrefs == {e["href"] for files in plain["data"] for e in files}
    assert all(href.startswith("file://") for href in hrefs)


@pytest.mark.filterwarnings("ignore:The inplace keyword in GeoDataFrame")  # inside dask's reader
@pytest.mark.parametrize("face", FACES)
def test_a_partitioned_search_writes_a_geoparquet_dataset(shallow, dask_client, tmp_path, face):
    catalogue = _face(shallow, face)
    ddf = terracat.dask.search(S1, catalogue=catalogue, partition_size=300)
    ddf.to_parquet(tmp_path / "s1", write_index=False)
    assert len(list((tmp_path / "s1").glob("*.parquet"))) == ddf.npartitions
    back = terracat.read_parquet(tmp_path / "s1")
    assert set(back["id"]) == _stored_ids(shallow, S1, face)
    assert back["data"].iloc[0][0]["href"].startswith(shallow.url)
    assert len(dask_geopandas.read_parquet(tmp_path / "s1").compute()) == len(back)


def test_a_distributed_download_is_byte_exact_with_one_report(shallow, dask_client, tmp_path):
    catalogue = Catalogue(shallow.config())
    frame = catalogue.search(S1, limit=12)
    report = terracat.dask.download(
        frame, tmp_path, "data,previews", catalogue=catalogue, partitions=4
    )
    assert len(report) == sum(
        len(d) + len(p) for d, p in zip(frame["data"], frame["previews"], strict=True)
    )
    assert set(report["status"]) == {"downloaded"}
    for row in report.itertuples():
        path = "/" + row.href.split("/", 3)[3]
        with open(row.path, "rb") as handle:
            assert handle.read() == read(path, 0, shallow.store.files[path].length)
    again = terracat.dask.download(
        terracat.dask.search(S1, catalogue=catalogue, partition_size=300).partitions[0],
        tmp_path / "b",
        catalogue=catalogue,
    )
    assert (again["status"] == "downloaded").all()


def test_a_distributed_download_raises_after_reporting_failures(shallow, dask_client, tmp_path):
    catalogue = Catalogue(shallow.config())
    protected = catalogue.search(TOC, limit=2)
    with pytest.raises(ProductDownloadException, match="failed"):
        terracat.dask.download(protected, tmp_path, catalogue=catalogue)
    report = terracat.dask.download(
        protected, tmp_path, catalogue=catalogue, raise_on_failure=False
    )
    assert (report["status"] == "failed").all()


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize(
    "arguments", [{"partition_size": 0}, {"limit": 5}, {"split": True}, {"bbox": [1, 2, 3]}]
)
def test_bad_arguments_are_refused(shallow, arguments, face):
    with pytest.raises(ParameterParserException):
        terracat.dask.search(S1, catalogue=_face(shallow, face), **arguments)


def test_a_signed_in_distributed_download_fetches_protected_files(shallow, dask_client, tmp_path):
    catalogue = Catalogue(shallow.config()).authenticate_non_interactive("demo", "demo")
    protected = catalogue.search(TOC, limit=2)
    report = terracat.dask.download(protected, tmp_path, catalogue=catalogue, partitions=2)
    assert (report["status"] == "downloaded").all()
    assert len(report) == sum(len(links) for links in protected["data"])
