"""The web app on a real uvicorn (127.0.0.1, a free port), asked over real sockets.

One-click POSTs byte for byte as Gmail sends them; GETs that never change anything; forged
tokens; security headers; body caps; double opt-in with replayed and expired links; rate
limits; forwarded headers only from trusted proxies; the access log without tokens.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import logging
import re
import shutil
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from pathlib import Path

import httpx
import pytest

from newsletter.audience.tokens import SECRET_ENV, signer_for
from newsletter.commands.compose import compose_issue
from newsletter.config import Config
from newsletter.store import open_store
from newsletter.web.application import create_app
from newsletter.web.confirmations import confirmation_link
from newsletter.web.security import RateLimiter
from newsletter.web.server import BackgroundServer, listening_socket
from newsletter.web.settings import WebSettings
from support.project import Project

DATE = "2025-11-28"
ONE_CLICK = b"List-Unsubscribe=One-Click"


@dataclass
class Site:
    """A project, its app on uvicorn, and the confirmation mails it sent."""

    project: Project
    config: Config
    url: str
    mails: list[tuple[str, bytes]] = field(default_factory=list)

    def token(self, email: str) -> str:
        with open_store(self.config) as store:
            subscriber = store.subscriber(email)
        assert subscriber is not None
        return signer_for(self.config).token(subscriber.id)

    def status(self, email: str) -> str | None:
        with open_store(self.config) as store:
            subscriber = store.subscriber(email)
        return subscriber.status if subscriber else None

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)

    def link(self, index: int = -1) -> str:
        self.sent_to(1)
        return confirmation_link_in(self.mails[index][1])

    def sent_to(self, at_least: int) -> list[str]:
        """The addresses mailed, once `at_least` mails went out (they leave after the
        response, on a worker thread)."""
        deadline = time.monotonic() + 5
        while len(self.mails) < at_least and time.monotonic() < deadline:
            time.sleep(0.01)
        return [address for address, _ in self.mails]


def confirmation_link_in(data: bytes) -> str:
    """The link in a confirmation mail, decoded as a mail client shows it."""
    message = email.message_from_bytes(data, policy=policy.default)
    assert message["Auto-Submitted"] == "auto-generated"
    found = re.search(r"(https?://\S+/confirm\?token=\S+)", message.get_content())
    assert found, data
    return found[1]


def make_site(project: Project, settings: WebSettings | None = None,
              extra: str = "") -> tuple[Site, BackgroundServer]:
    """Compose a sent issue, add two readers, and serve the app on a port chosen first (so
    base_url, and every link in the mails, points at it)."""
    sock = listening_socket("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    toml = project.root / "newsletter.toml"
    toml.write_text(toml.read_text().replace("https://news.example.org", url) + extra)
    project.add_paper("a-paper", title="A Paper", published="2025-11-01")
    project.add_issue(DATE, ["a-paper"])
    config = project.config()
    compose_issue(config, dt.date(2025, 11, 28), now=dt.datetime(2025, 11, 28, 9, tzinfo=dt.UTC))
    # A draft composed into the outbox (a copy, marked draft): it must stay private.
    project.add_issue("2025-12-05", ["a-paper"], status="draft")
    draft = shutil.copytree(config.issue_outbox(dt.date(2025, 11, 28)),
                            config.issue_outbox(dt.date(2025, 12, 5)))
    summary = json.loads((draft / "issue.json").read_text())
    (draft / "issue.json").write_text(json.dumps({**summary, "status": "draft"}))
    from newsletter.commands.subscribers import add

    add(config, "ann@example.org", "Ann")
    add(config, "bob@example.org", "Bob")
    site = Site(project, config, url)
    app = create_app(config, deliver=lambda address, data: site.mails.append((address, data)))
    return site, BackgroundServer(app, settings, sock=sock)


@pytest.fixture
def site(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    made, server = make_site(project)
    with server:
        yield made


def raw_request(url: str, request: bytes) -> bytes:
    """One HTTP/1.1 exchange over a plain socket: exactly these bytes go out."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def gmail_post(url: str, token: str, body: bytes = ONE_CLICK,
               kind: bytes = b"application/x-www-form-urlencoded") -> bytes:
    """The one-click POST as Gmail makes it: form-encoded, no cookie, no referrer."""
    host = url.removeprefix("http://").encode()
    return raw_request(url, b"POST /unsubscribe?token=" + token.encode() + b" HTTP/1.1\r\n"
                       b"Host: " + host + b"\r\nUser-Agent: Mozilla/5.0 (compatible; Google-"
                       b"Mail-Unsubscribe)\r\nContent-Type: " + kind + b"\r\nContent-Length: "
                       + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


def test_one_click_post_exactly_as_gmail_sends_it(site: Site) -> None:
    token = site.token("ann@example.org")
    answer = gmail_post(site.url, token)
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 200 ")
    assert b"set-cookie" not in head and b"location" not in head
    assert b"referrer-policy: no-referrer" in head and b"cache-control: no-store" in head
    assert site.status("ann@example.org") == "unsubscribed"
    assert site.status("bob@example.org") == "active"
    again = gmail_post(site.url, token)  # a retry, or a second click: harmless
    assert again.startswith(b"HTTP/1.1 200 ") and site.status("ann@example.org") == "unsubscribed"


def test_one_click_as_multipart_and_without_the_field(site: Site) -> None:
    token = site.token("bob@example.org")
    missing = gmail_post(site.url, token, b"")
    assert missing.startswith(b"HTTP/1.1 400 ") and site.status("bob@example.org") == "active"
    body = (b"--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
            b"One-Click\r\n--b--\r\n")
    answer = gmail_post(site.url, token, body, b"multipart/form-data; boundary=b")
    assert answer.startswith(b"HTTP/1.1 200 ") and site.status("bob@example.org") == "unsubscribed"


def test_get_and_head_never_change_anything(site: Site) -> None:
    token = site.token("ann@example.org")
    with site.client() as client:
        for _ in range(3):  # a link scanner prefetching, then the reader
            page = client.get("/unsubscribe", params={"token": token})
            assert client.head("/unsubscribe", params={"token": token}).status_code == 200
        assert site.status("ann@example.org") == "active"
        assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        form = re.search(r'<form method="post" action="([^"]+)">', page.text)
        assert form and form[1] == f"unsubscribe?token={token}"
        assert page.text.count("<button") == 1 and ">Unsubscribe</button>" in page.text
        for method in ("PUT", "DELETE", "PATCH"):
            assert client.request(method, f"/unsubscribe?token={token}").status_code == 405
    assert site.status("ann@example.org") == "active"


def test_forged_altered_and_truncated_tokens_are_400(site: Site) -> None:
    token = site.token("ann@example.org")
    head, uid, signature = token.split(".")
    flipped = "B" if signature[0] == "A" else "A"
    bad = ["", token[:-1], token[:20], f"{head}.{uid}.{flipped}{signature[1:]}",
           f"{head}.{'0' * 32}.{signature}", f"{head}.{uid.upper()}.{signature}",
           f"1.{signature}", token + "A", "u.x.y", "%00" + token]
    with site.client() as client:
        for forged in bad:
            page = client.get(f"/unsubscribe?token={forged}")
            assert page.status_code == 400, forged
            assert "does not work" in page.text and page.headers["content-type"].startswith(
                "text/html")
            assert gmail_post(site.url, forged or "x").startswith(b"HTTP/1.1 400 "), forged
            assert client.post(f"/resubscribe?token={forged}").status_code == 400
    assert site.status("ann@example.org") == site.status("bob@example.org") == "active"


def test_security_headers_on_every_answer(site: Site) -> None:
    token = site.token("ann@example.org")
    paths = ["/", "/feed.xml", "/subscribe", f"/issues/{DATE}/", f"/unsubscribe?token={token}",
             "/unsubscribe?token=bad", "/nowhere", "/static/site.css", "/issues/2025-12-05/"]
    with site.client() as client:
        answers = [client.get(path) for path in paths] + [client.delete("/")]
    for answer in answers:
        policy = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
        assert "script-src" not in policy and "unsafe-eval" not in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "server" not in answer.headers
    assert [a.status_code for a in answers] == [200] * 5 + [400, 404, 200, 404, 405]


def test_request_bodies_are_capped(site: Site) -> None:
    big = b"email=" + b"a" * 2_000_000
    with site.client() as client:
        assert client.post("/subscribe", content=big, headers={
            "content-type": "application/x-www-form-urlencoded"}).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
            for _ in range(100):
                yield b"x" * 1000

        assert client.post("/subscribe", content=chunks()).status_code == 413
        token = site.token("ann@example.org")
        assert client.post(f"/unsubscribe?token={token}", content=ONE_CLICK + b"&" * 20_000,
                           headers={"content-type": "application/x-www-form-urlencoded"}
                           ).status_code == 413
    assert site.status("ann@example.org") == "active" and site.mails == []


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_tokens_never_reach_the_access_log(project: Project) -> None:
    made, server = make_site(project)
    server = BackgroundServer(server.server.config.app, access_log=True, sock=server.sock)
    token = made.token("ann@example.org")
    access = logging.getLogger("uvicorn.access")  # configured by uvicorn: attach afterwards
    handler = Lines()
    access.addHandler(handler)
    try:
        with server, made.client() as client:
            client.get(f"/unsubscribe?token={token}")
            client.post(f"/unsubscribe?token={token}", content=ONE_CLICK,
                        headers={"content-type": "application/x-www-form-urlencoded"})
            client.get(f"/confirm?token={token}")
    finally:
        access.removeHandler(handler)
    lines = handler.lines
    assert len([line for line in lines if "/unsubscribe HTTP/1.1" in line]) == 2, lines
    assert not any(token in line or "token" in line for line in lines), lines


def _form_fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))


