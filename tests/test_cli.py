"""The ``terracat`` command, through its real entry point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import geopandas
import pandas as pd
import pytest
import requests

import terracat

TERRACAT = str(Path(sys.executable).parent / "terracat")
NDVI = "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2"
TOC = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"
S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"


def test_serve_prints_its_url_first_and_answers_like_the_catalogue():
    with subprocess.Popen(
        [TERRACAT, "serve", "--demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        _check_serving(process)
    assert process.returncode == 0


def _check_serving(process: subprocess.Popen) -> None:
    try:
        first = process.stdout.readline().strip()
        assert first.startswith("serving http://127.0.0.1:")
        url = first.split(" ")[1]
        assert url.endswith("/") and f"{url}stac/ (STAC API)" in first
        page = requests.get(
            f"{url}products",
            params={"collection": "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2", "count": 2},
            timeout=30,
        ).json()
        assert page["type"] == "FeatureCollection" and len(page["features"]) == 2
        assert page["features"][0]["properties"]["links"]["data"][0]["href"].startswith(url)
        landing = requests.get(f"{url}stac/", timeout=30).json()
        assert landing["type"] == "Catalog" and landing["conformsTo"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def _ignoring_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts a background command


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_stops_cleanly_on_sigint_and_sigterm_even_started_in_the_background(stop):
    with subprocess.Popen(
        [TERRACAT, "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=_ignoring_sigint,
    ) as process:
        try:
            url = process.stdout.readline().split(" ")[1]
            assert requests.get(f"{url}stac/", timeout=30).ok
            process.send_signal(stop)
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()


def test_serve_rejects_a_bad_fault_knob_in_one_line():
    result = subprocess.run(
        [TERRACAT, "serve", "--port", "0", "--error-rate", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "error_rate must be within 0 and 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_runs_offline_end_to_end():
    result = subprocess.run([TERRACAT, "demo"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2" in result.stdout
    out = Path(result.stdout.strip().rsplit("outputs in ", 1)[1])
    assert (out / "footprints.png").stat().st_size > 10_000
    assert "<html" in (out / "footprints.html").read_text()[:500].lower()
    clear = terracat.read_parquet(out / "clear.parquet")
    assert clear["cloudCover"].lt(10).all()
    assert f"(8 of {len(clear)} rows shown)" in result.stdout  # a part, said to be one
    assert "downloaded" in result.stdout
    # the mirror: every product new at first, then only the one the catalogue reprocessed
    manifest = terracat.read_parquet(out / "mirror" / "terracat-sync.parquet")
    assert f"{len(manifest)} new; {len(manifest)} files fetched" in result.stdout
    assert "1 changed; 1 file fetched" in result.stdout


def _run(
    *args: str, url: str, check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [TERRACAT, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TERRACAT_URL": url},
        cwd=cwd,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_collections_lists_them(local_catalogue):
    result = _run("collections", url=local_catalogue.url)
    assert NDVI in result.stdout and "Sentinel-1" not in result.stderr


def test_search_prints_a_table_and_count_agrees(local_catalogue):
    filters = ["--start", "2022-02-01", "--end", "2022-03-01", "--bbox", "4.1,50,5.5,51"]
    table = _run("search", NDVI, *filters, "--cloud-cover", "20", url=local_catalogue.url)
    last = table.stdout.strip().splitlines()[-1]
    assert last.endswith("products") and "cloudCover" in table.stdout
    counted = _run("count", NDVI, *filters, "--cloud-cover", "20]", url=local_catalogue.url)
    assert int(counted.stdout) == int(last.split()[0]) > 0


@pytest.mark.parametrize("suffix", [".parquet", ".geojson", ".gpkg", ".csv"])
def test_search_writes_every_output_format_readably(local_catalogue, tmp_path, suffix):
    output = tmp_path / f"s1{suffix}"
    _run("search", S1, "--limit", "7", "-o", str(output), url=local_catalogue.url)
    if suffix == ".csv":
        back = pd.read_csv(output)
    elif suffix == ".parquet":
        back = terracat.read_parquet(output)
        assert back["data"].iloc[0][0]["href"].startswith(local_catalogue.url)
    else:
        back = geopandas.read_file(output)
    assert len(back) == 7
    assert list(back["id"]) == [f["id"] for f in local_catalogue.store.collections[S1].products[:7]]


def test_download_from_an_export_and_by_search(local_catalogue, tmp_path):
    export = tmp_path / "s1.parquet"
    _run("search", S1, "--limit", "2", "-o", str(export), url=local_catalogue.url)
    result = _run(
        "download",
        "--from",
        str(export),
        str(tmp_path / "a"),
        "--types",
        "data,previews",
        "--no-progress",
        url=local_catalogue.url,
    )
    assert "2 products, 8 files" in result.stdout and "8 downloaded" in result.stdout
    again = _run(
        "download",
        S1,
        str(tmp_path / "a"),
        "--limit",
        "2",
        "--types",
        "data,previews",
        url=local_catalogue.url,
    )
    assert "8 skipped" in again.stdout


def test_a_protected_download_without_login_fails_with_exit_1(local_catalogue, tmp_path):
    result = _run(
        "download",
        TOC,
        str(tmp_path),
        "--limit",
        "1",
        "--no-progress",
        url=local_catalogue.url,
        check=False,
    )
    assert result.returncode == 1
    assert "failed" in result.stdout and "signed-in user" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", S1, "--bbox", "1,2,3"], "W,S,E,N"),
        (["search", S1, "--start", "yesterday"], "start"),
        (["search", S1, "-o", "out.xlsx"], "unknown format"),
        (["search"], "COLLECTION is needed"),
        (["download", "--from", "missing.parquet", "out"], "does not exist"),
    ],
)
def test_user_mistakes_get_one_line_and_exit_2(local_catalogue, tmp_path, args, message):
    result = _run(*args, url=local_catalogue.url, check=False, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command", ["collections", "search", "count", "download", "sync", "login", "serve", "demo"]
)
def test_every_command_has_help(command):
    result = subprocess.run(
        [TERRACAT, command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "Usage:" in result.stdout
