"""The web app (`newsletter serve`): `create_app(config)`, and `app` for any ASGI server.

`newsletter.web:app` reads newsletter.toml as the command line does ($NEWSLETTER_CONFIG, else
found from the current folder upward) when it is first asked for.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "create_app"]

_APP: list[Any] = []


def create_app(*args: Any, **kwargs: Any) -> Any:
    """See newsletter.web.application.create_app."""
    from newsletter.web.application import create_app as create

    return create(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name != "app":
        raise AttributeError(name)
    if not _APP:
        from newsletter.config import load_config

        _APP.append(create_app(load_config()))
    return _APP[0]
