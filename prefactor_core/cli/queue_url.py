"""Queue URLs: open a persistent queue from `--queue URL` by its scheme.

`redis://` and `rediss://` open `RedisQueue`; `postgresql://` and
`postgres://` open `PostgresQueue`. Each module is imported only when its
scheme is used, so the command works without the drivers of the others.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from prefactor_core.queue import Queue

__all__ = ["QueueURLError", "open_queue", "redact_url"]


class QueueURLError(ValueError):
    """Raised when a queue URL is malformed, unsupported or its driver is missing."""


@dataclasses.dataclass(frozen=True)
class _Engine:
    module: str
    class_name: str
    extra: str


_REDIS = _Engine("prefactor_core.queue.redis_queue", "RedisQueue", "redis")
_POSTGRES = _Engine("prefactor_core.queue.postgres_queue", "PostgresQueue", "postgres")

_ENGINES = {
    "redis": _REDIS,
    "rediss": _REDIS,
    "postgresql": _POSTGRES,
    "postgres": _POSTGRES,
}

_SUPPORTED = "redis://, rediss://, postgresql:// or postgres://"


def redact_url(url: str) -> str:
    """Return `url` with its password replaced by `***`, for messages and logs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<invalid URL>"
    if password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def open_queue(url: str, **options: Any) -> Queue[Any]:
    """Create the queue that `url` names, through its class's `from_url`.

    Whether it connects to the service at once depends on the queue class.

    Raises:
        QueueURLError: The URL has no or an unsupported scheme, the queue
            module or its driver is not installed, or `from_url` rejected it.
    """
    redacted = redact_url(url)
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:
        raise QueueURLError(f"invalid queue URL {redacted!r}: {exc}") from exc
    if not scheme or "://" not in url:
        raise QueueURLError(
            f"invalid queue URL {redacted!r}: expected a URL starting with {_SUPPORTED}"
        )

    engine = _ENGINES.get(scheme)
    if engine is None:
        raise QueueURLError(
            f"unsupported queue URL scheme {scheme + '://'!r} in {redacted!r}; use {_SUPPORTED}"
        )

    queue_class = _import_queue_class(engine)
    try:
        queue: Queue[Any] = queue_class.from_url(url, **options)
    except ValueError as exc:
        raise QueueURLError(f"invalid queue URL {redacted!r}: {exc}") from exc
    return queue


def _import_queue_class(engine: _Engine) -> Any:
    try:
        module = importlib.import_module(engine.module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (
            engine.module == exc.name or engine.module.startswith(exc.name + ".")
        ):
            raise QueueURLError(
                f"{engine.class_name} is not available: module {engine.module!r} "
                "is missing from this installation of prefactor-core"
            ) from exc
        raise QueueURLError(
            f"{engine.class_name} needs the module {exc.name!r}, which is not installed; "
            f"install it with: pip install 'prefactor-core[{engine.extra}]'"
        ) from exc

    queue_class = getattr(module, engine.class_name, None)
    if queue_class is None:
        raise QueueURLError(f"module {engine.module!r} has no class {engine.class_name!r}")
    return queue_class
