from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.pgserver import PostgresMissingError, postgres_server


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


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The superuser DSN of a PostgreSQL cluster of this session's own (tests/pgserver.py),
    started on first use and removed at the end. Suites make their own databases in it."""
    # Missing PostgreSQL must FAIL the run loudly (`make test` installs it), never skip.
    with ExitStack() as stack:
        try:
            server = stack.enter_context(postgres_server())
        except PostgresMissingError as exc:
            missing = str(exc)
        else:
            yield server.dsn
            return
    pytest.fail(missing, pytrace=False)  # outside the except: no chained traceback
