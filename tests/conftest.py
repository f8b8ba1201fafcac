"""Shared fixtures: one local catalogue over real HTTP for the whole session."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from terracat.server import FaultPlan, LocalCatalogue
from terracat.server.faults import Faults

# The Ctrl-C tests send real SIGINTs, to this process and to the commands it starts. A suite run
# in the background (``pytest &``, nohup) inherits SIGINT ignored, which Python then leaves alone
# and its children inherit in turn: handled here, children start with the default again.
signal.signal(signal.SIGINT, signal.default_int_handler)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="session")
def local_catalogue() -> Iterator[LocalCatalogue]:
    """The demo catalogue on an ephemeral loopback port, shared by every test."""
    with LocalCatalogue() as local:
        yield local


SLOW = 100_000
"""Bytes/s per connection of :func:`slow`: a 64 KiB chunk every 0.65 s, a file in some 15 s."""


@pytest.fixture(scope="module")
def slow() -> Iterator[LocalCatalogue]:
    """A catalogue of tiny files served slowly: downloads to interrupt while they run."""
    with LocalCatalogue(faults=FaultPlan(bandwidth=SLOW), size_scale=1e-3) as local:
        yield local


@pytest.fixture
def quick_device() -> Iterator[LocalCatalogue]:
    """A catalogue whose identity provider lets a device client poll without waiting."""
    with LocalCatalogue(faults=FaultPlan()) as local:
        local.idp.device_interval = 0
        yield local


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A real dask.distributed cluster of two worker processes, the client connected to it."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as connected,
    ):
        yield connected


@pytest.fixture
def faults(local_catalogue: LocalCatalogue) -> Iterator[Faults]:
    """The shared catalogue's fault plan, cleared again after the test."""
    local_catalogue.faults.clear()
    yield local_catalogue.faults
    local_catalogue.faults.clear()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture(scope="session", autouse=True)
def no_token_in_any_log_line(local_catalogue: LocalCatalogue) -> Iterator[None]:
    """Every log line of the whole run, at every level, is checked for the tokens issued."""
    collector, root = _Collector(), logging.getLogger()
    level = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    yield
    root.removeHandler(collector)
    root.setLevel(level)
    tokens = local_catalogue.idp.issued_tokens()
    leaked = [line for line in collector.messages for token in tokens if token in line]
    assert not leaked, leaked[:3]
