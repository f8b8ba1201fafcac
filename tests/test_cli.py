"""The ``terracat`` command, through its real entry point."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import requests

TERRACAT = str(Path(sys.executable).parent / "terracat")


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
        assert first.startswith("serving http://127.0.0.1:") and first.endswith("/")
        url = first.split(" ", 1)[1]
        page = requests.get(
            f"{url}products",
            params={"collection": "urn:eop:VITO:TERRASCOPE_S2_NDVI_V2", "count": 2},
            timeout=30,
        ).json()
        assert page["type"] == "FeatureCollection" and len(page["features"]) == 2
        assert page["features"][0]["properties"]["links"]["data"][0]["href"].startswith(url)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


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
    assert "done in" in result.stdout
