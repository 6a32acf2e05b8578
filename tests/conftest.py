from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run the long soaks")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    deselected = [item for item in items if "slow" in item.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if "slow" not in item.keywords]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Async tests (the in-process app of tests/inprocess.py, the stores) run on asyncio, as
    uvicorn serves the app; anyio's own fixture would also name the backend in every test id."""
    return "asyncio"
