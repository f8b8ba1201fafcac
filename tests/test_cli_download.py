"""``terracat download`` through its real entry point (issue 18): Ctrl-C, and refusals for sign-in.

Ctrl-C is a real SIGINT to the ``terracat`` process while it downloads from a slow local
catalogue (``FaultPlan(bandwidth=...)``, files ten times the demo's size): the transfers stop at
their next chunk, the partial files stay, the report so far is printed, the exit code is 130,
and a rerun resumes the partial files to byte-exact files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from terracat.server.content import read
from terracat.transfer import PARTIAL_SUFFIX
from tests.conftest import SLOW

TERRACAT = str(Path(sys.executable).parent / "terracat")
S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
TOC = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"


def _command(*args: str, url: str) -> list[str]:
    return [TERRACAT, "download", *args, "--no-progress"]


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "TERRACAT_URL": url}


def _partials(directory: Path) -> list[Path]:
    return [p for p in directory.rglob(f"*{PARTIAL_SUFFIX}") if p.stat().st_size > 0]


def test_ctrl_c_stops_within_seconds_keeps_partials_and_a_rerun_resumes(slow, tmp_path) -> None:
    slow.faults.set(bandwidth=SLOW)
    process = subprocess.Popen(
        _command(S1, str(tmp_path), "--limit", "1", url=slow.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(slow.url),
    )
    try:
        deadline = time.monotonic() + 60
        while not _partials(tmp_path):  # the first bytes have arrived
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no bytes arrived"
            time.sleep(0.05)
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert took < 3, f"stopped {took:.1f} s after Ctrl-C"
    assert "1 products, " in out and "interrupted" in out, out
    assert "resume" in err and "Traceback" not in err
    kept = _partials(tmp_path)
    assert kept, "the partial files are kept"

    slow.faults.clear()  # the rerun at full speed
    rerun = subprocess.run(
        _command(S1, str(tmp_path), "--limit", "1", url=slow.url),
        capture_output=True,
        text=True,
        env=_env(slow.url),
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed" in rerun.stdout
    assert not list(tmp_path.rglob(f"*{PARTIAL_SUFFIX}"))
    for partial in kept:
        final = partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX))
        served = next(p for p in slow.store.files if p.endswith("/" + final.name))
        assert final.read_bytes() == read(served, 0, slow.store.files[served].length)


def test_a_refusal_for_sign_in_is_one_line_naming_the_options_and_leaves_no_directory(
    local_catalogue, tmp_path
) -> None:
    target = tmp_path / "out"
    result = subprocess.run(
        _command(TOC, str(target), "--limit", "2", url=local_catalogue.url),
        capture_output=True,
        text=True,
        env=_env(local_catalogue.url),
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    refusals = [line for line in result.stderr.splitlines() if "signed-in user" in line]
    assert len(refusals) == 1, result.stderr
    assert "--login" in refusals[0] and "--username" in refusals[0]
    assert "Catalogue.authenticate" not in result.stderr
    assert "more files, the same" in refusals[0]
    assert not [p for p in target.rglob("*") if p.is_dir()], "an empty product directory"
