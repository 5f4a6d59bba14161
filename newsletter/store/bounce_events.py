"""Bounces and complaints in the store: the same SQL on both backends (schema v4).

`BounceEvents` is mixed into SQLiteStore and PostgresStore, which give it `_update(sql,
params) -> rows changed` and `_fetch(sql, params) -> rows`. The SQL is written once with
psycopg's ``%(name)s`` parameters; SQLite gets them as ``:name``. Nothing here touches the
send path.
"""

from __future__ import annotations

import re
from typing import Any

from newsletter.store.base import BOUNCE_KINDS, stamp

_PARAMETER = re.compile(r"%\((\w+)\)s")
# An issue date later than any: what a report that names no issue is counted up to.
_LAST = "9999-12-31"

_RECORD = """
    INSERT INTO bounce_events (message_key, issue_date, subscriber_id, kind, status, at)
    VALUES (%(key)s, %(issue)s, %(id)s, %(kind)s, %(status)s, %(at)s)
    ON CONFLICT (message_key) DO NOTHING"""
# Soft bounces in a row: the issues up to this one that soft-bounced, after the latest issue
# before it that was sent and brought back no report at all (a clean delivery).
_IN_A_ROW = """
    SELECT count(DISTINCT coalesce(b.issue_date, b.message_key)) FROM bounce_events b
    WHERE b.subscriber_id = %(id)s AND b.kind = 'soft'
      AND coalesce(b.issue_date, %(last)s) <= %(issue)s
      AND coalesce(b.issue_date, %(last)s) > (
          SELECT coalesce(max(d.issue_date), '') FROM deliveries d
          WHERE d.subscriber_id = %(id)s AND d.state = 'sent' AND d.issue_date < %(issue)s
            AND NOT EXISTS (SELECT 1 FROM bounce_events e
                            WHERE e.subscriber_id = d.subscriber_id
                              AND e.issue_date = d.issue_date))"""
_RATES = """
    SELECT kind, count(DISTINCT subscriber_id) FROM bounce_events
    WHERE issue_date = %(issue)s GROUP BY kind"""
_LAST_ISSUE = """
    SELECT max(issue_date) FROM deliveries WHERE issue_date < %(before)s AND state = 'sent'"""


class BounceEvents:
    """The Store's bounce methods, over the backend's own `_update` and `_fetch`."""

    _dialect = "postgresql"

    def _update(self, sql: str, params: Any) -> int:
        raise NotImplementedError

    def _fetch(self, sql: str, params: dict[str, object]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return _PARAMETER.sub(r":\1", sql) if self._dialect == "sqlite" else sql

    def record_bounce(self, message_key: str, issue: str | None, subscriber_id: int,
                      kind: str, status: str | None = None) -> bool:
        """One report; False if a report with this key is already recorded (idempotent)."""
        if kind not in BOUNCE_KINDS:
            raise ValueError(f"unknown bounce kind {kind!r}")
        return self._update(self._sql(_RECORD), {
            "key": message_key, "issue": issue, "id": subscriber_id, "kind": kind,
            "status": status, "at": stamp()}) == 1

    def soft_bounces_in_a_row(self, subscriber_id: int, issue: str | None) -> int:
        """Issues up to `issue` (None: all) that soft-bounced since the last one delivered
        cleanly (sent, and no report came back); several reports about one issue count once."""
        rows = self._fetch(self._sql(_IN_A_ROW), {"id": subscriber_id,
                                                  "issue": issue or _LAST, "last": _LAST})
        return int(rows[0][0]) if rows else 0

    def bounce_rates(self, issue: str) -> dict[str, int]:
        """Subscribers with each kind of report (BOUNCE_KINDS) about one issue."""
        counts = dict.fromkeys(BOUNCE_KINDS, 0)
        for kind, count in self._fetch(self._sql(_RATES), {"issue": issue}):
            counts[kind] = int(count)
        return counts

    def last_issue(self, before: str) -> str | None:
        """The latest issue before `before` that was sent to anyone."""
        rows = self._fetch(self._sql(_LAST_ISSUE), {"before": before})
        return str(rows[0][0]) if rows and rows[0][0] is not None else None
