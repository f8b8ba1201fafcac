"""The sync benchmark in its smallest form: it runs, and its figures say what the sync is for.

Each night's files fetched and stale files are counts, not timings: they hold on any machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_sync_benchmark_runs_and_leaves_nothing_stale() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.sync_speed", "--products", "200", "--latency", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = [
        [cell.strip() for cell in line.split("|")]
        for line in result.stdout.splitlines()[2:]
        if "|" in line
    ]
    by = {(r[0], r[1], r[2]): r for r in rows}
    for protocol in ("opensearch", "stac"):
        unchanged = by[(protocol, "2 unchanged", "terracat.sync")]
        assert unchanged[4] == "2" and unchanged[5] == "0"  # one window search, one count
        changed = by[(protocol, "3 after 1% changed", "terracat.sync")]
        by_hand = by[(protocol, "3 after 1% changed", "by hand")]
        # 2 reprocessed (every file again) and 2 added: the sync leaves nothing stale; a skip
        # by size leaves the reprocessed files of unchanged length stale
        assert changed[5] == "4" and changed[6] == "0"
        assert by_hand[6] == "2"
