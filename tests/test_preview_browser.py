"""`newsletter preview` in a real headless chromium: frames, dark mode, live reload, errors."""

from __future__ import annotations

import re
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from click.testing import CliRunner
from playwright.sync_api import Browser, Frame, Page, expect, sync_playwright

from newsletter.cli import cli
from newsletter.preview.build import force_scheme
from support.browser import ARTIFACTS, PreviewProcess, fetch, launch_chromium
from support.project import REPO, Project

SEED_DATES = ["2025-10-19", "2025-11-04", "2025-11-06", "2025-11-16", "2025-11-28"]
LIGHT_PAGE, DARK_PAGE = "rgb(238, 241, 245)", "rgb(11, 17, 32)"  # #eef1f5, #0b1120
RELOAD_BUDGET_MS = 2000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def seeded(project: Project) -> Project:
    """A project holding the five imported seed issues and their papers."""
    for folder in ("papers", "issues"):
        shutil.rmtree(project.root / "seeds" / folder)
        shutil.copytree(REPO / "seeds" / folder, project.root / "seeds" / folder)
    return project


@pytest.fixture(scope="module", autouse=True)
def _artifacts() -> None:
    ARTIFACTS.mkdir(exist_ok=True)


@contextmanager
def _start(project: Project, date: str = "2025-11-28") -> Iterator[PreviewProcess]:
    """The preview server for `date`; on exit, Ctrl-C must stop it cleanly."""
    server = PreviewProcess(project.root, date).start()
    try:
        yield server
    finally:
        code = server.stop()
        assert code == 0, "".join(server.stderr)
        assert "stopping the preview" in "".join(server.stderr)


@pytest.fixture
def preview(seeded: Project) -> Iterator[PreviewProcess]:
    with _start(seeded) as server:
        yield server


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    yield context.new_page()
    context.close()


def _frame(page: Page, name: str) -> Frame:
    frame = page.frame(name=name)
    assert frame is not None, f"no {name} frame"
    frame.wait_for_load_state()
    return frame


def _background(frame: Frame) -> str:
    return frame.evaluate("getComputedStyle(document.body).backgroundColor")


def test_page_shows_both_frames_plaintext_and_headers(preview: PreviewProcess,
                                                     page: Page) -> None:
    titles = ["Mixture of Depths - Conditional Computation in Transformers",
              "Formal Verification of Distributed Consensus Under Partial Synchrony"]
    page.goto(preview.url)
    expect(page).to_have_title("Preview · Research Update: November 28, 2025")
    for name in ("desktop", "phone"):
        frame = page.frame_locator(f"#{name}")
        for title in titles:
            expect(frame.get_by_role("heading", name=title)).to_be_visible()
    assert page.locator("#desktop").bounding_box()["width"] >= 600
    assert page.locator("#phone").evaluate("f => f.contentWindow.innerWidth") == 375
    for title in titles:
        expect(page.locator("#plaintext")).to_contain_text(title)
    headers = page.locator("#headers")
    expect(headers).to_contain_text("Research Update: November 28, 2025")
    for name in ("Subject", "From", "Date", "Message-ID", "MIME-Version", "Content-Type"):
        expect(headers.locator("th", has_text=re.compile(f"^{name}$"))).to_have_count(1)
    # newsletter check runs on each build: the seeds' duplicate paper is listed.
    expect(page.locator("#findings")).to_contain_text("same paper as mixture-of-depths.md")
    page.screenshot(path=ARTIFACTS / "preview-page.png", full_page=True)


def test_preview_serves_exactly_what_compose_writes(preview: PreviewProcess,
                                                   seeded: Project) -> None:
    result = CliRunner().invoke(cli, ["compose", "--date", "2025-11-28"])
    assert result.exit_code == 0, result.output
    outbox = seeded.root / "outbox" / "2025-11-28"
    for name in ("issue.html", "issue.txt", "issue.json"):
        assert fetch(preview.url + name) == (outbox / name).read_bytes(), name
    served = fetch(preview.url + "issue.eml").split(b"\n")
    written = (outbox / "issue.eml").read_bytes().split(b"\n")
    varying = re.compile(rb"^(Date|Message-ID):")  # differ between any two composes
    assert [x for x in served if not varying.match(x)] == \
           [x for x in written if not varying.match(x)]


