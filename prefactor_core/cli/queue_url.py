"""Queue URLs: open a persistent queue from `--queue URL` by its scheme.

`redis://` and `rediss://` open `RedisQueue`, and `postgresql://` and
`postgres://` open `PostgresQueue`. `register_queue_scheme` adds others.
Each module is imported only when its scheme is used, so the command works
without the drivers of the others.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from prefactor_core.queue import Queue

__all__ = ["QueueURLError", "open_queue", "redact_url", "register_queue_scheme"]


class QueueURLError(ValueError):
    """Raised when a queue URL is malformed, unsupported or its driver is missing."""


@dataclasses.dataclass(frozen=True)
class _Engine:
    module: str
    class_name: str
    extra: str | None
    """Extra of prefactor-core that installs the driver, or None for other packages."""


_REDIS = _Engine("prefactor_core.queue.redis_queue", "RedisQueue", "redis")
_POSTGRES = _Engine("prefactor_core.queue.postgres_queue", "PostgresQueue", "postgres")

# A URL scheme: a letter followed by letters, digits, '+', '-' or '.'.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")

_ENGINES = {
    "redis": _REDIS,
    "rediss": _REDIS,
    "postgresql": _POSTGRES,
    "postgres": _POSTGRES,
}


def register_queue_scheme(scheme: str, queue_class_path: str) -> None:
    """Make `open_queue` open URLs of `scheme` with the class at `queue_class_path`.

    The path is written `package.module:ClassName`, and the class needs a
    `from_url(url, **options)` class method. The module is imported only when
    a URL of that scheme is opened. A registration replaces an earlier one
    for the same scheme, the built-in schemes included.

    Raises:
        ValueError: The scheme or the path is malformed.
    """
    module, sep, class_name = queue_class_path.partition(":")
    if not sep or not module or not class_name:
        raise ValueError(
            f"invalid queue class path {queue_class_path!r}: expected 'package.module:ClassName'"
        )
    if not _SCHEME.fullmatch(scheme):
        raise ValueError(
            f"invalid URL scheme {scheme!r}: expected a letter followed by letters, "
            "digits, '+', '-' or '.'"
        )
    _ENGINES[scheme.lower()] = _Engine(module, class_name, None)


def _supported_schemes() -> str:
    names = [f"{scheme}://" for scheme in _ENGINES]
    return ", ".join(names[:-1]) + f" or {names[-1]}"


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
            f"invalid queue URL {redacted!r}: expected a URL starting with {_supported_schemes()}"
        )

    engine = _ENGINES.get(scheme)
    if engine is None:
        supported = _supported_schemes()
        raise QueueURLError(
            f"unsupported queue URL scheme {scheme + '://'!r} in {redacted!r}; use {supported}"
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
        if engine.extra is None:
            install = f"install the package that provides {exc.name!r}"
        else:
            install = f"install it with: pip install 'prefactor-core[{engine.extra}]'"
        raise QueueURLError(
            f"{engine.class_name} needs the module {exc.name!r}, which is not installed; {install}"
        ) from exc

    queue_class = getattr(module, engine.class_name, None)
    if queue_class is None:
        raise QueueURLError(f"module {engine.module!r} has no class {engine.class_name!r}")
    return queue_class
