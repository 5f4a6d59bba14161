"""`newsletter add`: paper files from recorded arXiv and Crossref responses on 127.0.0.1.

Every request goes to a local server (tests/support/http.py) that answers with the files in
tests/recorded/ (see its README: reconstructed from the documented formats, not captured).
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from newsletter.cli import COMMANDS, cli
from newsletter.config import Config
from newsletter.content.readers import load_content
from newsletter.errors import ConfigError
from newsletter.lint.runner import run_check
from newsletter.sources import settings as source_settings
from newsletter.sources.arxiv import ArxivClient
from newsletter.sources.http import Pacer, user_agent
from newsletter.sources.references import Reference, parse_reference
from newsletter.sources.settings import SourcesSettings
from support.http import RecordedServer, Reply, recorded_server
from support.project import Project

ARXIV = {  # id_list -> what the API answers
    "2404.02258": Reply.recorded("arxiv/2404.02258.xml"),
    "1712.05889": Reply.recorded("arxiv/1712.05889.xml"),
    "2309.06180": Reply.recorded("arxiv/2309.06180.xml"),
    "2411.99999": Reply.recorded("arxiv/empty.xml"),
    "0901.0001": Reply.recorded("arxiv/error.xml"),
    "2402.01234": Reply.recorded("arxiv/withdrawn.xml"),
    "2403.00001": Reply.recorded("arxiv/malformed.xml"),
    "2403.00002": Reply.recorded("unavailable.html", status=503),
    "2403.00003": Reply(hang=True),
}
CROSSREF = {  # DOI -> what /works/{doi} answers
    "10.1145/3600006.3613165": Reply.recorded("crossref/10.1145-3600006.3613165.json"),
    "10.5555/12345678": Reply.recorded("crossref/10.5555-retracted.json"),
    "10.5555/malformed": Reply.recorded("crossref/malformed.json"),
    "10.5555/unavailable": Reply.recorded("unavailable.html", status=500),
}
NOT_FOUND = Reply.recorded("crossref/not-found.txt", status=404)
TRACKS = {"cs.LG": "ml", "cs.DC": "systems"}


def route(path: str, query: dict[str, str]) -> Reply:
    if path == "/api/query":
        return ARXIV.get(query.get("id_list", ""), Reply.recorded("arxiv/empty.xml"))
    if path.startswith("/works/"):
        return CROSSREF.get(unquote(path.removeprefix("/works/")).lower(), NOT_FOUND)
    return NOT_FOUND


def _settings(server: RecordedServer, **changes: object) -> SourcesSettings:
    values = {"arxiv_api_url": f"{server.url}/api/query", "crossref_url": f"{server.url}/works",
              "timeout": 1.0, "arxiv_interval": 0.05, **changes}
    return SourcesSettings.model_validate(values)


@pytest.fixture(autouse=True)
def _add_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """`add` in the registry, until newsletter/cli/__init__.py lists it."""
    monkeypatch.setitem(COMMANDS, "add", "add:add")


@pytest.fixture
def sources(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordedServer]:
    """The recorded server, and the project's settings pointing at it.

    The settings are patched in until Config has its `sources` and `arxiv_tracks` fields.
    """
    with recorded_server(route) as server:
        settings = _settings(server)
        monkeypatch.setattr(source_settings, "sources_settings", lambda config: settings)
        monkeypatch.setattr(source_settings, "arxiv_tracks", lambda config: dict(TRACKS))
        yield server


def _add(*args: str):
    return CliRunner().invoke(cli, ["add", *args])


def test_add_from_arxiv_writes_a_paper_file_that_check_holds_back(
        project: Project, sources: RecordedServer) -> None:
    result = _add("arxiv:2404.02258")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "wrote seeds/papers/mixture-of-depths.md: 'Mixture-of-Depths: Dynamically allocating "
        "compute in transformer-based language models' (2024-04-02, track ml from arXiv cs.LG)")
    path = project.root / "seeds/papers/mixture-of-depths.md"
    assert path.read_text() == EXPECTED_MOD
    paper = load_content(project.root / "seeds", tracks=["ml", "systems"]).papers[
        "mixture-of-depths"]
    assert paper.authors[0] == "David Raposo" and len(paper.authors) == 6
    # One polite request: the identifier without version, a descriptive User-Agent.
    [request] = sources.requests
    assert request.query == {"id_list": "2404.02258", "max_results": "1"}
    assert request.headers["User-Agent"].startswith("newsletter/")
    assert "mailto:news@example.org" in request.headers["User-Agent"]
    # Until the editor writes them, the TODO lines are errors and compose never picks it.
    findings = {(f.code, f.line) for f in run_check(project.config()).findings}
    assert findings == {("unwritten-section", 16), ("unwritten-section", 21),
                        ("unwritten-section", 25)}
    dry = CliRunner().invoke(cli, ["compose", "--date", "2024-04-10", "--dry-run"])
    assert dry.exit_code == 2 and "no eligible paper" in dry.output
    project.add_paper("other", title="Another Paper", published="2024-04-05",
                      links={"arXiv": "https://arxiv.org/abs/2404.00001"})
    dry = CliRunner().invoke(cli, ["compose", "--date", "2024-04-10", "--dry-run"])
    assert "reject  mixture-of-depths  (not written yet: 'TODO: write ...' in ## Key Finding, " \
        "## Why It Matters, takeaway)" in dry.output.splitlines()


EXPECTED_MOD = """\
---
title: 'Mixture-of-Depths: Dynamically allocating compute in transformer-based language models'
authors:
- David Raposo
- Sam Ritter
- Blake Richards
- Timothy Lillicrap
- Peter Conway Humphreys
- Adam Santoro
venue: arXiv
published: '2024-04-02'
track: ml
links:
  arXiv: https://arxiv.org/abs/2404.02258
  PDF: https://arxiv.org/pdf/2404.02258
