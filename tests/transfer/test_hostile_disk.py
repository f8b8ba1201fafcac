"""Downloads onto hostile disks and from servers that lie about the bytes they send.

Every promise is asserted against real sockets (a :class:`~tests.hostile.HostileServer` or the
local catalogue) and a real filesystem: no byte outside the target, byte-exact files, nothing
partial under a final name, and failures that are terracat errors naming the file or href.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

import terracat
from terracat import Catalogue, CatalogueConfig, ProductDownloadException
from terracat.server import LocalCatalogue
from terracat.server.content import read
from terracat.transfer import PARTIAL_SUFFIX, FileTask, Transport, download, partial_path
from terracat.transfer.layout import file_tasks

from ..hostile import HostileServer, Request, send

BODY = bytes(range(256)) * 40  # 10240 bytes, no two 256-byte blocks at a wrong offset alike
NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
TERRACAT = str(Path(sys.executable).parent / "terracat")


# ---- helpers ----------------------------------------------------------------------------------


def _ranged(body: bytes = BODY):
    """A handler that serves ``body`` and honours ``Range`` as a faithful server does."""

    def handler(request: Request, connection) -> None:
        wanted = request.headers.get("range")
        if not wanted:
            send(connection, 200, body)
            return
        start = int(wanted.removeprefix("bytes=").rstrip("-"))
        if start >= len(body):
            send(connection, 416, b"", {"Content-Range": f"bytes */{len(body)}"})
            return
        headers = {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}
        send(connection, 206, body[start:], headers)

    return handler


def _transport(server: HostileServer, *, retries: int = 1, link: bool = False) -> Transport:
    config = CatalogueConfig.from_url(server.url("/"))
    config.retries = retries
    config.download_timeout = 2
    return Transport(requests.Session(), config, link=link)


def _fetch(
    transport: Transport,
    tasks: list[FileTask],
    *,
    raise_on_failure: bool = False,
    overwrite: bool = False,
) -> pd.DataFrame:
    try:
        return download(
            tasks,
            transport,
            workers=1,
            progress=False,
            overwrite=overwrite,
            raise_on_failure=raise_on_failure,
        )
    finally:
        transport.session.close()
        transport.close()


def _task(server: HostileServer, target: Path, length: int | None = len(BODY)) -> FileTask:
    return FileTask("urn:eop:VITO:p", "data", server.url(f"/files/{target.name}"), length, target)


def _partials(root: Path) -> list[Path]:
    return sorted(root.rglob(f"*{PARTIAL_SUFFIX}"))


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())


def _served(local: LocalCatalogue, href: str) -> bytes:
    path = "/" + href.split("/", 3)[3]
    return read(path, 0, local.store.files[path].length)


# ---- 1. symbolic links at the partial and final names ------------------------------------------


def test_a_symlink_planted_at_the_partial_name_is_never_written_through(tmp_path):
    outside = tmp_path / "outside"
    outside.write_bytes(b"precious")
    target = tmp_path / "target" / "file.tif"
    target.parent.mkdir()
    os.symlink(outside, target.with_name(target.name + PARTIAL_SUFFIX))
    with HostileServer(_ranged()) as server:
        report = _fetch(_transport(server), [_task(server, target)])
    assert report["status"].tolist() == ["downloaded"]
    assert outside.read_bytes() == b"precious"
    assert not target.is_symlink() and target.read_bytes() == BODY
    assert _partials(tmp_path) == []


def test_a_symlink_at_the_final_name_is_not_taken_for_a_complete_file(tmp_path):
    outside = tmp_path / "outside"
    outside.write_bytes(b"x" * len(BODY))  # the catalogued size: it would pass for complete
    target = tmp_path / "target" / "file.tif"
    target.parent.mkdir()
    os.symlink(outside, target)
    with HostileServer(_ranged()) as server:
        report = _fetch(_transport(server), [_task(server, target)])
    assert report["status"].tolist() == ["downloaded"]
    assert outside.read_bytes() == b"x" * len(BODY)
    assert not target.is_symlink() and target.read_bytes() == BODY


def test_a_directory_at_the_final_name_fails_its_row_naming_the_file(tmp_path):
    target = tmp_path / "target" / "file.tif"
    target.mkdir(parents=True)
    with HostileServer(_ranged()) as server:
        report = _fetch(_transport(server), [_task(server, target)])
        with pytest.raises(ProductDownloadException, match=re.escape("file.tif")):
            _fetch(_transport(server), [_task(server, target)], raise_on_failure=True)
    assert report["status"].tolist() == ["failed"]
    assert str(target) in report["error"].iloc[0]
    assert target.is_dir()


# ---- 2. two runs at once -------------------------------------------------------------------

CONCURRENT_CLIENT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import terracat

    url, target, go, collection, limit = sys.argv[1:6]
    catalogue = terracat.Catalogue(terracat.CatalogueConfig.from_url(url))
    frame = catalogue.search(collection, limit=int(limit))
    Path(f"{go}.{os.getpid()}").touch()  # ready: both start transferring together
    while not Path(go).exists():
        time.sleep(0.005)
    report = frame.terracat.download(target, progress=False, raise_on_failure=False)
    print(report[["path", "status", "error"]].to_json(orient="records"))
    """
)
CONCURRENT_PRODUCTS = 3  # x 3 data files of about 90 kB
CONCURRENT_BANDWIDTH = 100_000.0  # bytes/s per connection: about a second per file


