"""Header rules, in one place: who the mail is from, the list's identity, safe header values.

Every header of every message (the readers' and the archive copy) is made here or by
`template.MessageTemplate`, which uses these.
"""

from __future__ import annotations

import functools
import re
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.utils import formataddr

from newsletter.config import Config
from newsletter.errors import DeliveryError

CRLF = b"\r\n"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A display name that needs neither quoting nor encoding (atoms and spaces).
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_QUOTABLE = re.compile(r"[\x20-\x7e]+")


def refuse_header_injection(value: str, what: str) -> str:
    """CR or LF in a header value would let content forge extra headers."""
    if "\r" in value or "\n" in value:
        raise DeliveryError(f"{what} contains a line break", hint="remove the line break",
                            code="header-injection")
    return value


def sender(config: Config) -> str:
    return formataddr((refuse_header_injection(config.from_name, "from_name"),
                       refuse_header_injection(config.from_address, "from_address")))


def message_domain(config: Config) -> str:
    return config.from_address.rpartition("@")[2] or "localhost"


def list_id(config: Config) -> str:
    """RFC 2919 list identifier, e.g. research-update.example.org."""
    if config.delivery.list_id:
        return config.delivery.list_id
    slug = re.sub(r"[^a-z0-9]+", "-", config.title.casefold()).strip("-") or "newsletter"
    return f"{slug}.{message_domain(config)}"


def unsubscribe_base(config: Config) -> str:
    return config.delivery.unsubscribe_url or f"{config.base_url}/unsubscribe"


def bounce_address(config: Config) -> str:
    """The mailbox returned mail goes to: delivery.bounce_address, else bounces@<from domain>.

    Each message's return path is this address with the issue and a signed token after a
    `+` (VERP), so its local part must be ASCII and hold no `+` of its own.
    """
    address = getattr(config.delivery, "bounce_address", None) or \
        f"bounces@{message_domain(config)}"
    local = address.rpartition("@")[0]
    if not address.isascii() or not local or "+" in local or CONTROL.search(address):
        raise DeliveryError(f"delivery.bounce_address {address!r} cannot carry VERP",
                            hint="use a plain ASCII address without +, e.g. bounces@example.org",
                            code="bounce-address")
    return address


def feedback_id(config: Config, issue: str) -> str:
    """Gmail's feedback loop identifier, `a:b:c:SenderId`: issue, list, mailer, sender.

    The same for every reader of an issue; Gmail reports complaint rates per field.
    """
    fields = (issue, list_id(config), "newsletter", message_domain(config))
    return ":".join(re.sub(r"[^A-Za-z0-9._-]", "-", field) for field in fields)


def header(name: str, value: str) -> bytes:
    """One header line, folded, non-ASCII as RFC 2047 encoded words (slow: once per issue)."""
    return policy.SMTP.header_factory(name, value).fold(policy=policy.SMTP).encode("ascii")


@functools.lru_cache(maxsize=256)  # the message and then its envelope ask for the same address
def ascii_address(address: str) -> str:
    """The address with its domain in IDNA ASCII form (xn--...); the local part as it is.

    A non-ASCII local part has no ASCII form: it stays UTF-8 and needs SMTPUTF8.
    """
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise DeliveryError(f"recipient {address!r} is not a valid address: {exc}",
                            hint="fix the address in the subscribers list") from None
    return f"{local}@{checked.ascii_domain}"


def to_header(email: str, name: str) -> bytes:
    """The To line; CR/LF or any control character is refused (header injection).

    An internationalised domain is written in its ASCII form; a non-ASCII local part stays
    UTF-8 (the SMTP transport then needs SMTPUTF8).
    """
    if CONTROL.search(name) or CONTROL.search(email) or not email.isascii():
        return _unusual_to_header(email, name)
    if not name:
        return b"To: " + email.encode() + CRLF
    if len(name) < 60 and _ATOMS.fullmatch(name):
        return f"To: {name} <{email}>\r\n".encode()
    if len(name) < 60 and _QUOTABLE.fullmatch(name):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'To: "{quoted}" <{email}>\r\n'.encode()
    if not name.isascii() and name.isprintable():
        # RFC 2047 encoded words, split at character boundaries and folded: email.header does
        # this in about 13 µs, the header registry's full parse and refold takes 250 µs.
        words = Header(name, "utf-8", header_name="To").encode(linesep="\r\n")
        last_line = len(words) - words.rfind("\n") + (4 if "\n" not in words else 0)
        fold = "\r\n " if last_line + len(email) + 3 > 78 else " "
        return f"To: {words}{fold}<{email}>\r\n".encode()
    return header("To", str(Address(display_name=name, addr_spec=email)))


def _unusual_to_header(email: str, name: str) -> bytes:
    """The To line of a non-ASCII address; DeliveryError for a control character (injection)."""
    if CONTROL.search(name) or CONTROL.search(email):
        refuse_header_injection(name, "recipient name")
        refuse_header_injection(email, "recipient address")
        raise DeliveryError(f"recipient {email!r} has a control character",
                            hint="fix the address or name in the subscribers list")
    address = ascii_address(email)
    if address.isascii():
        return to_header(address, name)
    # A UTF-8 local part (RFC 6532): the line is made for an ASCII stand-in of the same length
    # (the email package cannot quote a display name next to such an address), then the
    # address, always last, is put in its place.
    local, _, domain = address.rpartition("@")
    stand_in = f"{'x' * len(local)}@{domain}"
    head, _, tail = to_header(stand_in, name).rpartition(stand_in.encode())
    return head + address.encode() + tail