@pytest.mark.parametrize("date", SEED_DATES)
def test_phone_frame_has_no_horizontal_scroll_and_shows_every_title(
        seeded: Project, page: Page, date: str) -> None:
    with _start(seeded, date) as server:
        page.goto(server.url)
        phone = _frame(page, "phone")
        widths = phone.evaluate("({scroll: document.documentElement.scrollWidth,"
                                " client: document.documentElement.clientWidth})")
        assert widths["client"] == 375
        assert widths["scroll"] <= widths["client"], widths
        titles = phone.locator("h2.nl-h2")
        assert titles.count() == 2
        for index in range(titles.count()):
            title = titles.nth(index)
            expect(title).to_be_visible()
            # Inside the frame's own viewport, and no text cut off or spilling sideways.
            box = title.evaluate("e => { const r = e.getBoundingClientRect(); return {left: "
                                 "r.left, right: r.right, spill: e.scrollWidth - e.clientWidth}"
                                 " }")
            assert box["left"] >= 0 and box["right"] <= widths["client"], box
            assert box["spill"] <= 0, box
        _email_screenshots(page, server.url, date)


def _email_screenshots(page: Page, url: str, date: str) -> None:
    """The email alone, whole length, as a desktop and a phone reader see it."""
    email = page.context.new_page()
    for label, width, scheme in [("desktop", 700, "light"), ("phone", 375, "light"),
                                 ("phone-dark", 375, "dark")]:
        email.set_viewport_size({"width": width, "height": 800})
        email.goto(f"{url}email.html?scheme={scheme}")
        email.screenshot(path=ARTIFACTS / f"email-{date}-{label}.png", full_page=True)
    email.close()


def test_dark_switch_changes_the_email_colours(preview: PreviewProcess, page: Page) -> None:
    page.goto(preview.url)
    phone = _frame(page, "phone")
    assert _background(phone) == LIGHT_PAGE
    card_text = "getComputedStyle(document.querySelector('.nl-h2')).color"
    light_title = phone.evaluate(card_text)
    page.locator("#dark").check()
    expect(page.frame_locator("#phone").locator("body")).to_have_css("background-color",
                                                                     DARK_PAGE)
    phone = _frame(page, "phone")
    assert phone.evaluate(card_text) != light_title
    assert _background(_frame(page, "desktop")) == DARK_PAGE
    page.locator("#phone").screenshot(path=ARTIFACTS / "preview-phone-dark.png")
    page.reload()  # the choice survives the live reload
    expect(page.locator("#dark")).to_be_checked()
    expect(page.frame_locator("#phone").locator("body")).to_have_css("background-color",
                                                                     DARK_PAGE)
    page.locator("#dark").uncheck()
    expect(page.frame_locator("#phone").locator("body")).to_have_css("background-color",
                                                                     LIGHT_PAGE)


def _reload_time(page: Page, edit, expect_visible) -> float:
    """Seconds from an edit on disk to its effect on the page."""
    started = time.monotonic()
    edit()
    expect_visible(timeout=RELOAD_BUDGET_MS)
    return time.monotonic() - started


def test_an_edited_paper_shows_within_two_seconds(preview: PreviewProcess, seeded: Project,
                                                 page: Page) -> None:
    path = seeded.root / "seeds" / "papers" / "mixture-of-depths-2.md"
    text = path.read_text()
    page.goto(preview.url)
    expect(page.frame_locator("#desktop").get_by_role(
        "heading", name="Mixture of Depths - Conditional Computation in Transformers")
    ).to_be_visible()
    new_title = "Mixture of Depths, Edited While Previewing"
    seconds = _reload_time(
        page, lambda: path.write_text(text.replace(
            "title: Mixture of Depths - Conditional Computation in Transformers",
            f"title: {new_title}")),
        lambda timeout: expect(page.frame_locator("#phone").get_by_role(
            "heading", name=new_title)).to_be_visible(timeout=timeout))
    print(f"paper edit -> page: {seconds * 1000:.0f} ms")
    expect(page.frame_locator("#desktop").get_by_role("heading", name=new_title)).to_be_visible()
    expect(page.locator("#plaintext")).to_contain_text(new_title)