def subscribe(client: httpx.Client, email: str, **extra: str) -> httpx.Response:
    form = client.get("/subscribe")
    fields = {"email": email, "name": "", "website": "", "csrf": _form_fields(form.text)["csrf"]}
    return client.post("/subscribe", data={**fields, **extra})


def test_double_opt_in_confirms_once(site: Site) -> None:
    with site.client() as client:
        answer = subscribe(client, "Cy@Example.org", name="Cy")
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        assert site.status("cy@example.org") is None  # nothing stored before confirming
        assert site.sent_to(1) == ["cy@example.org"]
        link = site.link()
        assert link.startswith(f"{site.url}/confirm?token=c.")
        for _ in range(2):
            page = client.get(link)
            assert page.status_code == 200 and ">Confirm</button>" in page.text
            assert page.headers["cache-control"] == "no-store"
        assert site.status("cy@example.org") is None  # a prefetch confirms nothing
        done = client.post(link)
        assert done.status_code == 200 and "You are subscribed" in done.text
        assert site.status("cy@example.org") == "active"
        assert client.post(link).status_code == 200  # a second click: nothing more
        with open_store(site.config) as store:
            cy = store.subscriber("cy@example.org")
            assert cy is not None and cy.name == "Cy"
        gmail_post(site.url, site.token("cy@example.org"))
        assert site.status("cy@example.org") == "unsubscribed"
        replayed = client.post(link)  # the old link must not undo the unsubscription
        assert replayed.status_code == 400 and site.status("cy@example.org") == "unsubscribed"


