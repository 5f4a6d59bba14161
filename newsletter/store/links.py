"""What links name, in the store: the random uid of each subscriber (schema v3).

`SubscriberLinks` is mixed into SQLiteStore and PostgresStore, which give it `_update(sql,
params) -> rows changed` and `_fetch(sql, params) -> rows`; the SQL is written once with
psycopg's ``%(name)s`` parameters, and SQLite gets them as ``:name``.
"""

from __future__ import annotations

import re
from typing import Any

from newsletter.store.base import Subscriber, stamp

_PARAMETER = re.compile(r"%\((\w+)\)s")
_COLUMNS = "SELECT id, email, name, status FROM subscribers"


class SubscriberLinks:
    """Readers by uid, old `<id>.<sig>` links, and the web app's reads and batch writes."""

    _dialect = "postgresql"

    def _update(self, sql: str, params: Any) -> int:
        raise NotImplementedError

    def _fetch(self, sql: str, params: dict[str, object]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _rows(self, sql: str, params: dict[str, object]) -> list[tuple[Any, ...]]:
        return self._fetch(_PARAMETER.sub(r":\1", sql) if self._dialect == "sqlite" else sql,
                           params)

    def _one(self, where: str, params: dict[str, object]) -> Subscriber | None:
        rows = self._rows(f"{_COLUMNS} WHERE {where}", params)
        return Subscriber(*rows[0]) if rows else None

    def subscriber_by_uid(self, uid: str) -> Subscriber | None:
        return self._one("uid = %(uid)s", {"uid": uid})

    def legacy_subscriber(self, subscriber_id: int) -> Subscriber | None:
        """The reader an old `<id>.<sig>` link names: only a row older than uids (v3)."""
        return self._one("id = %(id)s AND legacy_tokens = 1", {"id": subscriber_id})

    def subscriber_uids(self, first_id: int, count: int) -> dict[int, str]:
        """id -> uid of the subscribers with first_id <= id < first_id + count."""
        return dict(self._rows("SELECT id, uid FROM subscribers WHERE id >= %(low)s AND "
                               "id < %(high)s", {"low": first_id, "high": first_id + count}))

    def subscription_state(self, email: str) -> tuple[str, str, str] | None:
        """(uid, status, updated_at) of an address; None when it is not on the list."""
        rows = self._rows("SELECT uid, status, updated_at FROM subscribers "
                          "WHERE email = %(email)s", {"email": email})
        return (rows[0][0], rows[0][1], rows[0][2]) if rows else None

    def sent_any(self, issue: str) -> bool:
        """Whether the issue has reached anyone yet (the web archive shows only those)."""
        return bool(self._rows("SELECT 1 FROM deliveries WHERE issue_date = %(issue)s AND "
                               "state = 'sent' LIMIT 1", {"issue": issue}))

    def unsubscribe_many(self, subscriber_ids: list[int]) -> int:
        """The active ones of these readers unsubscribed, in one statement; how many."""
        if not subscriber_ids:
            return 0
        names = {f"i{index}": subscriber_id for index, subscriber_id in enumerate(subscriber_ids)}
        listed = ", ".join(f"%({name})s" for name in names)
        sql = (f"UPDATE subscribers SET status = 'unsubscribed', updated_at = %(now)s "
               f"WHERE id IN ({listed}) AND status = 'active'")
        if self._dialect == "sqlite":
            sql = _PARAMETER.sub(r":\1", sql)
        return self._update(sql, {**names, "now": stamp()})
