"""The report of `newsletter check`: findings, what was looked at, as text or JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from newsletter.diagnostics import Diagnostic


@dataclass
class CheckReport:
    """All findings of one run, and what was looked at."""

    findings: list[Diagnostic]
    papers: int
    issues: int
    rendered: list[str] = field(default_factory=list)
    not_rendered: dict[str, str] = field(default_factory=dict)  # date -> why

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def exit_code(self) -> int:
        """1 when any finding is an error (exit 2 is left to errors that stop the check)."""
        return 1 if self.errors else 0


def finding_lines(report: CheckReport) -> list[str]:
    """Each finding as `file:line: severity: message [code]`, then `    fix: what to do`."""
    lines = []
    for finding in report.findings:
        code = f" [{finding.code}]" if finding.code else ""
        lines.append(f"{finding.where}: {finding.severity}: {finding.message}{code}")
        if finding.hint:
            lines.append(f"    fix: {finding.hint}")
    return lines


def format_text(report: CheckReport) -> str:
    """One finding per line, like a compiler, then what to do, then a summary."""
    lines = finding_lines(report)
    for name, why in sorted(report.not_rendered.items()):
        lines.append(f"note: issue {name} was not rendered: {why}")
    rendered = f"{len(report.rendered)} rendered"
    lines.append(f"checked {report.papers} paper(s) and {report.issues} issue(s) ({rendered}): "
                 f"{report.errors} error(s), {report.warnings} warning(s)")
    return "\n".join(lines)


def format_json(report: CheckReport) -> str:
    """The report for machines: findings with path, line, severity, code, message, hint."""
    data = {
        "findings": [finding.to_dict() for finding in report.findings],
        "summary": {"papers": report.papers, "issues": report.issues,
                    "rendered": report.rendered, "not_rendered": report.not_rendered,
                    "errors": report.errors, "warnings": report.warnings,
                    "exit_code": report.exit_code},
    }
    return json.dumps(data, indent=2, ensure_ascii=False)