def test_unsubscribed_reader_comes_back_only_by_confirming(site: Site) -> None:
    token = site.token("ann@example.org")
    gmail_post(site.url, token)
    with site.client() as client:
        page = client.get(f"/unsubscribe?token={token}")
        assert "Resubscribe" in page.text and site.status("ann@example.org") == "unsubscribed"
        asked = client.post(f"/resubscribe?token={token}")
        assert asked.status_code == 200 and site.status("ann@example.org") == "unsubscribed"
        assert client.post(site.link()).status_code == 200
    assert site.status("ann@example.org") == "active"


def test_answers_never_say_whether_an_address_is_listed(site: Site) -> None:
    with site.client() as client:
        listed = subscribe(client, "ann@example.org")
        new = subscribe(client, "dee@example.org")
    assert (listed.status_code, listed.text) == (new.status_code, new.text)
    assert site.sent_to(1) == ["dee@example.org"]


def test_expired_and_forged_confirmation_links(site: Site) -> None:
    from newsletter.mail.headers import list_id
    from newsletter.web.application import ConfirmSigner, load_secret

    signer = ConfirmSigner(load_secret(site.config.secret_path), list_id(site.config))
    old, _ = confirmation_link(site.config, signer, "eve@example.org", "", None, 7,
                               now=time.time() - 8 * 86_400)
    fine, _ = confirmation_link(site.config, signer, "eve@example.org", "", None, 7)
    altered = fine.replace("c.", "c.A", 1)
    with site.client() as client:
        for method in (client.get, client.post):
            expired = method(old)
            assert expired.status_code == 400 and "expired" in expired.text
            assert method(altered).status_code == 400
            assert method(fine[:-3]).status_code == 400
    assert site.status("eve@example.org") is None


