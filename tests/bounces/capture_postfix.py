"""Capture the real Postfix DSNs of this folder: `python tests/bounces/capture_postfix.py`.

Starts the tests' Postfix (tests/support/postfix.py, as root), sends one newsletter-like
message from a VERP return path to an unknown user of news.test (Postfix bounces it: a hard
bounce) and one to full.test (its transport fails temporarily: Postfix sends a "delayed"
DSN), and copies the two DSNs, as the Maildir holds them, into this folder.
"""

from __future__ import annotations

import shutil
import smtplib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1])]

from newsletter.audience.tokens import Signer  # noqa: E402
from newsletter.delivery.bounces import verp_address  # noqa: E402
from support.postfix import running_postfix  # noqa: E402

# The corpus's own secret, so the tests can check the tokens in these samples.
SECRET = b"corpus-secret-0123456789abcdef"
LIST_ID = "research-update.news.test"
ISSUE = "2025-11-28"


def message(recipient: str, subscriber_id: int) -> bytes:
    unsubscribe = Signer(SECRET, LIST_ID).token(subscriber_id)
    return (f"From: Research Update <newsletter@news.test>\r\n"
            f"To: {recipient}\r\n"
            f"Subject: Research Update: November 28, 2025\r\n"
            f"Date: Fri, 28 Nov 2025 09:00:00 +0000\r\n"
            f"Message-ID: <20251128.{subscriber_id}.3f2a9c41d0@news.test>\r\n"
            f"List-Id: Research Update <{LIST_ID}>\r\n"
            f"List-Unsubscribe: <https://news.test/unsubscribe?token={unsubscribe}>,\r\n"
            f" <mailto:newsletter@news.test?subject=unsubscribe>\r\n"
            f"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            f"MIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=\"utf-8\"\r\n\r\n"
            f"Hello,\r\n\r\nThis week's papers.\r\n").encode()


def main() -> None:
    bounce_signer = Signer(SECRET, f"bounces:{LIST_ID}")
    sends = {"postfix-unknown-user.eml": ("gone-reader@news.test", 12),
             "postfix-delayed.eml": ("reader@full.test", 13)}
    with running_postfix() as server:
        with smtplib.SMTP(server.host, server.port) as smtp:
            for recipient, subscriber_id in sends.values():
                sender = verp_address("bounces@news.test", ISSUE, subscriber_id,
                                      bounce_signer.token)
                smtp.sendmail(sender, [recipient], message(recipient, subscriber_id))
        dsns = server.wait_for("bounces", 2)
        for data in dsns:
            name = "postfix-delayed.eml" if b"Delayed Mail" in data else \
                "postfix-unknown-user.eml"
            (HERE / name).write_bytes(data)
            print(f"wrote {HERE / name}")
        shutil.rmtree(server.maildir("bounces"))


if __name__ == "__main__":
    main()