def test_two_runs_into_the_same_directory_at_once_both_end_with_exact_files(
    local_catalogue, faults, tmp_path
):
    target, go = tmp_path / "target", tmp_path / "go"
    faults.set(bandwidth=CONCURRENT_BANDWIDTH, routes={"download"})
    before = len(local_catalogue.app.downloads)
    command = [sys.executable, "-c", CONCURRENT_CLIENT, local_catalogue.url, str(target), str(go)]
    command += [S1, str(CONCURRENT_PRODUCTS)]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("go.*"))) < 2 and time.monotonic() < deadline:
            assert all(run.poll() is None for run in runs), runs[0].stderr.read()
            time.sleep(0.01)
        go.touch()
        outputs = [run.communicate(timeout=60) for run in runs]
    finally:
        for run in runs:
            run.kill()
    for run, (_, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0 and "Traceback" not in stderr, stderr[-2000:]
    reports = [pd.DataFrame(json.loads(stdout)) for stdout, _ in outputs]
    files = CONCURRENT_PRODUCTS * 3
    assert [len(report) for report in reports] == [files, files]
    both = pd.concat(reports).groupby("path")["status"].apply(sorted)
    # each file transferred by one run; the other found it complete (it waited for the lock)
    assert both.map(lambda pair: pair[1] == "skipped" and pair[0] == "downloaded").all(), both
    frame = Catalogue(local_catalogue.config()).search(S1, limit=CONCURRENT_PRODUCTS)
    for row in frame.terracat.files("data").itertuples():
        path = target / row.product.rsplit(":", 1)[1] / row.href.rsplit("/", 1)[1]
        assert path.read_bytes() == _served(local_catalogue, row.href), path
    assert _partials(target) == []
    assert len(local_catalogue.app.downloads) - before == files


# ---- 3. a body cut without Content-Length ---------------------------------------------------


def _cut_without_length(request: Request, connection) -> None:
    send(connection, 200, BODY[: len(BODY) // 2], length=False)  # the close ends the body


def test_a_body_cut_without_content_length_is_a_failed_row_with_its_partial_kept(tmp_path):
    target = tmp_path / "file.tif"
    with HostileServer(_cut_without_length) as server:
        report = _fetch(_transport(server), [_task(server, target)])
    assert report["status"].tolist() == ["failed"]
    assert "/files/file.tif" in report["error"].iloc[0]
    assert not target.exists()
    (partial,) = _partials(tmp_path)
    assert partial.read_bytes() == BODY[: len(BODY) // 2]


def test_a_kept_partial_is_resumed_by_a_later_run_to_the_exact_file(tmp_path):
    target = tmp_path / "file.tif"
    with HostileServer(_cut_without_length) as server:
        _fetch(_transport(server, retries=0), [_task(server, target)])
    with HostileServer(_ranged()) as server:
        report = _fetch(_transport(server), [_task(server, target)])
        assert server.requests[0].headers["range"] == f"bytes={len(BODY) // 2}-"
    assert report["status"].tolist() == ["resumed"]
    assert target.read_bytes() == BODY and _partials(tmp_path) == []


def test_a_server_sending_more_than_the_catalogued_length_saves_nothing(tmp_path):
    def longer(request: Request, connection) -> None:
        send(connection, 200, BODY + b"trailing junk", length=False)

    target = tmp_path / "file.tif"
    with HostileServer(longer) as server:
        report = _fetch(_transport(server), [_task(server, target)])
    assert report["status"].tolist() == ["failed"]
    assert "more than" in report["error"].iloc[0]
    assert _files(tmp_path) == []


# ---- 4. partial files that cannot be right ----------------------------------------------------


@pytest.mark.parametrize("length", [len(BODY), None], ids=["catalogued", "unknown length"])
def test_a_partial_longer_than_the_file_is_discarded_and_the_file_fetched_again(tmp_path, length):
    target = tmp_path / "file.tif"
    target.with_name(target.name + PARTIAL_SUFFIX).write_bytes(b"junk" * len(BODY))
    with HostileServer(_ranged()) as server:
        report = _fetch(_transport(server), [_task(server, target, length)])
        assert "range" not in server.requests[-1].headers
    assert report["status"].tolist() == ["downloaded"]
    assert target.read_bytes() == BODY and _partials(tmp_path) == []


def test_a_206_that_does_not_start_where_it_was_asked_starts_over(tmp_path):
    def whole_range(request: Request, connection) -> None:
        headers = {"Content-Range": f"bytes 0-{len(BODY) - 1}/{len(BODY)}"}
        send(connection, 206 if "range" in request.headers else 200, BODY, headers)

    target = tmp_path / "file.tif"
    target.with_name(target.name + PARTIAL_SUFFIX).write_bytes(BODY[:1000])
    with HostileServer(whole_range) as server:
        report = _fetch(_transport(server), [_task(server, target)])
        assert [("range" in r.headers) for r in server.requests] == [True, False]
    assert report["status"].tolist() == ["downloaded"]
    assert target.read_bytes() == BODY and _partials(tmp_path) == []


# ---- 5. encoded answers ---------------------------------------------------------------------


def _gzipping(request: Request, connection) -> None:
    """Encodes whatever it was asked: a 206 of the encoded whole file for a Range, too."""
    encoded = gzip.compress(BODY)
    headers = {"Content-Encoding": "gzip"}
    if "range" in request.headers:
        start = int(request.headers["range"].removeprefix("bytes=").rstrip("-"))
        headers["Content-Range"] = f"bytes {start}-{len(BODY) - 1}/{len(BODY)}"
        send(connection, 206, encoded, headers)
    else:
        send(connection, 200, encoded, headers)


@pytest.mark.parametrize("length", [len(BODY), None], ids=["catalogued", "unknown length"])
def test_a_download_asks_for_identity_and_saves_a_gzipped_answer_decoded(tmp_path, length):
    target = tmp_path / "file.tif"
    with HostileServer(_gzipping) as server:
        report = _fetch(_transport(server), [_task(server, target, length)])
        assert server.requests[0].headers["accept-encoding"] == "identity"
    assert report["status"].tolist() == ["downloaded"]
    assert target.read_bytes() == BODY


def test_an_encoded_answer_to_a_resumed_range_starts_over(tmp_path):
    target = tmp_path / "file.tif"
    target.with_name(target.name + PARTIAL_SUFFIX).write_bytes(BODY[:1000])
    with HostileServer(_gzipping) as server:
        report = _fetch(_transport(server), [_task(server, target)])
        assert [("range" in r.headers) for r in server.requests] == [True, False]
    assert report["status"].tolist() == ["downloaded"]
    assert target.read_bytes() == BODY and _partials(tmp_path) == []


# ---- 6. long names and full disks -----------------------------------------------------------


def test_a_legal_250_character_name_downloads_with_a_partial_name_that_fits(tmp_path):
    target = tmp_path / ("a" * 246 + ".tif")
    seen: list[list[str]] = []

    def watching(request: Request, connection) -> None:
        seen.append([p.name for p in _partials(tmp_path)])  # the partial, while it is written
        _ranged()(request, connection)

    target.with_name("a" * 246 + ".tiff").write_bytes(b"")  # a neighbour sharing the head
    with HostileServer(watching) as server:
        report = _fetch(_transport(server), [_task(server, target)])
    assert report["status"].tolist() == ["downloaded"], report["error"].tolist()
    assert target.read_bytes() == BODY and _partials(tmp_path) == []
    ((partial,),) = seen
    assert partial.endswith(PARTIAL_SUFFIX) and len(partial) <= 255


def test_a_name_the_filesystem_refuses_fails_its_row_naming_the_file(tmp_path):
    target = tmp_path / ("b" * 300 + ".tif")
    with HostileServer(_ranged()) as server:
        report = _fetch(_transport(server), [_task(server, target)])
        with pytest.raises(ProductDownloadException, match=re.escape("bbbb.tif")):
            _fetch(_transport(server), [_task(server, target)], raise_on_failure=True)
        assert server.requests == []  # refused before anything was fetched for it
    assert report["status"].tolist() == ["failed"]
    assert str(target) in report["error"].iloc[0] and "name too long" in report["error"].iloc[0]
    assert _files(tmp_path) == []


NAME_MAX = 255  # ext4, tmpfs, xfs, btrfs: where the test suite runs
FILE_NAMES = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="/\x00"), min_size=1
).filter(lambda name: name not in (".", "..") and len(name.encode()) <= NAME_MAX)


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("names")


@given(FILE_NAMES, FILE_NAMES)
def test_partial_names_fit_the_filesystem_end_in_the_suffix_and_stay_apart(directory, one, two):
    partials = [partial_path(directory / name) for name in (one, two)]
    for partial in partials:
        assert len(partial.name.encode()) <= NAME_MAX and partial.name.endswith(PARTIAL_SUFFIX)
        assert partial.parent == directory
    assert (partials[0] == partials[1]) == (one == two)


FULL_DISK_CLIENT = textwrap.dedent(
    """
    import json, resource, signal, sys
    from pathlib import Path
    import requests
    from terracat import CatalogueConfig
    from terracat.transfer import FileTask, Transport, download

    href, target, length, limit, raising = sys.argv[1:6]
    config = CatalogueConfig.from_url(href.rsplit("/", 1)[0] + "/")
    config.retries = 0
    transport = Transport(requests.Session(), config)
    task = FileTask("urn:eop:VITO:p", "data", href, int(length), Path(target))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
    try:
        report = download(
            [task], transport, workers=1, progress=False, overwrite=False,
            raise_on_failure=raising == "raise",
        )
        print(json.dumps(report[["status", "error"]].to_dict("records")))
    except Exception as error:
        print(json.dumps({"raised": type(error).__name__, "error": str(error)}))
    """
)


@pytest.mark.parametrize("raising", ["report", "raise"])
def test_a_full_disk_is_a_failed_row_naming_the_file(tmp_path, raising):
    target = tmp_path / "file.tif"
    with HostileServer(_ranged()) as server:
        command = [sys.executable, "-c", FULL_DISK_CLIENT, server.url("/files/file.tif")]
        command += [str(target), str(len(BODY)), "4096", raising]
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    outcome = json.loads(result.stdout)
    if raising == "raise":
        assert outcome["raised"] == "ProductDownloadException"
    else:
        ((outcome,),) = [outcome]
        assert outcome["status"] == "failed"
    assert str(target) in outcome["error"] and "too large" in outcome["error"].lower()
    assert not target.exists()
    (partial,) = _partials(tmp_path)  # kept: what was written is right, for a resume
    assert BODY.startswith(partial.read_bytes())


# ---- 7. redirects off http(s) -----------------------------------------------------------------


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/file.tif"])
def test_a_redirect_off_http_is_refused_naming_the_href_and_nothing_is_written(tmp_path, location):
    def redirecting(request: Request, connection) -> None:
        send(connection, 302, b"", {"Location": location})

    target = tmp_path / "file.tif"
    with HostileServer(redirecting) as server:
        task = _task(server, target)
        with pytest.raises(ProductDownloadException, match=re.escape("/files/file.tif")) as raised:
            _fetch(_transport(server), [task], raise_on_failure=True)
        report = _fetch(_transport(server), [task])
    assert "redirected" in str(raised.value)
    assert report["status"].tolist() == ["failed"]
    assert _files(tmp_path) == []


# ---- 8. one unsafe product or file name ---------------------------------------------------


@pytest.fixture(scope="module")
def ndvi(local_catalogue: LocalCatalogue) -> pd.DataFrame:
    return Catalogue(local_catalogue.config()).search(NDVI, limit=3)


def _with_unsafe_id(frame: pd.DataFrame) -> pd.DataFrame:
    unsafe = frame.copy()
    unsafe["id"] = ["urn:eop:VITO:..", *frame["id"].iloc[1:]]
    return unsafe


def test_an_unsafe_product_id_fails_its_own_row_and_the_others_download(ndvi, tmp_path):
    report = _with_unsafe_id(ndvi).terracat.download(
        tmp_path, progress=False, raise_on_failure=False
    )
    failed = report[report["product"] == "urn:eop:VITO:.."]
    assert len(failed) == len(ndvi["data"].iloc[0]) and (failed["status"] == "failed").all()
    assert failed["error"].str.contains("cannot be used").all()
    others = report.drop(failed.index)
    assert len(others) == 2 and (others["status"] == "downloaded").all()
    assert all(Path(path).is_file() for path in others["path"])


def test_an_unsafe_product_id_is_raised_after_the_others_ran(ndvi, tmp_path):
    with pytest.raises(ProductDownloadException, match="cannot be used"):
        _with_unsafe_id(ndvi).terracat.download(tmp_path / "out", progress=False)
    downloaded = _files(tmp_path)  # the others, and nothing beside the target directory
    assert len(downloaded) == 2 and all(p.is_relative_to(tmp_path / "out") for p in downloaded)


def test_an_unsafe_file_name_fails_its_own_row(ndvi, tmp_path):
    frame = ndvi.copy()
    link = dict(frame["data"].iloc[0][0])
    link["href"] = link["href"].rsplit("/", 1)[0] + "/..%2F..%2Fescape.tif"
    frame["data"] = [[link], *frame["data"].iloc[1:]]
    report = frame.terracat.download(tmp_path / "out", progress=False, raise_on_failure=False)
    assert report["status"].tolist() == ["failed", "downloaded", "downloaded"]
    assert "cannot be used" in report["error"].iloc[0]
    assert sorted(p.name for p in tmp_path.rglob("*.tif")) == sorted(
        Path(h).name for h in report["href"].iloc[1:]
    )


def test_the_cli_downloads_the_others_and_reports_the_unsafe_product(
    local_catalogue, ndvi, tmp_path
):
    export = tmp_path / "unsafe.parquet"
    _with_unsafe_id(ndvi).to_parquet(export)
    result = subprocess.run(
        [TERRACAT, "download", "--from", str(export), str(tmp_path / "out"), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TERRACAT_URL": local_catalogue.url},
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "2 downloaded" in result.stdout and "1 failed" in result.stdout
    assert "cannot be used" in result.stderr
    assert terracat.read_parquet(export)["id"].iloc[0] == "urn:eop:VITO:.."


# ---- one retry budget per file ------------------------------------------------------------


def _always(status: int):
    def handler(request: Request, connection) -> None:
        send(connection, status, b"busy", {"Retry-After": "0"})

    return handler


def _silent(request: Request, connection) -> None:
    time.sleep(3)  # the client's 0.5 s timeout passes first


@pytest.mark.parametrize(
    ("handler", "message"), [(_always(503), "HTTP 503"), (_silent, "2 attempts")]
)
def test_a_download_retries_within_one_budget_whichever_layer_retries(tmp_path, handler, message):
    """Retries = 1 is two requests in all, though urllib3 and the downloader both retry."""
    from terracat._http import make_session

    with HostileServer(handler) as server:
        config = CatalogueConfig.from_url(server.url("/"))
        config.retries, config.download_timeout = 1, 0.5
        transport = Transport(make_session(config, pool_size=2), config)
        began = time.monotonic()
        report = _fetch(transport, [_task(server, tmp_path / "a.bin")])
    assert report["status"].tolist() == ["failed"]
    assert message in report["error"].iloc[0]
    assert len(server.requests) == 2
    assert time.monotonic() - began < 5


def test_odata_media_urls_are_named_by_their_node_and_all_fetched(tmp_path):
    """The Data Space's https alternates end in ``/$value``: named by that, the files of a product
    would share one name, and all but one be skipped as the same file listed twice."""
    nodes = ["B02.jp2", "B03.jp2", "MTD_MSIL2A.xml"]
    bodies = {
        f"/odata/v1/Products(p1)/Nodes(S2.SAFE)/Nodes({n})/$value": n.encode() * 100 for n in nodes
    }
    bodies["/odata/v1/Products('p2')/$value"] = b"zip" * 100

    def handler(request: Request, connection) -> None:
        send(connection, 200, bodies[unquote(request.target)])

    with HostileServer(handler) as server:
        links = {
            "data": [{"href": server.url(path), "length": len(b)} for path, b in bodies.items()]
        }
        tasks = file_tasks([("p1", links)], tmp_path, ["data"])
        assert [task.target.name for task in tasks] == [*nodes, "p2"]
        report = _fetch(_transport(server), tasks)
    assert list(report["status"]) == ["downloaded"] * 4
    for task, body in zip(tasks, bodies.values(), strict=True):
        assert task.target.read_bytes() == body


def test_two_files_of_one_name_are_a_failed_row_not_a_silent_skip(tmp_path):
    """Different hrefs that would write one path: the first is fetched, the second is a failed
    row naming both (it was skipped without a word); one href signed twice stays one file."""
    with HostileServer(_ranged()) as server:
        first, second = server.url("/a/B02.tif"), server.url("/b/B02.tif")
        links = {
            "data": [{"href": first}, {"href": second}],
            "alternates": [{"href": first + "?signature=2"}],
        }
        tasks = file_tasks([("p1", links)], tmp_path, ["data", "alternates"])
        report = _fetch(_transport(server), tasks)
    assert report["status"].tolist() == ["downloaded", "failed"]
    assert "B02.tif" in report["error"].iloc[1] and first in report["error"].iloc[1]
    assert (tmp_path / "p1" / "B02.tif").read_bytes() == BODY
