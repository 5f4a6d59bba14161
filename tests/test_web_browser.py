"""The web app in Debian's Chromium (Playwright): a reader's footer link, subscribing with
the confirmation mail caught by a real SMTP server, and axe-core on every page a reader
sees (no critical or serious violation)."""

from __future__ import annotations

import datetime as dt
import email
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from test_web import DATE, Site, confirmation_link_in, make_site

from newsletter.audience.tokens import SECRET_ENV
from newsletter.commands.send import send_issue
from newsletter.store import open_store
from support.browser import launch_chromium
from support.project import Project
from support.smtp import Recorder, SMTPServer


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def axe_source() -> Iterator[str]:
    """axe-core from npm, installed into a temporary folder; a failure fails the tests."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is missing: apt-get install npm (axe-core comes from npm)")
    folder = Path(tempfile.mkdtemp(prefix="axe-"))
    try:
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix",
                               str(folder), "axe-core@4"], capture_output=True, text=True,
                              timeout=300)
        script = folder / "node_modules" / "axe-core" / "axe.min.js"
        if done.returncode != 0 or not script.is_file():
            raise RuntimeError(f"npm install axe-core failed: {done.stderr[-2000:]}")
        yield script.read_text(encoding="utf-8")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # bypass_csp: axe is injected as a script, which the pages' policy (rightly) refuses.
    context = browser.new_context(bypass_csp=True)
    yield context.new_page()
    context.close()


@pytest.fixture
def site(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    made, server = make_site(project)
    with server:
        yield made


def serious_violations(page: Page, axe: str) -> list[str]:
    page.add_script_tag(content=axe)
    found = page.evaluate("async () => (await axe.run()).violations"
                          ".map(v => ({id: v.id, impact: v.impact, n: v.nodes.length}))")
    return [json.dumps(v) for v in found if v["impact"] in ("critical", "serious")]


def footer_link(message: bytes) -> str:
    parsed = email.message_from_bytes(message, policy=policy.default)
    html = parsed.get_body(("html",)).get_content()
    found = re.search(r'href="([^"]*/unsubscribe\?token=[^"]+)"', html)
    assert found, "no unsubscribe link in the footer"
    return found[1].replace("&amp;", "&")


def test_the_footer_link_of_a_sent_message_unsubscribes(site: Site, page: Page) -> None:
    report = send_issue(site.config, dt.date(2025, 11, 28), transport="outbox")
    assert report is not None
    sent = site.config.issue_outbox(dt.date(2025, 11, 28)) / "sent" / "ann@example.org.eml"
    link = footer_link(sent.read_bytes())
    assert link.startswith(f"{site.url}/unsubscribe?token=u.")
    page.goto(link)
    assert site.status("ann@example.org") == "active"  # opening the page changes nothing
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    assert site.status("ann@example.org") == "unsubscribed"
    assert site.status("bob@example.org") == "active"


def test_subscribe_and_confirm_from_the_mail(project: Project, page: Page,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    recorder = Recorder()
    with SMTPServer(recorder) as smtp:
        made, server = make_site(project, extra=f'\n[delivery]\ntransport = "smtp"\n'
                                                f'smtp_url = "{smtp.url}"\n')
        made.mails = []
        from newsletter.web.application import create_app

        server = type(server)(create_app(made.config), sock=server.sock)  # the real mailer
        with server:
            page.goto(f"{made.url}/subscribe")
            page.get_by_label("Email address").fill("Zoe@Example.org")
            page.get_by_label("Name (optional)").fill("Zoe")
            page.get_by_role("button", name="Subscribe").click()
            page.get_by_role("heading", name="Check your inbox").wait_for()
            deadline = time.monotonic() + 10
            while not recorder.messages and time.monotonic() < deadline:
                time.sleep(0.05)
            [(_, recipients, data)] = recorder.messages
            assert recipients == ["zoe@example.org"] and made.status("zoe@example.org") is None
            page.goto(confirmation_link_in(data))
            assert made.status("zoe@example.org") is None
            page.get_by_role("button", name="Confirm").click()
            page.get_by_role("heading", name="You are subscribed").wait_for()
    assert made.status("zoe@example.org") == "active"
    with open_store(made.config) as store:
        zoe = store.subscriber("zoe@example.org")
        assert zoe is not None and zoe.name == "Zoe"


def test_pages_pass_axe(site: Site, page: Page, axe_source: str) -> None:
    token = site.token("ann@example.org")
    site.mails.clear()
    pages = {"archive": "/", "subscribe": "/subscribe",
             "unsubscribe": f"/unsubscribe?token={token}", "bad link": "/unsubscribe?token=x",
             "web version": f"/issues/{DATE}/"}
    found = {}
    for name, path in pages.items():
        page.goto(site.url + path)
        found[name] = serious_violations(page, axe_source)
    page.goto(f"{site.url}/unsubscribe?token={token}")
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    found["unsubscribed"] = serious_violations(page, axe_source)
    page.get_by_role("button", name="Resubscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    found["asked"] = serious_violations(page, axe_source)
    page.goto(site.link())
    found["confirm"] = serious_violations(page, axe_source)
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(site.url + "/subscribe")
        found[f"subscribe at {width}px"] = serious_violations(page, axe_source)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert found == {name: [] for name in found}
