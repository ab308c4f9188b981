"""Checks of the web page in a real browser: Debian's Chromium driven by Playwright for Python.

The browser is Debian's ``/usr/bin/chromium`` (``scripts/test.sh`` installs it; Playwright's own
browser download cannot work here and is never used). :data:`MEASURE` runs in the page and
returns what is wrong with it: a ``<math>`` laid out with no size, an element of MathML outside
Core, an internal link to no element, an element wider than the window outside a scroll box, a
figure or image with no text alternative. axe-core is injected from ``tests/browser`` (npm, pinned
in its lock file); the Nu HTML Checker (``vnu.jar`` from the same folder) runs with the headless
JRE, once over every page a test module writes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symgrad.render.html import CORE_ELEMENTS

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tests" / "browser" / "node_modules"
AXE = TOOLS / "axe-core" / "axe.min.js"
VNU = TOOLS / "vnu-jar" / "build" / "dist" / "vnu.jar"
#: Debian's Chromium, never a browser Playwright downloads.
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
#: As root Chromium needs --no-sandbox; nothing may reach the network.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
#: Where the screenshots are written, for looking (never compared pixel by pixel).
SCREENSHOTS = ROOT / "build" / "html-screenshots"

#: What is wrong with the page, measured in it (every <details> opened first, as a reader can).
MEASURE = """(core) => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const problems = {zeroMath: [], nonCore: [], brokenLinks: [], tooWide: [], noText: []};
  const maths = [...document.querySelectorAll('math')];
  for (const m of maths) {
    const r = m.getBoundingClientRect();
    if (!(r.width > 0 && r.height > 0)) problems.zeroMath.push(m.outerHTML.slice(0, 120));
    for (const e of m.querySelectorAll('*')) {
      if (!core.includes(e.localName)) problems.nonCore.push(e.localName);
    }
  }
  for (const a of document.querySelectorAll('a[href]')) {
    const href = a.getAttribute('href');
    if (!href.startsWith('#') || !document.getElementById(decodeURIComponent(href.slice(1)))) {
      problems.brokenLinks.push(href);
    }
  }
  const width = document.documentElement.clientWidth;
  for (const e of document.body.querySelectorAll('*')) {
    if (e.closest('.scroll') || e.closest('head')) continue;
    const r = e.getBoundingClientRect();
    if (r.width > 0 && (r.right > width + 0.5 || r.left < -0.5)) {
      problems.tooWide.push(e.localName + '.' + e.className + ' ' + Math.round(r.right));
    }
  }
  if (document.documentElement.scrollWidth > width) {
    problems.tooWide.push('the page scrolls sideways');
  }
  const named = (e) => {
    const label = e.getAttribute('aria-label');
    if (label && label.trim()) return true;
    const ids = (e.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean);
    return ids.some(id => (document.getElementById(id)?.textContent || '').trim() !== '');
  };
  for (const f of document.querySelectorAll('figure')) {
    const caption = f.querySelector(':scope > figcaption');
    if (!caption || !caption.textContent.trim()) problems.noText.push('figure without a caption');
  }
  for (const s of document.querySelectorAll('svg')) {
    if (s.parentElement.closest('svg')) continue;
    if (s.getAttribute('role') !== 'img' || !named(s)) problems.noText.push('svg without a name');
  }
  for (const i of document.querySelectorAll('img')) {
    if (!i.hasAttribute('alt')) problems.noText.push('img without alt: ' + i.getAttribute('src'));
  }
  problems.maths = maths.length;
  const scope = document.querySelector('.symgrad-notes') || document.body;
  problems.background = getComputedStyle(scope).backgroundColor;
  return problems;
}"""

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}));
}"""


@dataclass
class Visit:
    """A page opened at one width and colour scheme: what the browser reported, and measured."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    #: Requests for anything but the page itself (a self-contained page makes none).
    other_requests: list[str] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)


@contextmanager
def chromium() -> Iterator[Any]:
    """One headless Chromium (Debian's) for a whole test module."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(f"no Chromium at {CHROMIUM}: run scripts/test.sh, which installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


def visit(
    browser: Any,
    path: Path,
    width: int = 1280,
    scheme: str = "light",
    screenshot: str = "",
    axe: bool = False,
) -> Visit:
    """Open ``path`` at ``width`` in ``scheme``, measure it (and run axe-core with ``axe``),
    writing a screenshot of the top of the page named ``screenshot`` (if given)."""
    seen = Visit()
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    own = path.resolve().as_uri()

    def request(req: Any) -> None:
        if req.url != own:
            seen.other_requests.append(req.url)

    page.on("console", lambda m: m.type == "error" and seen.console_errors.append(m.text))
    page.on("pageerror", lambda e: seen.console_errors.append(str(e)))
    page.on("requestfailed", lambda r: seen.failed_requests.append(r.url))
    page.on("request", request)
    try:
        page.goto(own, wait_until="load")
        if screenshot:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{screenshot}.png"))
        seen.measured = page.evaluate(MEASURE, sorted(CORE_ELEMENTS))
        if axe:
            page.add_script_tag(path=str(AXE))
            seen.measured["axe"] = page.evaluate(AXE_RUN)
    finally:
        page.close()
    return seen


def serious(violations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The axe-core violations that are serious or critical."""
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def vnu_errors(paths: Sequence[Path]) -> dict[Path, list[str]]:
    """The Nu HTML Checker's errors for each of ``paths``, by its resolved path (one JVM
    start for all of them)."""
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("no java: run scripts/test.sh, which installs a headless JRE")
    run = subprocess.run(
        [java, "-jar", str(VNU), "--format", "json", "--exit-zero-always", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    errors: dict[Path, list[str]] = {Path(p).resolve(): [] for p in paths}
    for message in json.loads(run.stderr or run.stdout)["messages"]:
        if message["type"] == "error" or message.get("subType") == "fatal":
            where = Path(message.get("url", "file:").removeprefix("file:")).resolve()
            line = f"{message.get('lastLine')}: {message['message']}"
            errors.setdefault(where, []).append(line)
    return errors
