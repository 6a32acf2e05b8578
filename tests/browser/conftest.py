"""Headless Chromium (Debian's, never a downloaded build) against real processes: the Node bridge
replaying a demo capture through its real publishing path, and the orchestrator serving the
console. Every page fails its test on a console error or an uncaught exception, except network
failures a test provokes on purpose (inside `console.outage()`). The demo capture's photos and
documents are real files the replaying bridge serves (bridge-node/scripts/demo-media/), so a
media link that fails is a failure too.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from tests import harness
from tests.harness import REPO, TOKEN, Orchestrator, Stack, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts" / "browser"
LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install-chromium` installs Debian's chromium")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def demo_capture(path: Path, events: int, seed: int = 7) -> Path:
    """The --demo capture (connection open first, so sends work), timed around now."""
    return harness.demo_capture(path, events, seed, now=int(time.time()) - 60)


@dataclass
class Live:
    """A replaying bridge and an orchestrator following it (a tests/harness.py stack), with
    what the console tests ask of them."""

    stack: Stack
    command_log: Path

    @property
    def orchestrator(self) -> Orchestrator:
        return self.stack.orchestrator

    @property
    def url(self) -> str:
        return self.stack.base_url

    def rest(self, path: str) -> Any:
        return self.orchestrator.http.get(path).raise_for_status().json()

    def message_ids(self, chat_id: str) -> list[str]:
        return [m["id"] for m in self.rest(f"/chats/{chat_id}/messages?limit=500")["messages"]]

    def commands(self, method: str) -> list[dict[str, Any]]:
        """What reached the bridge (BRIDGE_COMMAND_LOG), for one method."""
        if not self.command_log.exists():
            return []
        lines = self.command_log.read_bytes().splitlines()
        return [c for c in map(orjson.loads, lines) if c["method"] == method]

    def kill_orchestrator(self) -> None:
        self.orchestrator.kill9()

    def start_orchestrator(self, port: int | None = None) -> None:
        self.stack.start_orchestrator(port=port)

    def replay_done(self, timeout: float = 60.0) -> None:
        """Wait until the bridge has published the whole capture and the orchestrator applied it."""
        self.stack.applied(timeout)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Callable[..., Live]]:
    with contextlib.ExitStack() as exits:

        def start(
            *,
            events: int,
            rate: float,
            seed: int = 7,
            capture: Path | None = None,
            orchestrator_env: dict[str, str | int] | None = None,
        ) -> Live:
            capture = capture or demo_capture(tmp_path / "capture.jsonl", events, seed)
            command_log = tmp_path / "commands.jsonl"
            bridge_env: dict[str, str | float] = {
                "BRIDGE_REPLAY_RATE": rate, "BRIDGE_COMMAND_LOG": str(command_log),
                "BRIDGE_LOG_LEVEL": "warn",
            }  # fmt: skip
            s = exits.enter_context(
                harness.stack(
                    tmp_path, capture=capture, wait=False, bridge_env=bridge_env,
                    orchestrator_env=orchestrator_env,
                )
            )  # fmt: skip
            return Live(s, command_log)

        yield start


@dataclass
class Console:
    """A page with the console open, and what the page said on its console."""

    page: Page
    name: str
    errors: list[str] = field(default_factory=list)
    _outage: bool = False
    _shots: int = 0

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text, url = message.text, message.location.get("url", "")
        network = "net::ERR_" in text or text.startswith(
            ("Failed to load resource", "WebSocket connection to")
        )
        if self._outage and network:
            return
        self.errors.append(f"{text} ({url})")

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """Network errors are expected in here (a killed server, blocked routes, a bad token)."""
        self._outage = True
        try:
            yield
        finally:
            self._outage = False

    def shot(self, state: str) -> Path:
        self._shots += 1
        path = ARTIFACTS / f"{self.name}-{self._shots:02d}-{state}.png"
        self.page.screenshot(path=str(path))
        return path

    def client_state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.page.evaluate("window.__waClient.clientState()")
        return state

    def dom_message_ids(self) -> list[str]:
        ids: list[str] = self.page.eval_on_selector_all(
            "#message-list > li.msg", "els => els.map(e => e.dataset.messageId)"
        )
        return ids

    def dom_chat_ids(self) -> list[str]:
        ids: list[str] = self.page.eval_on_selector_all(
            "#chat-list > li", "els => els.map(e => e.dataset.chatId)"
        )
        return ids

    def open_chat(self, chat_id: str) -> None:
        self.page.click(f'#chat-list > li[data-chat-id="{chat_id}"]')
        self.page.wait_for_selector("#message-list > li.msg")

    def wait_live(self, transport: str, timeout: float = 15.0) -> None:
        self.page.wait_for_selector(
            f'body[data-link="live"][data-transport="{transport}"]', timeout=timeout * 1000
        )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    """Keeps each phase's report on the test, so a fixture can tell that the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)  # type: ignore[attr-defined]
    return report  # type: ignore[no-any-return]


@pytest.fixture
def console(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Console]]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    contexts = []
    consoles: list[Console] = []

    def open_console(
        url: str,
        *,
        query: str = "",
        viewport: dict[str, int] | None = None,
        sign_in: bool = True,
        outage: bool = False,
        setup: Callable[[Page], None] | None = None,
        locale: str = "en-US",
        timezone: str | None = None,
    ) -> Console:
        """Open the console; `setup(page)` runs before the page loads (routes to block);
        `outage`: network errors are expected from the start; `locale` is the browser's
        language (navigator.languages), `timezone` its timezone (the machine's by default)."""
        context = browser.new_context(
            viewport=viewport or LAPTOP,  # type: ignore[arg-type]
            locale=locale,
            timezone_id=timezone,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        name = request.node.name.removeprefix("test_")
        c = Console(page, f"{name}{len(consoles) or ''}", _outage=outage)
        consoles.append(c)
        if setup is not None:
            setup(page)
        page.on("console", c.on_console)
        page.on("pageerror", lambda exc: c.errors.append(f"uncaught: {exc}"))
        token = f"access_token={TOKEN}&" if sign_in else ""
        page.goto(f"{url}/?{token}{query}")
        return c

    yield open_console
    failed = getattr(request.node, "report_call", None)
    if failed is not None and failed.failed:
        for c in consoles:  # what each page showed when the test failed
            with contextlib.suppress(Exception):
                c.shot("failed")
    for context in contexts:
        context.close()
    problems = [f"{c.name}: {e}" for c in consoles for e in c.errors]
    assert not problems, "errors on the page's console:\n" + "\n".join(problems)


def wait_dom_matches_rest(c: Console, stack: Live, chat_id: str, timeout: float = 15.0) -> None:
    """The open chat shows exactly the REST answer (its newest messages): none lost, none twice."""

    twice: list[list[str]] = []

    def same() -> bool:
        dom = c.dom_message_ids()
        if len(dom) != len(set(dom)):
            twice.append(dom)
            return True
        rest = stack.message_ids(chat_id)
        return bool(dom) and dom == rest[-len(dom) :] and len(dom) >= min(len(rest), 50)

    try:
        wait_for(f"the page to show the messages of {chat_id}", same, timeout, interval=0.2)
    except AssertionError:
        raise AssertionError(
            f"DOM {c.dom_message_ids()}\nREST {stack.message_ids(chat_id)}"
        ) from None
    assert not twice, f"a message is shown twice: {twice[0]}"