def test_issue_template_and_config_edits_reload_too(preview: PreviewProcess, seeded: Project,
                                                    page: Page) -> None:
    page.goto(preview.url)
    desktop = page.frame_locator("#desktop")
    edits = [
        (seeded.root / "seeds" / "issues" / "2025-11-28.md",
         "Both papers represent significant advances", "Both papers are big steps"),
        (seeded.root / "templates" / "issue.mjml.j2", "<p>Hi {{ name }},</p>",
         "<p>Hello {{ name }},</p>"),
        (seeded.root / "newsletter.toml", 'title = "Research Update"',
         'title = "Research Weekly"'),
    ]
    for path, old, new in edits:
        text = path.read_text()
        assert old in text
        shown = new.removeprefix("<p>").removesuffix("</p>").replace("{{ name }}", "there")
        shown = shown.removeprefix('title = "').removesuffix('"')
        seconds = _reload_time(page, lambda p=path, t=text, o=old, n=new: p.write_text(
            t.replace(o, n)), lambda timeout, s=shown: expect(desktop.get_by_text(
                s).first).to_be_visible(timeout=timeout))
        print(f"{path.name} edit -> page: {seconds * 1000:.0f} ms")


def test_a_broken_paper_shows_file_and_line_and_the_server_recovers(
        preview: PreviewProcess, seeded: Project, page: Page) -> None:
    path = seeded.root / "seeds" / "papers" / "mixture-of-depths-2.md"
    good = path.read_text()
    page.goto(preview.url)
    path.write_text(good.replace("presentation: Oral", "presentation: Keynote"))
    where = page.locator("#error-where")
    expect(where).to_have_text("seeds/papers/mixture-of-depths-2.md:13",
                               timeout=RELOAD_BUDGET_MS)
    expect(page.locator("#error")).to_contain_text("field 'presentation'")
    expect(page).to_have_title(re.compile(r"^Error · "))
    expect(page.locator("#error")).to_be_in_viewport(ratio=1)
    # The last good render stays visible under the error, and the server keeps running.
    expect(page.frame_locator("#desktop").locator("h2.nl-h2").first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "preview-error.png")
    assert preview.running
    path.write_text(good)
    expect(page.locator("#error")).to_have_count(0, timeout=RELOAD_BUDGET_MS)
    expect(page).to_have_title("Preview · Research Update: November 28, 2025")
    assert preview.running


def test_the_first_build_failing_still_serves_the_error(project: Project, page: Page) -> None:
    project.add_paper("mod", text="no front matter\n")
    project.add_issue("2025-11-28", ["mod"])
    with _start(project) as server:
        page.goto(server.url)
        expect(page.locator("#error-where")).to_have_text("seeds/papers/mod.md:1")
    assert "error: seeds/papers/mod.md:1: has no front matter" in "".join(server.stderr)


def test_a_taken_port_is_one_clear_line(seeded: Project) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["preview", "--date", "2025-11-28", "--port", str(port),
                                          "--no-open"])
    assert result.exit_code == 2
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.output


def test_force_scheme_answers_colour_scheme_queries() -> None:
    html = ('<meta name="color-scheme" content="light dark"><style>'
            "@media (prefers-color-scheme: dark) { a {} } "
            "@media only screen and ( prefers-color-scheme:light ) { b {} }</style>")
    dark = force_scheme(html, "dark")
    assert "@media (min-width: 0px) { a {} }" in dark
    assert "and (min-width: 1000000px) { b {} }" in dark
    assert 'content="dark"' in dark
    light = force_scheme(html, "light")
    assert "@media (min-width: 1000000px) { a {} }" in light
    assert 'content="light"' in light


