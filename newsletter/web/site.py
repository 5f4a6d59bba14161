"""`newsletter site build OUT/`: the archive and the feed as static files, for any static
host, for lists that run no server (the one-click link then needs the server, or a
`delivery.unsubscribe_url` elsewhere).

The same pages and feed the app serves: OUT/index.html, OUT/feed.xml,
OUT/issues/<date>/index.html with the issue's figures, OUT/static/site.css.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.config import Config
from newsletter.content.files import write_atomic, write_folder_atomic
from newsletter.store import open_store
from newsletter.web.archive import ArchivedIssue, feed_xml, index_page, sent_issues
from newsletter.web.pages import STATIC


def build_site(config: Config, out: Path) -> list[ArchivedIssue]:
    """Write the static archive into `out`; the issues it holds, newest first."""
    with open_store(config) as store:
        issues = sent_issues(config, store.sent_any)
    for issue in issues:
        files = {"index.html": issue.html()}
        files.update({name: (issue.folder / name).read_bytes() for name in issue.figures
                      if issue.figure(name) is not None})
        write_folder_atomic(out / "issues" / issue.date.isoformat(), files)
    write_atomic(out / "static" / "site.css", (STATIC / "site.css").read_bytes())
    write_atomic(out / "feed.xml", feed_xml(config, issues))
    write_atomic(out / "index.html", index_page(config, issues, subscribe=False).encode())
    return issues
