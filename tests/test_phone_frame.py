"""The email on a phone, in a real headless Chromium: nothing wider than the screen.

A table wider than a 375 px phone must scroll inside its frame; nothing else may stick out
(MJML's rounded card clips what overflows it, so a wide table would be cut off, not just
scroll the page), and the figure scales down to the column.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from newsletter.commands.compose import compose_issue
from newsletter.config import load_config
from newsletter.content.models import parse_issue_date
from support.browser import ARTIFACTS, launch_chromium
from support.project import REPO

FIXTURES = Path(__file__).parent / "fixtures"
ISSUES = {"research": (FIXTURES / "research", "2025-12-05"), "bundled": (REPO, "2025-11-28")}

# Elements sticking out past the screen's right edge, other than those inside a container
# that scrolls sideways (a wide table's frame).
_OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  return [...document.body.querySelectorAll('*')].filter((el) => {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 0.5) return false;
    for (let up = el.parentElement; up; up = up.parentElement) if (scrolls(up)) return false;
    return true;
  }).map((el) => `${el.tagName.toLowerCase()}.${el.className} ends at ${Math.round(
    el.getBoundingClientRect().right)}`);
}"""


@pytest.fixture(scope="module")
def outboxes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folders = {}
    for name, (project, date) in ISSUES.items():
        root = tmp_path_factory.mktemp(name)
        shutil.copytree(project / "seeds", root / "seeds")
        shutil.copytree(REPO / "templates", root / "templates")
        shutil.copy(project / "newsletter.toml", root)
        result = compose_issue(load_config(root / "newsletter.toml"), parse_issue_date(date))
        assert result.folder is not None
        folders[name] = result.folder
    return folders


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


def _open(browser: Browser, folder: Path, width: int) -> Page:
    """The outbox copy at `width`; its figures answered from the outbox, as the web archive
    will serve them."""
    page = browser.new_context(viewport={"width": width, "height": 800}).new_page()

    def published(route: Route) -> None:
        route.fulfill(path=str(folder / route.request.url.rsplit("/", 1)[1]))

    page.route("**/issues/*/*", published)
    page.goto(folder.joinpath("issue.html").as_uri())
    page.wait_for_load_state("load")
    return page


@pytest.mark.parametrize("width", [375, 320])
@pytest.mark.parametrize("issue", sorted(ISSUES))
def test_nothing_is_wider_than_the_phone(browser: Browser, outboxes: dict[str, Path],
                                         issue: str, width: int) -> None:
    page = _open(browser, outboxes[issue], width)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.evaluate(_OVERFLOWING) == []
        if width == 375:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / f"phone-{issue}.png", full_page=True)
    finally:
        page.context.close()


def test_a_wide_table_scrolls_and_the_figure_fits_the_phone(browser: Browser,
                                                            outboxes: dict[str, Path]) -> None:
    page = _open(browser, outboxes["research"], 375)
    try:
        frames = page.evaluate("""() => [...document.querySelectorAll('div.nl-table')].map(
            (el) => [el.clientWidth, el.scrollWidth])""")
        assert len(frames) == 2 and all(client <= 375 for client, _ in frames)
        assert frames[1][1] > frames[1][0], "the six-column table scrolls inside its frame"
        figure = page.locator("img[alt^='Throughput']")
        assert figure.evaluate("(img) => img.naturalWidth") == 640
        box = figure.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        assert box["height"] == pytest.approx(box["width"] * 240 / 640, abs=1)
    finally:
        page.context.close()


def test_the_figure_takes_the_column_on_a_desktop(browser: Browser,
                                                  outboxes: dict[str, Path]) -> None:
    page = _open(browser, outboxes["research"], 1000)
    try:
        box = page.locator("img[alt^='Throughput']").bounding_box()
        assert box is not None and box["width"] == 536
        assert page.evaluate(_OVERFLOWING) == []
    finally:
        page.context.close()
