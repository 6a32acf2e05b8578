"""Accessibility checks of a page with axe-core (npm's, installed by `make axe` in
tests/browser/axe/): the WCAG 2.0 and 2.1 A and AA rules. A serious or critical violation fails
the test; the moderate and minor ones are returned for the test to report. The whole result is
written to test-artifacts/browser/axe-<view>.json.

The console's Content-Security-Policy refuses inline scripts, so axe is not added as a <script>:
its source is evaluated through the DevTools protocol (`page.evaluate`), which the CSP does not
govern.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson
from playwright.sync_api import Page

from tests.harness import REPO

AXE = REPO / "tests" / "browser" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts" / "browser"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING = ("critical", "serious")
SHOWN_TARGETS = 3

# axe.run's context: the whole document, or the elements a selector matches.
RUN = """async ([include, tags]) => {
  const context = include === null ? document : { include: [include] };
  const results = await window.axe.run(context, {
    runOnly: { type: 'tag', values: tags },
    resultTypes: ['violations'],
  });
  return JSON.parse(JSON.stringify(results));
}"""


@functools.cache
def axe_source() -> str:
    if not AXE.exists():
        raise AssertionError(f"{AXE} is missing: `make axe` installs axe-core")
    return AXE.read_text(encoding="utf-8")


def inject(page: Page) -> None:
    """axe-core in the page (once per document)."""
    if page.evaluate("typeof window.axe === 'object' && typeof window.axe.run === 'function'"):
        return
    page.evaluate(axe_source())
    if not page.evaluate("typeof window.axe === 'object' && typeof window.axe.run === 'function'"):
        raise AssertionError("axe-core did not load in the page (window.axe is missing)")


def target_text(target: Any) -> str:
    """One node's target: a selector, or a list of them (into iframes and shadow roots)."""
    if isinstance(target, list):
        return " >> ".join(target_text(t) for t in target)
    return str(target)


def describe(violation: dict[str, Any]) -> str:
    nodes: list[dict[str, Any]] = violation["nodes"]
    targets = [target_text(n["target"]) for n in nodes[:SHOWN_TARGETS]]
    more = f" (+{len(nodes) - SHOWN_TARGETS} more)" if len(nodes) > SHOWN_TARGETS else ""
    head = f"{violation['id']} [{violation['impact']}]: {violation['help']}"
    return f"{head}\n    " + "\n    ".join(targets) + more


def assert_accessible(page: Page, view: str, *, include: str | None = None) -> list[dict[str, Any]]:
    """Run axe's WCAG 2.x A/AA rules on the page (or on what `include`, a CSS selector,
    matches). Fails on a serious or critical violation, listing each rule with its first
    targets; returns the moderate and minor violations. `view` names the artifact
    test-artifacts/browser/axe-<view>.json."""
    if not re.fullmatch(r"[\w.-]+", view):
        raise ValueError(f"view {view!r}: letters, digits, '.', '-' and '_' only")
    inject(page)
    results: dict[str, Any] = page.evaluate(RUN, [include, WCAG])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"axe-{view}.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    violations: list[dict[str, Any]] = results["violations"]
    failing = [v for v in violations if v["impact"] in FAILING]
    if failing:
        listed = "\n  ".join(describe(v) for v in failing)
        raise AssertionError(
            f"{view}: {len(failing)} serious or critical accessibility violations "
            f"(axe-core {results['testEngine']['version']}, {page.url}):\n  {listed}"
        )
    return [v for v in violations if v["impact"] not in FAILING]
