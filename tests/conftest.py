from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.harness import Endpoints, Process, ipc_endpoints

P = TypeVar("P", bound=Process)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run the long soaks")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    deselected = [item for item in items if "slow" in item.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if "slow" not in item.keywords]


@pytest.fixture
def anyio_backend() -> str:
    """In-process tests (tests/inprocess.py) run on asyncio, as uvicorn serves the app."""
    return "asyncio"


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    with ipc_endpoints() as endpoints:
        yield endpoints


class Processes:
    """Starts processes for a test and makes sure none outlives it."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._started: list[Process] = []

    def add(self, process: P) -> P:
        self._started.append(process)
        return process

    def cleanup(self) -> None:
        for process in reversed(self._started):
            if process.running:
                process.kill9()
            close = getattr(process, "close", None)
            if close is not None:
                close()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    registry = Processes(tmp_path)
    yield registry
    registry.cleanup()
