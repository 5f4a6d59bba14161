"""DKIM: the signer's output is dkimpy's, it verifies, over-signs, and keys are kept secret."""

from __future__ import annotations

import base64
import datetime as dt
import os
import random
import time
from pathlib import Path

import dkim
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from dkim.canonicalization import Relaxed

from newsletter.audience.tokens import Signer
from newsletter.cli.dkim import dkim as dkim_cli
from newsletter.commands.compose import compose_issue
from newsletter.commands.dkim import keygen, records
from newsletter.errors import ConfigError, OutputError, UsageError
from newsletter.lint.dkim_rules import dkim_findings
from newsletter.mail.dkim import (
    ED25519_ENV,
    RSA_ENV,
    SIGNED_HEADERS,
    DKIMSigner,
    dkimpy_sign,
    parse_ed25519_key,
    parse_rsa_key,
    relaxed_body,
    relaxed_header,
    signed_headers,
    signer_for,
    split_message,
)
from newsletter.mail.dkim_processes import SigningProcesses
from newsletter.mail.dkim_settings import DKIMSettings
from newsletter.mail.template import MessageTemplate
from support.project import Project

NOW = dt.datetime(2025, 11, 28, 9, 0, tzinfo=dt.UTC)
DATE = dt.date(2025, 11, 28)
STAMP = 1764320400
NAMES = ["Ada Lovelace", "", "Zoë Ærø", "Lovelace, Ada \"the\" <first>", "x  y",
         " ".join(["Жанна Ивановна"] * 4)]


@pytest.fixture(autouse=True)
def _no_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RSA_ENV, raising=False)
    monkeypatch.delenv(ED25519_ENV, raising=False)