def test_honeypot_and_missing_csrf_send_nothing(site: Site) -> None:
    with site.client() as client:
        bot = subscribe(client, "bot@example.org", website="http://spam.example")
        assert bot.status_code == 200 and "Check your inbox" in bot.text
    with site.client() as elsewhere:  # the snippet on another site: no cookie, no CSRF token
        page = elsewhere.post("/subscribe", data={"email": "fay@example.org"})
        assert page.status_code == 200 and "Press Subscribe" in page.text
        assert 'value="fay@example.org"' in page.text
        fields = _form_fields(page.text)
        done = elsewhere.post("/subscribe", data={**fields, "website": ""})
        assert "Check your inbox" in done.text
    assert site.sent_to(1) == ["fay@example.org"]


def test_200_rapid_subscribes_from_one_address(site: Site) -> None:
    with site.client() as client:
        csrf = _form_fields(client.get("/subscribe").text)["csrf"]
        cookies = dict(client.cookies)

    with site.client(cookies=cookies) as shared, ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda i: shared.post("/subscribe", data={
            "email": f"r{i}@example.org", "csrf": csrf}).status_code, range(200)))
    limit = WebSettings().client_limit
    assert codes.count(200) == limit and codes.count(429) == 200 - limit, codes
    assert len(site.sent_to(limit)) == limit
    with site.client() as client:
        assert client.get("/").status_code == 200  # still serving


def test_per_address_limit_and_trusted_forwarded_headers(site: Site) -> None:
    def from_client(client: httpx.Client, email: str, forwarded: str) -> int:
        page = client.get("/subscribe")
        return client.post("/subscribe", headers={"x-forwarded-for": forwarded}, data={
            "email": email, "csrf": _form_fields(page.text)["csrf"]}).status_code

    with site.client() as client:
        # 127.0.0.1 is a trusted proxy: X-Forwarded-For names the client for the limits.
        codes = [from_client(client, "gus@example.org", f"203.0.113.{i}") for i in range(5)]
        assert codes == [200, 200, 200, 429, 429]  # per email address, whoever asks
        codes = [from_client(client, f"h{i}@example.org", "198.51.100.7") for i in range(12)]
        assert codes == [200] * 10 + [429] * 2
        assert from_client(client, "ivy@example.org", "198.51.100.8") == 200


def test_forwarded_headers_from_others_are_ignored(project: Project) -> None:
    made, server = make_site(project, WebSettings(trusted_proxies=["192.0.2.1"]))
    with server, made.client() as client:
        codes = []
        for i in range(11):
            page = client.get("/subscribe")
            codes.append(client.post("/subscribe", headers={"x-forwarded-for": f"10.0.0.{i}"},
                                     data={"email": f"j{i}@example.org",
                                           "csrf": _form_fields(page.text)["csrf"]}).status_code)
    assert codes == [200] * 10 + [429]  # every request counted as 127.0.0.1's


def test_rate_limiter_memory_is_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60, max_keys=100, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    for i in range(10_000):
        limiter.allow(f"k{i}")
    assert len(limiter) == 100
    now[0] = 61
    assert limiter.allow("k9999") and limiter.allow("a")


def test_archive_lists_sent_issues_and_serves_their_web_version(site: Site) -> None:
    with site.client() as client:
        index = client.get("/")
        assert index.status_code == 200
        assert 'href="issues/2025-11-28/"' in index.text and "2025-12-05" not in index.text
        web = client.get(f"/issues/{DATE}/")
        assert web.content == (site.config.issue_outbox(dt.date(2025, 11, 28))
                               / "issue.html").read_bytes()
        assert "Hi there," in web.text and "token=" not in web.text
        assert "style-src 'unsafe-inline'" in web.headers["content-security-policy"]
        assert client.get(f"/issues/{DATE}").status_code == 308
        assert client.get("/issues/2025-12-05/").status_code == 404  # a draft stays private
        assert client.get(f"/issues/{DATE}/issue.json").status_code == 404
        assert client.get(f"/issues/{DATE}/..%2Fnewsletter.toml").status_code == 404