def test_in_process_server_draft_long_poll_and_host_check(project: Project) -> None:
    """The server without a browser: a draft date writes nothing, and threads end on close."""
    import datetime as dt
    import threading
    import urllib.error
    import urllib.request

    from newsletter.commands.preview import open_preview

    project.add_paper("mod", title="Mixture of Depths")
    before = project.files()
    with open_preview(project.root / "newsletter.toml", dt.date(2025, 11, 28), port=0) as server:
        page = fetch(server.url).decode()
        assert 'id="draft"' in page and "Mixture of Depths" in page
        assert b"Mixture of Depths" in fetch(server.url + "email.html?scheme=dark")
        version = server.state.version
        # A long poll for an old version answers at once; one for the current version waits.
        assert fetch(f"{server.url}livereload?since={version - 1}") == \
            f'{{"version": {version}}}'.encode()
        answer: list[bytes] = []
        waiting = threading.Thread(target=lambda: answer.append(
            fetch(f"{server.url}livereload?since={version}")))
        waiting.start()
        time.sleep(0.3)
        assert not answer
        server.state.rebuild()
        waiting.join(timeout=5)
        assert answer == [f'{{"version": {version + 1}}}'.encode()]
        request = urllib.request.Request(server.url, headers={"Host": "evil.example:80"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 403
        refused.value.close()
    assert project.files() == before  # no draft issue file, no outbox
    alive = [t.name for t in threading.enumerate() if t.name.startswith("preview-")]
    assert alive == []


def test_a_bug_in_the_builder_is_shown_with_its_traceback_and_the_last_good_build_kept() -> None:
    from newsletter.errors import ContentError
    from newsletter.preview.server import PreviewState

    outcomes = iter(["good", ContentError("bad", path="seeds/papers/x.md", line=3),
                     RuntimeError("boom")])

    def builder():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    state = PreviewState(builder, "2025-11-28")  # type: ignore[arg-type]
    state.rebuild()
    assert state.snapshot() == (1, "good", None)
    state.rebuild()
    version, build, error = state.snapshot()
    assert (version, build, error.diagnostic.where) == (2, "good", "seeds/papers/x.md:3")
    assert error.traceback == ""
    state.rebuild()
    version, build, error = state.snapshot()
    assert (version, build, error.diagnostic.code) == (3, "good", "bug")
    assert "RuntimeError: boom" in error.traceback


@pytest.mark.parametrize("since", ["²", "٣", "9" * 5000, "-1", "1e3", " 1", "0x1"],
                         ids=["superscript two", "arabic-indic three", "5000 digits", "negative",
                              "exponent", "space", "hex"])
def test_a_bad_livereload_version_is_400_and_the_server_keeps_polling(
        project: Project, capfd: pytest.CaptureFixture[str], since: str) -> None:
    """int() refuses these (or takes long on them); each is a 400, never a dead handler."""
    import datetime as dt
    import threading
    import urllib.error
    import urllib.parse

    from newsletter.commands.preview import open_preview

    project.add_paper("mod", title="Mixture of Depths")
    with open_preview(project.root / "newsletter.toml", dt.date(2025, 11, 28), port=0) as server:
        url = f"{server.url}livereload?since={urllib.parse.quote(since)}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            fetch(url)
        assert refused.value.code == 400
        assert refused.value.read() == b"since must be a version number"
        refused.value.close()
        version = server.state.version
        assert fetch(f"{server.url}livereload?since={version - 1}") == \
            f'{{"version": {version}}}'.encode()
        answer: list[bytes] = []
        waiting = threading.Thread(target=lambda: answer.append(
            fetch(f"{server.url}livereload?since={version}")))
        waiting.start()
        time.sleep(0.2)
        server.state.rebuild()
        waiting.join(timeout=5)
        assert answer == [f'{{"version": {version + 1}}}'.encode()]
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
