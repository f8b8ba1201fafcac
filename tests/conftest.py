"""Shared fixtures: one local catalogue over real HTTP for the whole session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from terracat.server import LocalCatalogue
from terracat.server.faults import Faults

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="session")
def local_catalogue() -> Iterator[LocalCatalogue]:
    """The demo catalogue on an ephemeral loopback port, shared by every test."""
    with LocalCatalogue() as local:
        yield local


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
