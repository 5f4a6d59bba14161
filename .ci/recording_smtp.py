"""A recording SMTP server on 127.0.0.1 for .ci/prove_ci_recipe.sh (aiosmtpd, no relay).

    python .ci/recording_smtp.py --port-file PORT --log RECORDS [--delay-file DELAY]

Accepts every message and appends one line per recipient to RECORDS, "<recipient>\\t<Subject>",
flushed at once, the moment the whole message is in: before the 250 reply, which comes after
the number of seconds written in DELAY (read for each message; no file or 0: at once). So a
client killed while it waits for a slow reply leaves a message the server has and the client
never saw accepted: the case `newsletter send` reports as in doubt. The port it listens on is
written to PORT once it is ready. SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import signal
from email import policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP


class Recording:
    def __init__(self, log: Path, delay_file: Path | None) -> None:
        self.log = log.open("a", encoding="utf-8")
        self.delay_file = delay_file

    def delay(self) -> float:
        try:
            return float(self.delay_file.read_text().strip() or 0) if self.delay_file else 0.0
        except (OSError, ValueError):
            return 0.0

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        subject = " ".join(str(message.get("Subject", "")).split())
        for recipient in envelope.rcpt_tos:
            self.log.write(f"{recipient}\t{subject}\n")
        self.log.flush()
        pause = self.delay()
        if pause > 0:
            await asyncio.sleep(pause)
        return "250 2.0.0 OK queued"


async def serve(args: argparse.Namespace) -> None:
    handler = Recording(args.log, args.delay_file)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="recorder.test", ident="ci-recorder"),
        "127.0.0.1", args.port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    port = server.sockets[0].getsockname()[1]
    temporary = args.port_file.with_name(args.port_file.name + ".tmp")
    temporary.write_text(f"{port}\n")
    temporary.replace(args.port_file)  # whole or absent: the reader never sees half a number
    await stop.wait()
    server.close()
    with contextlib.suppress(TimeoutError):  # a client still connected does not hold us up
        await asyncio.wait_for(server.wait_closed(), 5)
    handler.log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--delay-file", type=Path)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