@pytest.fixture(scope="module")
def key_files() -> dict[str, bytes]:
    """Key material as the files hold it: PEM (PKCS#8 and PKCS#1), dkimpy's ed25519 seed."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    seed = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())
    return {
        "pkcs8": private.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()),
        "pkcs1": private.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()),
        "seed": seed,
        "ed25519": base64.b64encode(seed),
    }


@pytest.fixture
def template(project: Project) -> MessageTemplate:
    toml = project.root / "newsletter.toml"
    toml.write_text('reply_to = "editor@example.org"\n' + toml.read_text())
    project.add_paper("a-paper", title="Tokens  <skip> & layers", published="2025-11-01")
    project.add_issue("2025-11-28", ["a-paper"])
    config = project.config()
    rendered = compose_issue(config, DATE, now=NOW).built.rendered
    return MessageTemplate(rendered, config, DATE, Signer(b"k" * 32, "x").token, NOW)


def signer_of(key_files: dict[str, bytes], *algorithms: str) -> DKIMSigner:
    keys = {"rsa-sha256": parse_rsa_key(key_files["pkcs8"], "test"),
            "ed25519-sha256": parse_ed25519_key(key_files["ed25519"], "test")}
    return DKIMSigner("example.org", "s1", [keys[a] for a in algorithms or keys],
                      clock=lambda: STAMP)


def dns_of(signer: DKIMSigner):
    """A dnsfunc for dkimpy: the published TXT record of each key, by algorithm."""
    published = {key.algorithm: key.txt_value.encode() for key in signer.keys}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        assert name == b"s1._domainkey.example.org.", name
        return published[lookup.algorithm]

    lookup.algorithm = "rsa-sha256"
    return lookup


def verify_all(data: bytes, signer: DKIMSigner) -> list[bool]:
    """Each DKIM-Signature of `data` checked by dkimpy against the published key."""
    dns = dns_of(signer)
    results = []
    for index, key in enumerate(signer.keys):
        dns.algorithm = key.algorithm
        results.append(dkim.DKIM(data).verify(idx=index, dnsfunc=dns))
    return results


def signature_tags(data: bytes, index: int = 0) -> dict[bytes, bytes]:
    headers, _ = split_message(data)
    values = [value for name, value in headers if name.lower() == b"dkim-signature"]
    return dkim.util.parse_tag_value(values[index])


@pytest.mark.parametrize("name", NAMES)
def test_the_signatures_are_dkimpys_byte_for_byte(template, key_files, monkeypatch,
                                                  name: str) -> None:
    message = template.build(12, "reader@example.org", name)
    monkeypatch.setattr(time, "time", lambda: STAMP)  # dkimpy's t=
    theirs = [dkimpy_sign(message, key_files["pkcs1"], "rsa-sha256", "s1", "example.org"),
              dkimpy_sign(message, key_files["ed25519"], "ed25519-sha256", "s1",
                          "example.org")]
    ours = signer_of(key_files).sign(message)
    assert ours == theirs[0][:-len(message)] + theirs[1][:-len(message)] + message


def test_every_reader_verifies_with_both_algorithms(template, key_files) -> None:
    signer = signer_of(key_files)
    for index, name in enumerate(NAMES):
        data = signer.sign(template.build(index, f"r{index}@example.org", name))
        assert verify_all(data, signer) == [True, True]
        tags = [signature_tags(data, i) for i in range(2)]
        assert [t[b"a"] for t in tags] == [b"rsa-sha256", b"ed25519-sha256"]
        assert all(t[b"c"] == b"relaxed/relaxed" and t[b"d"] == b"example.org"
                   and t[b"s"] == b"s1" for t in tags)


def test_h_lists_the_list_headers_and_signs_each_once_more(template, key_files) -> None:
    signer = signer_of(key_files, "rsa-sha256")
    data = signer.sign(template.build(3, "r@example.org", "Ada"))
    signed = [name.strip() for name in signature_tags(data)[b"h"].split(b":")]
    for name in (*SIGNED_HEADERS, b"reply-to"):
        assert signed.count(name) == 2, name
    assert b"list-unsubscribe-post" in signed and b"list-unsubscribe" in signed


@pytest.mark.parametrize("change", [
    lambda d: b"List-Unsubscribe: <https://evil.example/u>\r\n" + d,
    lambda d: d.replace(b"\r\n\r\n", b"\r\nList-Unsubscribe-Post: x\r\n\r\n", 1),
    lambda d: d.replace(b"\r\n\r\n", b"\r\nFrom: Mallory <m@evil.example>\r\n\r\n", 1),
    lambda d: d.replace(b"\r\n\r\n", b"\r\nReply-To: m@evil.example\r\n\r\n", 1),
    lambda d: d.replace(b"Subject: ", b"Subject: Re: ", 1),
    lambda d: d.replace(b"unsubscribe?token=", b"unsubscribe?token=9", 1),
], ids=["added-unsubscribe", "added-post", "added-from", "added-reply-to", "subject", "body"])
def test_an_added_or_changed_header_or_body_fails(template, key_files, change) -> None:
    signer = signer_of(key_files)
    data = signer.sign(template.build(3, "r@example.org", "Ada"))
    assert verify_all(change(data), signer) == [False, False]


def test_relaxed_refolding_in_transit_still_verifies(template, key_files) -> None:
    signer = signer_of(key_files)
    data = signer.sign(template.build(3, "r@example.org", "Ada"))
    refolded = data.replace(b"Subject: ", b"Subject:   ", 1).replace(b"\r\n", b"\n")
    assert verify_all(refolded, signer) == [True, True]


def _random_text(rng: random.Random, alphabet: str, lines: int) -> bytes:
    return "\r\n".join("".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
                       for _ in range(lines)).encode()


def test_canonicalisation_is_the_same_as_dkimpys() -> None:
    rng = random.Random(8463)
    for _ in range(3000):
        alphabet = rng.choice(["ab ", "ab  =", "a \t", "ab\r\n ", "x"])
        body = _random_text(rng, alphabet, rng.randrange(0, 6)) + \
            rng.choice([b"", b"\r\n", b"\r\n\r\n", b" \r\n"])
        assert relaxed_body(body) == Relaxed.canonicalize_body(body), body
        value = b" " + _random_text(rng, alphabet + ":", 3).replace(b"\r\n", b"\r\n ") + b"\r\n"
        assert relaxed_header(b"X-Te St ", value) == \
            Relaxed.canonicalize_headers([(b"X-Te St ", value)])[0], value


@pytest.mark.parametrize("message", [
    b"From: a@example.org\r\nSubject: x\r\n folded\r\n\tand tabbed\r\n\r\nbody\r\n",
    b"From: a@example.org\nSubject: bare LF\n\nbody\nmore\n",
    b"From: a@example.org\r\nSubject: no body\r\n",
    b"From: a@example.org\r\n\r\n",
    b"From a@example.org Fri Nov 28 09:00:00 2025\r\nFrom: a@example.org\r\nX-E:\r\n\r\nb",
    b"From: a@example.org\r\nX:y:z\r\n\r\n\r\n\r\n",
])
def test_messages_are_split_as_dkimpy_parses_them(message: bytes, key_files) -> None:
    assert split_message(message) == tuple(dkim.rfc822_parse(message))
    signer = signer_of(key_files)
    assert verify_all(signer.sign(message), signer) == [True, True]


@pytest.mark.parametrize("message", [b"Bad Name: x\r\n\r\nbody\r\n",
                                     b" folded first\r\nFrom: a@example.org\r\n\r\nb\r\n"])
def test_a_header_dkimpy_refuses_is_refused(message: bytes) -> None:
    with pytest.raises((dkim.MessageFormatError, IndexError)):
        dkim.rfc822_parse(message)
    with pytest.raises((dkim.MessageFormatError, IndexError)):
        split_message(message)


def test_the_signed_fields_are_those_dkimpy_selects() -> None:
    rng = random.Random(6376)
    for _ in range(2000):
        canonical = [(rng.choice([b"from", b"to", b"subject", b"x"]), b"v%d\r\n" % i)
                     for i in range(rng.randrange(0, 8))]
        include = tuple(rng.choice([b"from", b"to", b"subject", b"date"])
                        for _ in range(rng.randrange(1, 10)))
        expected = b"".join(name + b":" + value
                            for name, value in dkim.select_headers(canonical, include))
        assert signed_headers(canonical, include) == expected


def test_signing_is_many_times_faster_than_dkimpys_own(template, key_files) -> None:
    """dkimpy signs RSA in Python integers (about 12 ms); ours uses OpenSSL (under 1 ms)."""
    message = template.build(3, "r@example.org", "Ada")
    signer = signer_of(key_files, "rsa-sha256")
    start = time.perf_counter()
    for _ in range(3):
        dkimpy_sign(message, key_files["pkcs8"], "rsa-sha256", "s1", "example.org")
    theirs = (time.perf_counter() - start) / 3
    start = time.perf_counter()
    for _ in range(30):
        signer.sign(message)
    ours = (time.perf_counter() - start) / 30
    assert ours * 4 < theirs, (ours, theirs)


# --- keys -------------------------------------------------------------------------------


def test_key_formats(key_files) -> None:
    der = serialization.load_pem_private_key(key_files["pkcs1"], None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    publics = {parse_rsa_key(data, "t").public_value
               for data in (key_files["pkcs8"], key_files["pkcs1"], base64.b64encode(der))}
    assert len(publics) == 1
    seed = key_files["seed"]
    pem = ed25519.Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    publics = {parse_ed25519_key(data, "t").public_value
               for data in (key_files["ed25519"], key_files["ed25519"] + b"\n", seed, pem)}
    assert len(publics) == 1


@pytest.mark.parametrize("parse,data", [
    (parse_rsa_key, b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END"),
    (parse_rsa_key, b"c2VjcmV0LWtleS1tYXRlcmlhbA=="),
    (parse_ed25519_key, b"c2VjcmV0LWtleS1tYXRlcmlhbA=="),
    (parse_ed25519_key, b"not base64 secret-key-material"),
])
def test_a_bad_key_is_refused_without_quoting_it(parse, data: bytes) -> None:
    with pytest.raises(ConfigError) as info:
        parse(data, "$X")
    assert info.value.code == "dkim-key-invalid"
    assert b"c2VjcmV0" not in info.value.one_line().encode()
    assert "secret-key" not in info.value.one_line()


def test_an_ed25519_key_is_not_an_rsa_key(key_files) -> None:
    pem = ed25519.Ed25519PrivateKey.from_private_bytes(key_files["seed"]).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    with pytest.raises(ConfigError, match="not an RSA key"):
        parse_rsa_key(pem, "t")


def test_reprs_show_no_key(key_files) -> None:
    signer = signer_of(key_files)
    shown = repr(signer) + repr(signer.keys)
    assert "s1" in shown and "example.org" in shown
    assert key_files["ed25519"].decode()[:12] not in shown and "PRIVATE" not in shown


# --- keygen, the default place, check ------------------------------------------------------


def test_keygen_then_every_message_is_signed_for_the_from_domain(project: Project,
                                                                template) -> None:
    config = project.config()
    assert signer_for(config) is None  # no key yet: signing is off
    report = keygen(config, "2025-11")
    folder = project.root / "dkim"
    assert sorted(p.name for p in folder.iterdir()) == \
        ["2025-11.ed25519.key", "2025-11.rsa.pem"]
    assert all(os.stat(p).st_mode & 0o777 == 0o600 for p in folder.iterdir())
    assert folder.stat().st_mode & 0o777 == 0o700
    assert report.notes == []
    signer = signer_for(config)
    assert signer is not None and signer.domain == "example.org"
    assert signer.selector == "2025-11" and signer.algorithms == ("rsa-sha256",
                                                                  "ed25519-sha256")
    assert signer.txt_records() == report.records
    for record in report.records:
        name, _, rest = record.partition(" IN TXT ")
        assert name == "2025-11._domainkey.example.org."
        value = "".join(part for part in rest.split('"')[1::2])
        assert all(len(part) <= 255 for part in rest.split('"')[1::2])
        dkim.evaluate_pk(name.encode(), value.encode())  # dkimpy reads the published record
    data = signer.sign(template.build(1, "r@example.org", "Ada"))
    published = {key.algorithm: "".join(rec.split('"')[1::2]).encode()
                 for key, rec in zip(signer.keys, report.records, strict=True)}
    for index, algorithm in enumerate(signer.algorithms):
        assert dkim.DKIM(data).verify(idx=index,
                                      dnsfunc=lambda name, timeout=5, a=algorithm: published[a])
    assert dkim_findings(config) == []
    assert records(config) == report.records


def test_keygen_never_replaces_a_key_and_checks_the_selector(project: Project) -> None:
    config = project.config()
    keygen(config, "s1", ["ed25519-sha256"])
    before = (project.root / "dkim" / "s1.ed25519.key").read_bytes()
    with pytest.raises(OutputError, match="already there"):
        keygen(config, "s1")
    assert (project.root / "dkim" / "s1.ed25519.key").read_bytes() == before
    assert not (project.root / "dkim" / "s1.rsa.pem").exists()
    with pytest.raises(UsageError, match="not a valid selector"):
        keygen(config, "bad selector")


def test_a_second_selector_needs_choosing(project: Project) -> None:
    config = project.config()
    keygen(config, "s1", ["ed25519-sha256"])
    report = keygen(config, "s2", ["ed25519-sha256"])
    assert "several selectors" in report.notes[0] and 'selector = "s2"' in report.notes[0]
    with pytest.raises(ConfigError, match="several selectors"):
        signer_for(config)
    assert [f.code for f in dkim_findings(config)] == ["dkim-selector"]
    chosen = signer_for(config, DKIMSettings(selector="s1"))
    assert chosen is not None and chosen.selector == "s1"
    report = keygen(config, "s3", ["ed25519-sha256"], settings=DKIMSettings(selector="s1"))
    assert "still signed with selector s1" in report.notes[0]


def test_the_cli_prints_the_records_and_never_the_key(project: Project) -> None:
    runner = CliRunner()
    obj = {"config_path": project.root / "newsletter.toml"}
    result = runner.invoke(dkim_cli, ["keygen", "--selector", "news1"], obj=obj)
    assert result.exit_code == 0, result.output
    assert 'news1._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=' in result.output
    assert 'news1._domainkey.example.org. IN TXT "v=DKIM1; k=ed25519; p=' in result.output
    seed = (project.root / "dkim" / "news1.ed25519.key").read_text().strip()
    pem = (project.root / "dkim" / "news1.rsa.pem").read_text().splitlines()[1]
    assert seed not in result.output and pem not in result.output
    assert "PRIVATE" not in result.output
    shown = runner.invoke(dkim_cli, ["records"], obj=obj)
    assert shown.exit_code == 0 and shown.output.count("IN TXT") == 2


def _settings_with_key(project: Project, key: bytes, mode: int) -> DKIMSettings:
    path = project.root / "keys" / "rsa.pem"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(key)
    path.chmod(mode)
    return DKIMSettings(selector="s1", rsa_key_file=Path("keys/rsa.pem"))


def test_check_reports_a_configured_key_that_cannot_be_used(project: Project,
                                                           key_files) -> None:
    config = project.config()
    assert dkim_findings(config) == []  # nothing configured, no key: signing is off
    missing = dkim_findings(config, DKIMSettings(selector="s1"))
    assert [(f.severity, f.code) for f in missing] == [("error", "dkim-key-missing")]
    assert missing[0].path == project.root / "dkim" / "s1.rsa.pem"
    both = dkim_findings(config, DKIMSettings(selector="s1",
                                              algorithms=["rsa-sha256", "ed25519-sha256"]))
    assert [f.code for f in both] == ["dkim-key-missing", "dkim-key-missing"]
    settings = _settings_with_key(project, key_files["pkcs8"], 0o644)
    found = dkim_findings(config, settings)
    assert [f.code for f in found] == ["dkim-key-mode"] and "chmod 600" in found[0].hint
    with pytest.raises(ConfigError, match="open to other users"):
        signer_for(config, settings)
    settings = _settings_with_key(project, b"garbage", 0o600)
    assert [f.code for f in dkim_findings(config, settings)] == ["dkim-key-invalid"]
    (project.root / "keys" / "rsa.pem").chmod(0o000)
    if os.geteuid() != 0:  # root reads any file
        assert [f.code for f in dkim_findings(config, settings)] == ["dkim-key-unreadable"]
    assert dkim_findings(config, DKIMSettings(selector="s1", enabled=False)) == []


def test_a_dkim_table_in_newsletter_toml_turns_signing_on(project: Project) -> None:
    toml = project.root / "newsletter.toml"
    toml.write_text(toml.read_text() + '[dkim]\nselector = "s9"\n')
    assert [f.code for f in dkim_findings(project.config())] == ["dkim-key-missing"]


def test_a_key_file_named_in_the_settings_must_exist(project: Project, key_files) -> None:
    settings = _settings_with_key(project, key_files["pkcs8"], 0o600).model_copy(
        update={"ed25519_key_file": Path("keys/ed25519.key")})
    found = dkim_findings(project.config(), settings)
    assert [(f.code, f.path) for f in found] == \
        [("dkim-key-missing", project.root / "keys" / "ed25519.key")]
    (project.root / "keys" / "ed25519.key").write_bytes(key_files["ed25519"])
    (project.root / "keys" / "ed25519.key").chmod(0o400)
    signer = signer_for(project.config(), settings)
    assert signer is not None and signer.algorithms == ("rsa-sha256", "ed25519-sha256")


def test_keys_from_the_environment_take_precedence(project: Project, key_files,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = project.config()
    monkeypatch.setenv(ED25519_ENV, key_files["ed25519"].decode())
    with pytest.raises(ConfigError, match="no selector"):
        signer_for(config)
    signer = signer_for(config, DKIMSettings(selector="env"))
    assert signer is not None and signer.algorithms == ("ed25519-sha256",)
    assert signer.keys[0].source == f"${ED25519_ENV}"
    monkeypatch.setenv(RSA_ENV, "-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END")
    found = dkim_findings(config, DKIMSettings(selector="env"))
    assert [f.code for f in found] == ["dkim-key-invalid"]
    assert RSA_ENV in found[0].message and "not-a-key" not in found[0].message


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="not a valid selector"):
        DKIMSettings(selector="a_b")
    with pytest.raises(ValueError, match="not a domain"):
        DKIMSettings(domain="localhost")
    assert DKIMSettings(domain="News.Example.ORG").domain == "news.example.org"
    assert DKIMSettings(algorithms=["rsa-sha256", "rsa-sha256"]).algorithms == ["rsa-sha256"]
    assert not DKIMSettings().configured and DKIMSettings(selector="a").configured


# --- signing in other processes -------------------------------------------------------------


def test_signing_processes_sign_like_the_signer_from_many_threads(template, key_files) -> None:
    import threading

    signer = signer_of(key_files)
    messages = [template.build(i, f"r{i}@example.org", NAMES[i % len(NAMES)]) for i in range(24)]
    results: dict[int, bytes] = {}
    with SigningProcesses(signer, 2) as pool:
        def work(start: int) -> None:
            for index in range(start, len(messages), 4):
                results[index] = pool.sign(messages[index])

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        children = list(pool._children)
        assert all(child.args[1:] == ["-c", child.args[2]] and "PRIVATE" not in child.args[2]
                   for child in children)
    assert all(child.poll() is not None for child in children)  # all ended
    for index, data in results.items():
        assert data.endswith(messages[index])
        assert verify_all(data, signer) == [True, True]
    assert len(results) == len(messages)


def test_a_signing_process_ignores_ctrl_c_and_a_dead_one_stops_the_send(template,
                                                                        key_files) -> None:
    import signal

    message = template.build(1, "r@example.org", "Ada")
    with SigningProcesses(signer_of(key_files), 1) as pool:
        (child,) = pool._children
        assert pool.sign(message).endswith(message)
        os.kill(child.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's processes
        assert pool.sign(message).endswith(message)
        child.kill()
        child.wait()
        with pytest.raises(RuntimeError, match="signing process stopped"):
            pool.sign(message)
