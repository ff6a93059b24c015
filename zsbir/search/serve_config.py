"""Options of ``zsbir serve`` (a typed frozen config) and the access rule off loopback.

The server listens on loopback by default, where it is as open as any local program. Bound
to any other address it puts the indexed photo folder on the network, so it then requires
a token (``--token`` or the environment variable :data:`TOKEN_ENV`) and refuses to start
without one (:func:`check_access`).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Annotated, Any

from annotated_types import Ge, Gt, Le

from zsbir.config import ConfigError, from_dict

TOKEN_ENV = "ZSBIR_TOKEN"
MIN_TOKEN_CHARS = 16


class ServeError(ValueError):
    """The server cannot start as asked; the message says why and the fix."""


@dataclass(frozen=True)
class ServeConfig:
    """How ``zsbir serve`` batches, bounds and guards searches."""

    host: str = "127.0.0.1"
    port: Annotated[int, Ge(0), Le(65535)] = 8000
    k: Annotated[int, Ge(1), Le(1000)] = 12  # results per search when the page asks none
    # A search waits at most this long for others to join its batch (0 = no waiting).
    batch_wait_ms: Annotated[float, Ge(0), Le(1000)] = 5.0
    max_batch: Annotated[int, Ge(1), Le(256)] = 16  # sketches per forward pass at most
    max_queue: Annotated[int, Ge(1), Le(100_000)] = 64  # waiting searches before a 503
    timeout_s: Annotated[float, Gt(0), Le(3600)] = 30.0  # a search older than this is a 504
    token: str | None = None  # required (and only then checked) off loopback

    @classmethod
    def build(cls, **options: Any) -> ServeConfig:
        """Validated config; an out-of-range option is a :class:`ServeError` naming it."""
        try:
            return from_dict(cls, options)
        except ConfigError as err:
            text = re.sub(r"params key '(\w+)'", lambda m: f"option --{m[1].replace('_', '-')}",
                          str(err))
            raise ServeError(text) from None


def is_loopback(host: str) -> bool:
    """``localhost`` or an address in 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: assume it resolves off loopback
        return False


def resolve_token(token: str | None) -> str | None:
    """``--token``, else :data:`TOKEN_ENV`, else None (an empty value counts as none)."""
    value = token if token is not None else os.environ.get(TOKEN_ENV)
    return value or None


def check_access(cfg: ServeConfig) -> None:
    """Refuse to bind off loopback without a token, or with one too short to guess-proof."""
    if cfg.token is None:
        if not is_loopback(cfg.host):
            raise ServeError(
                f"--host {cfg.host} exposes the indexed photos beyond this machine; pass "
                f"--token SECRET (or set {TOKEN_ENV}) and open the page with ?token=SECRET, "
                "or keep the default --host 127.0.0.1"
            )
        return
    if len(cfg.token) < MIN_TOKEN_CHARS:
        raise ServeError(
            f"the token has {len(cfg.token)} characters; use at least {MIN_TOKEN_CHARS} "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe())')"
        )
