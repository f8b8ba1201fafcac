"""``terracat download`` through its real entry point (issue 18): Ctrl-C, and refusals for sign-in.

Ctrl-C is a real SIGINT to the ``terracat`` process while it downloads from a slow local
catalogue (``FaultPlan(bandwidth=...)``, files ten times the demo's size): the transfers stop at
their next chunk, the partial files stay, the report so far is printed, the exit code is 130,
and a rerun resumes the partial files to byte-exact files. The same holds while a file waits
between two attempts (a server's ``Retry-After``) and while the command is still searching.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from terracat.server.content import read
from terracat.transfer import PARTIAL_SUFFIX
from tests.conftest import SLOW
from tests.hostile import HostileServer, send

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


def _interrupt(process: subprocess.Popen, when) -> tuple[float, str, str]:
    """SIGINT to ``process`` once ``when()`` holds; seconds it took to exit, and its output."""
    try:
        deadline = time.monotonic() + 60
        while not when():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the moment to interrupt never came"
            time.sleep(0.05)
        time.sleep(0.3)  # well into the wait
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        return time.monotonic() - sent, out, err
    finally:
        process.kill()


def _busy_after_half(local, server_origin: list[str]):
    """The local catalogue behind a proxy whose files stop halfway, then answer every resume
    with ``503`` and ``Retry-After: 20``: each file waits twenty seconds between attempts."""

    def handler(request, connection) -> None:
        upstream = requests.get(
            local.url.rstrip("/") + request.target,
            headers={"Accept": request.headers.get("accept", "*/*")},
            timeout=30,
        )
        if not request.path.startswith("/download/"):
            body = upstream.content.replace(local.url.encode(), server_origin[0].encode())
            send(connection, upstream.status_code, body, {"Content-Type": "application/json"})
        elif "range" in request.headers:
            send(connection, 503, b"busy", {"Retry-After": "20", "Content-Type": "text/plain"})
        else:  # the headers of the whole file, half its bytes, and the connection closes
            body = upstream.content
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            connection.sendall(head.encode() + body[: len(body) // 2])

    return handler


def test_ctrl_c_ends_the_wait_between_two_attempts_at_once(local_catalogue, tmp_path) -> None:
    origin: list[str] = []
    with HostileServer(_busy_after_half(local_catalogue, origin)) as server:
        origin.append(server.url("/"))
        process = subprocess.Popen(
            _command(S1, str(tmp_path), "--limit", "1", url=server.url("/")),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(server.url("/")),
        )
        took, out, err = _interrupt(
            process, lambda: any("range" in r.headers for r in server.requests)
        )
    assert process.returncode == 130, err
    assert took < 2, f"stopped {took:.1f} s after Ctrl-C (the server asked to wait 20 s)"
    assert "interrupted" in out and "resume" in err and "Traceback" not in err
    assert _partials(tmp_path), "the partial files are kept for the next run"


def test_ctrl_c_while_searching_is_one_line_and_exit_130(tmp_path) -> None:
    release = threading.Event()

    def stalls(request, connection) -> None:  # an OpenSearch landing page, then no answer
        if request.path == "/":
            send(connection, 200, b"{}", {"Content-Type": "application/json"})
        else:
            release.wait(30)

    with HostileServer(stalls) as server:
        process = subprocess.Popen(
            _command(S1, str(tmp_path / "out"), url=server.url("/")),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(server.url("/")),
        )
        try:
            took, _, err = _interrupt(
                process, lambda: any(r.path == "/products" for r in server.requests)
            )
        finally:
            release.set()
    assert process.returncode == 130, err
    assert took < 2, f"stopped {took:.1f} s after Ctrl-C"
    assert err == "interrupted before any download began: nothing was written\n"
    assert "Aborted" not in err and not (tmp_path / "out").exists()
