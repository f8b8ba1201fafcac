"""The STAC speed benchmark in its smallest form: its page server pages and filters exactly, and
every client it runs gets every item (ids counted, not only timed).

The peers (pystac-client, rustac) are the ``bench`` extra, not the ``test`` one: the script
runs whichever clients are installed, terracat always.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import requests

from benchmarks._stac_server import COLLECTION, item_id, stac_server_process

ROOT = Path(__file__).resolve().parents[1]
ITEMS = 240


def _walk(url: str, params: dict[str, str]) -> tuple[list[str], int, int]:
    """Every id of a search by ``next`` links, its numberMatched, and the pages it took."""
    answer = requests.get(url + "search", params=params, timeout=10).json()
    matched, ids, pages = answer["numberMatched"], [], 0
    while True:
        pages += 1
        ids += [item["id"] for item in answer["features"]]
        following = [link for link in answer["links"] if link["rel"] == "next"]
        if not following:
            return ids, matched, pages
        answer = requests.get(following[0]["href"], timeout=10).json()


def test_page_server_pages_filters_and_counts_exactly() -> None:
    with stac_server_process(ITEMS) as url:
        ids, matched, pages = _walk(url, {"collections": COLLECTION, "limit": "100"})
        assert ids == [item_id(n) for n in range(ITEMS)]
        assert (matched, pages) == (ITEMS, 3)
        # items are 10 minutes apart from 2024-01-01: the first hour holds items 0-6 (closed)
        hour = "2024-01-01T00:00:00Z/2024-01-01T01:00:00Z"
        ids, matched, _ = _walk(url, {"datetime": hour, "limit": "4"})
        assert ids == [item_id(n) for n in range(7)] and matched == 7
        ids, matched, _ = _walk(url, {"datetime": "../2024-01-01T00:10:00Z"})
        assert ids == [item_id(0), item_id(1)] and matched == 2
        ids, matched, _ = _walk(url, {"collections": "another"})
        assert ids == [] and matched == 0
        posted = requests.post(url + "search", json={"limit": 5000}, timeout=30).json()
        assert posted["numberReturned"] == 1000 or ITEMS < 1000
        assert len(posted["features"]) == min(ITEMS, 1000)
        stats = requests.get(url + "_stats", timeout=10).json()
        assert stats["searches"] >= 8 and stats["most_in_flight"] >= 1


def test_stac_speed_smallest_form_every_client_gets_every_item() -> None:
    command = ["-m", "benchmarks.stac_speed", "--items", str(ITEMS), "--latency", "0"]
    answer = subprocess.run(
        [sys.executable, *command, "--repeat", "1", "--limit", "250"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=100,
    )
    assert answer.returncode == 0, answer.stderr
    lines = [line for line in answer.stdout.splitlines() if line.count("|") >= 9]
    rows = [line.split("|") for line in lines if set(line) - set("-|")]
    header, clients = [c.strip() for c in rows[0]], rows[1:]
    named = {
        row[0].strip(): dict(zip(header, (c.strip() for c in row), strict=True)) for row in clients
    }
    assert {"terracat", "terracat split=True"} <= named.keys()
    for client, row in named.items():
        assert row["items got (distinct / missing)"] == f"{ITEMS}/0", (client, row)
        assert int(row["requests"]) >= 1 and int(row["most in flight"]) >= 1, (client, row)
        assert float(row["time (median)"].removesuffix(" s")) > 0, (client, row)
        assert int(row["items/s"].replace(",", "")) > 0, (client, row)
        assert re.fullmatch(r"\d+\.\dx|-", row["vs faster peer"]), (client, row)
        assert int(row["columns"]) >= 30, (client, row)  # a GeoDataFrame of the items' columns