def test_every_email_links_its_web_version(site: Site) -> None:
    folder = site.config.issue_outbox(dt.date(2025, 11, 28))
    address = f"{site.url}/issues/{DATE}/"
    assert f'href="{address}"' in (folder / "issue.html").read_text()
    assert f"View in browser: {address}" in (folder / "issue.txt").read_text()


def test_the_feed_is_atom_with_each_issue_in_full(site: Site) -> None:
    import feedparser

    with site.client() as client:
        answer = client.get("/feed.xml")
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(answer.content)
    assert not feed.bozo and feed.version == "atom10"
    assert feed.feed.title == "Research Update" and feed.feed.id == f"{site.url}/"
    [entry] = feed.entries
    assert entry.id == entry.link == f"{site.url}/issues/{DATE}/"
    assert entry.title == "Research Update - November 28, 2025"
    assert "A Paper" in entry.content[0].value and "Key Finding" in entry.content[0].value
    assert entry.updated_parsed[:3] == (2025, 11, 28)
    assert any(link.rel == "self" and link.href == f"{site.url}/feed.xml"
               for link in feed.feed.links)


def test_site_build_writes_the_same_archive(site: Site, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from newsletter.cli.web import site as site_group

    out = tmp_path / "public"
    result = CliRunner().invoke(site_group, ["build", str(out)],
                                obj={"config_path": site.project.root / "newsletter.toml"})
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}: 1 issue(s), index.html and feed.xml\n"
    with site.client() as client:
        assert (out / "feed.xml").read_bytes() == client.get("/feed.xml").content
        assert (out / "issues" / DATE / "index.html").read_bytes() == \
            client.get(f"/issues/{DATE}/").content
    assert (out / "static" / "site.css").is_file()
    index = (out / "index.html").read_text()
    assert 'href="issues/2025-11-28/"' in index and "subscribe" not in index.lower()


@contextmanager
def _running(command: list[str], root: Path, env: dict[str, str]) -> Iterator[str]:
    """Start a server process, yield its URL (from uvicorn's start-up line), Ctrl-C it."""
    import os
    import signal
    import subprocess

    process = subprocess.Popen(command, cwd=root, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **env})
    try:
        assert process.stderr is not None
        for line in process.stderr:
            found = re.search(r"(?:running|Serving) on (http://127\.0\.0\.1:\d+)", line)
            if found:
                break
        else:
            raise AssertionError("the server printed no address")
        yield found[1]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        if process.stderr:
            process.stderr.close()


REGISTERED = ("import sys; from newsletter.cli import COMMANDS, main; "
              "COMMANDS.setdefault('serve', 'web:serve'); sys.argv[0] = 'newsletter'; main()")


@pytest.mark.parametrize("how", ["serve", "any ASGI server"])
def test_served_by_the_command_and_as_newsletter_web_app(project: Project, how: str) -> None:
    import sys

    project.add_paper("a-paper", published="2025-11-01")
    project.add_issue(DATE, ["a-paper"])
    command = ([sys.executable, "-c", REGISTERED, "serve", "--port", "0"] if how == "serve"
               else [sys.executable, "-m", "uvicorn", "newsletter.web:app", "--port", "0"])
    env = {"NEWSLETTER_CONFIG": str(project.root / "newsletter.toml")}
    with _running(command, project.root, env) as url:
        answer = httpx.get(f"{url}/subscribe", timeout=10)
        assert answer.status_code == 200 and "frame-ancestors 'none'" in \
            answer.headers["content-security-policy"]


def test_a_port_in_use_is_one_line(project: Project) -> None:
    import subprocess
    import sys

    taken = listening_socket("127.0.0.1", 0)
    taken.listen()
    try:
        port = str(taken.getsockname()[1])
        done = subprocess.run([sys.executable, "-c", REGISTERED, "serve", "--port", port],
                              cwd=project.root, capture_output=True, text=True, timeout=30)
    finally:
        taken.close()
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: Address already "
                                  "in use") and done.stderr.count("\n") == 1
