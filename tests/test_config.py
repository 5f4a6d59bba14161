"""newsletter.toml: every mistake is a one-line ConfigError naming the setting, never a crash."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.config import load_config
from newsletter.errors import ConfigError
from support.project import Project
from support.smtp import DATE, prepare_project


def _set(project: Project, table: str | None, key: str, value: str) -> None:
    """`key = value` (TOML text) in [table] of newsletter.toml, or at the top for None."""
    toml = project.root / "newsletter.toml"
    lines = [line for line in toml.read_text(encoding="utf-8").splitlines()
             if not line.startswith(f"{key} =")]
    at = 0
    if table is not None:
        if f"[{table}]" not in lines:
            lines.append(f"[{table}]")
        at = lines.index(f"[{table}]") + 1
    lines.insert(at, f"{key} = {value}")
    toml.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _config_error(project: Project) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(project.root / "newsletter.toml")
    line = info.value.one_line()
    assert "\n" not in line
    return line


@pytest.mark.parametrize("table,key", [(None, "from_address"), (None, "reply_to"),
                                       ("delivery", "unsubscribe_mailto")])
@pytest.mark.parametrize("value,problem", [
    ("news letter@example.org", "invalid characters before the @-sign"),
    ("nobody", "must have an @-sign"),
    ("news@", "There must be something after the @-sign"),
    ("news@localhost", "should have a period"),
    ("news@example.org\\r\\nBcc: x@evil.org", "not a valid address"),
    ("josé@example.org", "Internationalized characters before the @-sign are not supported"),
])
def test_a_malformed_sender_address_is_refused_at_load(project: Project, table: str | None,
                                                       key: str, value: str,
                                                       problem: str) -> None:
    _set(project, table, key, f'"{value}"')
    line = _config_error(project)
    dotted = f"{table}.{key}" if table else key
    assert line.startswith(f"newsletter.toml: '{dotted}': ")
    assert problem in line and "fix these settings in newsletter.toml" in line


def test_a_malformed_sender_stops_every_command_with_one_line(project: Project) -> None:
    prepare_project(project, 3)
    _set(project, None, "from_address", '"nobody"')
    for command in (["send", "--date", DATE], ["send", "--date", DATE, "--dry-run"],
                    ["compose", "--date", DATE]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, command
        assert result.stderr.startswith("error: newsletter.toml: 'from_address': 'nobody' is "
                                        "not a valid address: An email address must have an "
                                        "@-sign") and result.stderr.count("\n") == 1
    assert not (project.root / "outbox").exists()


def test_sender_addresses_are_kept_in_ascii_form(project: Project) -> None:
    _set(project, None, "from_address", '" Editor@München.DE "')
    _set(project, "delivery", "unsubscribe_mailto", '"leave@bücher.de"')
    config = load_config(project.root / "newsletter.toml")
    assert config.from_address == "Editor@xn--mnchen-3ya.de"
    assert config.delivery.unsubscribe_mailto == "leave@xn--bcher-kva.de"
    _set(project, None, "from_address", '"Editor@Example.ORG"')
    assert load_config(project.root / "newsletter.toml").from_address == "Editor@example.org"
    _set(project, None, "from_address", '"News@Example.ORG"')  # a role name: any case
    assert load_config(project.root / "newsletter.toml").from_address == "news@example.org"


@pytest.mark.parametrize("table,key,value", [
    ("selection", "window_days", "100000000"),
    ("selection", "window_days", "0"),
    ("delivery", "smtp_timeout", "1e300"),
    ("delivery", "smtp_timeout", "inf"),
    ("delivery", "retry_base", "nan"),
    ("delivery", "retry_cap", "1e12"),
    ("delivery", "rate_limit", "1e-300"),
    ("delivery", "rate_limit", "inf"),
    ("delivery", "max_attempts", "10000000"),
    ("delivery", "log_every", "100000000000"),
])
def test_numbers_out_of_range_are_one_line(project: Project, table: str, key: str,
                                           value: str) -> None:
    _set(project, table, key, value)
    assert _config_error(project).startswith(f"newsletter.toml: '{table}.{key}': ")


def test_a_huge_window_is_an_error_not_an_overflow(project: Project) -> None:
    project.add_paper("a-paper", title="A Paper", published="2025-11-01")
    toml = project.root / "newsletter.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("window_days = 60",
                                                             "window_days = 100000000"),
                    encoding="utf-8")
    result = CliRunner().invoke(cli, ["compose", "--date", DATE, "--dry-run"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: newsletter.toml: 'selection.window_days': Input "
                                    "should be less than or equal to 36500")
    toml.write_text(toml.read_text(encoding="utf-8").replace("100000000", "36500"),
                    encoding="utf-8")
    assert CliRunner().invoke(cli, ["compose", "--date", DATE, "--dry-run"]).exit_code == 0


def test_a_config_that_is_not_utf8_is_one_line(project: Project) -> None:
    (project.root / "newsletter.toml").write_bytes(b'title = "Caf\xe9 News"\n')
    result = CliRunner().invoke(cli, ["papers"])
    assert result.exit_code == 2
    assert result.stderr == "error: newsletter.toml: is not UTF-8 text (save it as UTF-8)\n"


def test_a_config_with_a_byte_order_mark_loads(project: Project) -> None:
    toml = project.root / "newsletter.toml"
    toml.write_bytes(b"\xef\xbb\xbf" + toml.read_bytes())
    assert load_config(toml).from_address == "news@example.org"


def test_a_rate_out_of_range_on_the_command_line_is_one_line(project: Project) -> None:
    prepare_project(project, 2)
    result = CliRunner().invoke(cli, ["send", "--date", DATE, "--rate", "1e-300"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: --rate must be 0 (no limit) or from 0.001 to")
    assert not (project.root / "outbox").exists()