takeaway: 'TODO: write the one-line takeaway for the Bottom Line.'
---

## Key Finding

TODO: write the key finding: what the paper found, with its numbers.

## Why It Matters

TODO: write why it matters: for whom, and what it changes for them.
"""


def test_add_takes_the_track_and_venue_from_the_metadata(
        project: Project, sources: RecordedServer) -> None:
    result = _add("https://arxiv.org/abs/1712.05889v1")
    assert result.exit_code == 0, result.output
    paper = load_content(project.root / "seeds").papers["ray"]
    assert (paper.track, paper.venue, paper.published.iso()) == ("systems", "OSDI 2018",
                                                                 "2017-12-16")
    assert paper.affiliations == ["UC Berkeley"]
    result = _add("arxiv:2309.06180", "--track", "systems", "--slug", "vllm")
    assert result.exit_code == 0, result.output
    assert "track systems from --track" in result.output
    paper = load_content(project.root / "seeds").papers["vllm"]
    assert paper.links == {"arXiv": "https://arxiv.org/abs/2309.06180",
                           "PDF": "https://arxiv.org/pdf/2309.06180",
                           "DOI": "https://doi.org/10.1145/3600006.3613165"}
    assert paper.venue == "SOSP 2023"


def test_add_from_crossref(project: Project, sources: RecordedServer) -> None:
    before = project.files()
    result = _add("doi:10.1145/3600006.3613165")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("error: no track for doi:10.1145/3600006.3613165: its venue "
                                    "is not in [venue_tracks]")
    assert project.files() == before
    config = project.root / "newsletter.toml"
    config.write_text(config.read_text() + '[venue_tracks]\nSOSP = "systems"\n')
    result = _add("https://doi.org/10.1145/3600006.3613165")
    assert result.exit_code == 0, result.output
    assert "(2023-10-23, track systems from venue SOSP)" in result.output
    slug = "efficient-memory-management-for-large-language-model-serving"
    paper = load_content(project.root / "seeds", tracks=["ml", "systems"]).papers[slug]
    assert paper.title == ("Efficient Memory Management for Large Language Model Serving with "
                           "PagedAttention")
    assert paper.authors[:2] == ["Woosuk Kwon", "Zhuohan Li"] and len(paper.authors) == 9
    assert paper.venue == "Proceedings of the 29th Symposium on Operating Systems Principles"
    assert paper.links == {"DOI": "https://doi.org/10.1145/3600006.3613165"}
    assert paper.affiliations[:2] == ["UC Berkeley", "Stanford University"]
    assert sources.requests[-1].path == "/works/10.1145/3600006.3613165"
    assert sources.requests[-1].headers["Accept"] == "application/json"
    codes = {f.code for f in run_check(project.config()).findings}
    assert codes == {"unwritten-section"}
    # The arXiv copy of the same paper is refused once its metadata shows it.
    before = project.files()
    again = _add("arxiv:2309.06180")
    assert again.exit_code == 2 and again.output.count("\n") == 1
    assert again.output == (f"error: arXiv:2309.06180 is already in the pool as "
                            f"seeds/papers/{slug}.md (the same title): nothing written (edit "
                            "that file, or remove it to add the paper again)\n")
    assert project.files() == before


def test_a_paper_already_in_the_pool_is_refused_before_any_request(
        project: Project, sources: RecordedServer) -> None:
    project.add_paper("mod", title="Mixture of Depths", links={
        "arXiv": "https://arxiv.org/abs/2404.02258v2"})
    before = project.files()
    result = _add("https://arxiv.org/pdf/2404.02258.pdf")
    assert result.exit_code == 2
    assert result.output == ("error: arXiv:2404.02258 is already in the pool as "
                             "seeds/papers/mod.md (the same arXiv identifier 2404.02258): "
                             "nothing written (edit that file, or remove it to add the paper "
                             "again)\n")
    assert sources.requests == [] and project.files() == before


def test_a_taken_slug_gets_a_number(project: Project, sources: RecordedServer) -> None:
    project.add_paper("ray", title="Ray Tracing on GPUs", venue="SIGGRAPH 2025",
                      links={"Paper": "https://graphics.example.net/ray"})
    assert _add("arxiv:1712.05889").exit_code == 0
    assert (project.root / "seeds/papers/ray-2.md").is_file()
    taken = _add("arxiv:2404.02258", "--slug", "ray")
    assert taken.exit_code == 2 and "--slug 'ray' is taken" in taken.output
    bad = _add("arxiv:2404.02258", "--slug", "Not A Slug")
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "'slug'" in bad.output


@pytest.mark.parametrize("reference, message", [
    ("arxiv:2411.99999", "error: arXiv has no paper 2411.99999"),
    ("arxiv:0901.0001", "error: arXiv answered with an error: incorrect id format for "
                        "0901.0001"),
    ("arxiv:2402.01234", "error: arXiv 2402.01234 was withdrawn by its authors: not added"),
    ("arxiv:2403.00001", "error: arXiv sent a malformed answer: <unknown>:15:4: unclosed token"),
    ("arxiv:2403.00002", "error: arXiv (127.0.0.1:PORT) answered HTTP 503 Service Unavailable"),
    ("arxiv:2403.00003", "error: arXiv (127.0.0.1:PORT) did not answer within 1 s"),
    ("doi:10.9999/unknown", "error: Crossref has no work with DOI 10.9999/unknown"),
    ("doi:10.5555/12345678", "error: doi:10.5555/12345678 was retracted: not added"),
    ("doi:10.5555/malformed", "error: Crossref sent a malformed answer: Expecting value"),
    ("doi:10.5555/unavailable", "error: Crossref (127.0.0.1:PORT) answered HTTP 500 Internal "
                                "Server Error"),
    ("arxiv:2025.12345", "error: 'arxiv:2025.12345' is not a valid arXiv identifier: month 25 "
                         "does not exist"),
    ("doi:11.1/x", "error: 'doi:11.1/x' is not a valid DOI"),
    ("https://arxiv.org/list/cs.LG", "error: 'https://arxiv.org/list/cs.LG' is not a link to an "
                                     "arXiv paper"),
    ("mixture of depths", "error: 'mixture of depths' is neither an arXiv identifier nor a DOI"),
])
def test_each_failure_is_one_line_and_writes_nothing(project: Project, sources: RecordedServer,
                                                     reference: str, message: str) -> None:
    before = project.files()
    started = time.monotonic()
    result = _add(reference)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1, result.output
    port = sources.url.rsplit(":", 1)[1]
    assert result.output.startswith(message.replace("PORT", port)), result.output
    assert project.files() == before
    assert time.monotonic() - started < 5  # the hanging server is given up on at the timeout


def test_an_unreachable_server_is_one_line(project: Project,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = SourcesSettings(arxiv_api_url=f"http://127.0.0.1:{port}/api/query",
                               arxiv_interval=0)
    monkeypatch.setattr(source_settings, "sources_settings", lambda config: settings)
    before = project.files()
    result = _add("arxiv:2404.02258")
    assert result.exit_code == 2
    assert result.output == (f"error: cannot reach arXiv (127.0.0.1:{port}): Connection refused "
                             "(check the network connection, or try again later)\n")
    assert project.files() == before


def test_a_category_without_a_track_is_one_line(project: Project, sources: RecordedServer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_settings, "arxiv_tracks", lambda config: {})
    result = _add("arxiv:2404.02258")
    assert result.exit_code == 2
    assert result.output == ("error: no track for arXiv:2404.02258: its arXiv category cs.LG is "
                             "not in [arxiv_tracks] (pass --track, or add 'cs.LG = \"ml\"' "
                             "under [arxiv_tracks] in newsletter.toml)\n")
    monkeypatch.setattr(source_settings, "arxiv_tracks", lambda config: {"cs": "robotics"})
    result = _add("arxiv:2404.02258")
    assert result.exit_code == 2 and "[arxiv_tracks] cs maps to 'robotics'" in result.output


@pytest.mark.parametrize("text, expected", [
    ("arxiv:2404.02258", Reference("arxiv", "2404.02258")),
    ("arXiv:2404.02258v3", Reference("arxiv", "2404.02258")),
    ("2404.02258", Reference("arxiv", "2404.02258")),
    ("https://arxiv.org/abs/2404.02258v1", Reference("arxiv", "2404.02258")),
    ("https://export.arxiv.org/pdf/2404.02258.pdf", Reference("arxiv", "2404.02258")),
    ("arxiv:hep-th/9901001", Reference("arxiv", "hep-th/9901001")),
    ("https://doi.org/10.48550/arXiv.2404.02258", Reference("arxiv", "2404.02258")),
    ("doi:10.1145/3600006.3613165", Reference("doi", "10.1145/3600006.3613165")),
    ("DOI:10.1145/3600006.3613165", Reference("doi", "10.1145/3600006.3613165")),
    ("https://dx.doi.org/10.1145%2F3600006.3613165", Reference("doi", "10.1145/3600006.3613165")),
    ("10.1038/NATURE14539", Reference("doi", "10.1038/nature14539")),
])
def test_references(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


def test_arxiv_requests_are_spaced_by_the_interval(tmp_path: Path) -> None:
    with recorded_server(route) as server:
        settings = _settings(server, arxiv_interval=0.2)
        client = ArxivClient(settings, user_agent(), Pacer(0.2, stamp=tmp_path / "stamp"))
        client.lookup(["2404.02258"])
        client.lookup(["1712.05889"])
        # Another process (another Pacer on the same stamp file) waits its turn too.
        ArxivClient(settings, user_agent(), Pacer(0.2, stamp=tmp_path / "stamp")).lookup(
            ["2309.06180"])
        first, second, third = (request.at for request in server.requests)
    assert second - first >= 0.2 and third - second >= 0.2


def test_one_request_at_a_time(tmp_path: Path) -> None:
    pacer = Pacer(0.05, stamp=tmp_path / "stamp")
    spans: list[tuple[float, float]] = []

    def request() -> None:
        with pacer.turn():
            start = time.monotonic()
            time.sleep(0.1)
            spans.append((start, time.monotonic()))

    threads = [threading.Thread(target=request) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans.sort()
    assert all(later[0] - earlier[1] >= 0.05 for earlier, later in pairwise(spans))


def test_sources_settings_are_polite_by_default() -> None:
    assert SourcesSettings().arxiv_interval == 3.0
    assert SourcesSettings().arxiv_api_url == "https://export.arxiv.org/api/query"
    assert SourcesSettings().crossref_url == "https://api.crossref.org/works"
    with pytest.raises(ValidationError, match="at least 3 seconds"):
        SourcesSettings(arxiv_interval=1)
    with pytest.raises(ValidationError, match="must start with https://"):
        SourcesSettings(crossref_url="http://api.crossref.org/works")
    assert SourcesSettings(arxiv_api_url="http://127.0.0.1:8000/api/query",
                           arxiv_interval=0).arxiv_interval == 0


def test_settings_are_read_from_config_when_it_has_them(project: Project) -> None:
    """Config gets `sources` and `arxiv_tracks`; meanwhile the defaults stand in."""
    plain = project.config()
    assert source_settings.sources_settings(plain) == SourcesSettings()
    assert source_settings.arxiv_tracks(plain) == {}

    later = SimpleNamespace(sources=SourcesSettings(timeout=5),
                            arxiv_tracks={"cs": {"LG": "ml"}})  # cs.LG = "ml", unquoted
    assert source_settings.sources_settings(later).timeout == 5
    assert source_settings.arxiv_tracks(later) == {"cs.LG": "ml"}
    # Or the [sources] table as it is, validated when a command needs it.
    assert source_settings.sources_settings(SimpleNamespace(sources={"timeout": 7})).timeout == 7
    with pytest.raises(ConfigError) as error:
        source_settings.sources_settings(SimpleNamespace(sources={"arxiv_interval": 1},
                                                         config_path=Path("newsletter.toml")))
    assert error.value.one_line().startswith(
        "newsletter.toml: 'sources.arxiv_interval': must be at least 3 seconds")


@pytest.mark.skipif("sources" not in Config.model_fields,
                    reason="Config has no `sources` field yet")
def test_newsletter_toml_sets_the_sources(project: Project) -> None:
    config = project.root / "newsletter.toml"
    config.write_text(config.read_text().replace(
        "[selection]", '[arxiv_tracks]\n"cs.LG" = "ml"\ncs.DC = "systems"\nstat = "ml"\n'
        "[sources]\narxiv_interval = 4.0\n[selection]"))
    loaded = project.config()
    assert source_settings.sources_settings(loaded).arxiv_interval == 4.0
    assert source_settings.arxiv_tracks(loaded) == {"cs.LG": "ml", "cs.DC": "systems",
                                                    "stat": "ml"}


def test_papers_are_dated_like_the_pool() -> None:
    """A month-only Crossref date stays month-only; the first version's date for arXiv."""
    from newsletter.sources.crossref import parse_work

    work = {"title": ["A"], "author": [{"name": "The Team"}], "issued": {"date-parts": [[2024]]},
            "published-online": {"date-parts": [[2024, 6]]}}
    assert parse_work(work, "10.5555/1").published.iso() == "2024-06"
    assert parse_work({**work, "issued": {"date-parts": [[2024, 5, 7]]}},
                      "10.5555/1").published.earliest == dt.date(2024, 5, 7)
