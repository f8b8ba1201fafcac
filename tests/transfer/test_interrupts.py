"""From Python (issue 18): Ctrl-C stops ``df.terracat.download()`` promptly, partial files kept;
a batch refused for sign-in says so once and leaves no empty product directory.

Ctrl-C is a real SIGINT to this process, sent once the first bytes are on disk, while a slow
local catalogue (``FaultPlan(bandwidth=...)``) serves files ten times the demo's size.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

import terracat
from terracat import Catalogue
from terracat.config import CatalogueConfig
from terracat.transfer import PARTIAL_SUFFIX, DownloadInterrupted, FileTask, Transport, download

from ..hostile import HostileServer

S1 = "urn:eop:VITO:CGS_S1_GRD_SIGMA0_L1"
TOC = "urn:eop:VITO:TERRASCOPE_S2_TOC_V2"


def _interrupt_when_bytes_arrive(directory, done: threading.Event, sent: list[float]) -> None:
    deadline = time.monotonic() + 60
    while not done.is_set() and time.monotonic() < deadline:
        if any(p.stat().st_size for p in directory.rglob(f"*{PARTIAL_SUFFIX}")):
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)
            return
        time.sleep(0.05)


def test_ctrl_c_raises_keyboard_interrupt_promptly_and_keeps_the_partials(slow, tmp_path):
    catalogue = Catalogue(slow.config())
    frame = terracat.search(S1, limit=1, catalogue=catalogue)
    done, sent = threading.Event(), []
    watcher = threading.Thread(target=_interrupt_when_bytes_arrive, args=(tmp_path, done, sent))
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt) as raised:
            frame.terracat.download(tmp_path, catalogue=catalogue, progress=False)
        stopped = time.monotonic()
    finally:
        done.set()
        watcher.join()
    assert sent and stopped - sent[0] < 3, "stopped more than 3 s after Ctrl-C"
    assert isinstance(raised.value, DownloadInterrupted)
    report = raised.value.report
    assert len(report) == len(frame.terracat.files()) and "interrupted" in set(report["status"])
    assert [p for p in tmp_path.rglob(f"*{PARTIAL_SUFFIX}") if p.stat().st_size]


def test_a_refusal_for_sign_in_is_logged_once_and_leaves_no_directory(
    local_catalogue, tmp_path, caplog
) -> None:
    catalogue = Catalogue(local_catalogue.config())
    frame = terracat.search(TOC, limit=2, catalogue=catalogue)
    assert len(frame.terracat.files()) > 2
    with caplog.at_level(logging.WARNING, logger="terracat"):
        report = frame.terracat.download(
            tmp_path, catalogue=catalogue, progress=False, raise_on_failure=False
        )
    assert (report["status"] == "failed").all()
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    refusals = [text for text in warned if "signed-in user" in text]
    assert len(refusals) == 1, warned  # the reason once,
    names = {Path(path).name for path in report["path"]}  # then a count that does not repeat it
    counts = [f"{len(report) - 1} more files failed the same way as {name}" for name in names]
    assert len(set(counts) & set(warned)) == 1, warned
    assert not list(tmp_path.iterdir()), "an empty product directory was left"


def _stalls(request, connection) -> None:
    """Headers and a first kilobyte, then nothing for half a minute (a stalled server)."""
    body = b"x" * 1024
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {100 * len(body)}\r\nConnection: close\r\n\r\n"
    connection.sendall(head.encode() + body)
    time.sleep(30)


def test_ctrl_c_does_not_wait_for_a_stalled_server(tmp_path) -> None:
    target = tmp_path / "p" / "stalled.tif"
    with HostileServer(_stalls) as server:
        config = CatalogueConfig.from_url(server.url("/"))
        config.download_timeout = 60  # the read timeout is not what ends the transfer
        transport = Transport(requests.Session(), config)
        task = FileTask("urn:p", "data", server.url("/stalled.tif"), 100 * 1024, target)
        done, sent = threading.Event(), []
        watcher = threading.Thread(target=_interrupt_when_bytes_arrive, args=(tmp_path, done, sent))
        watcher.start()
        try:
            with pytest.raises(DownloadInterrupted) as raised:
                download(
                    [task],
                    transport,
                    workers=1,
                    progress=False,
                    overwrite=False,
                    raise_on_failure=True,
                )
            stopped = time.monotonic()
        finally:
            done.set()
            watcher.join()
            transport.close()
    assert sent and stopped - sent[0] < 3, "waited for the stalled server"
    assert raised.value.report["status"].tolist() == ["interrupted"]
    assert target.with_name(target.name + PARTIAL_SUFFIX).stat().st_size == 1024
