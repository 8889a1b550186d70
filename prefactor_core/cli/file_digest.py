"""The demo's CPU-bound handler: SHA-256 and zlib compression ratio of a file.

It is a module-level function so that process mode can pickle it by
reference and run it in worker processes.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

__all__ = ["digest_file"]


def digest_file(path: str) -> dict[str, Any]:
    """Read the file at `path` and return its size, SHA-256 and compression ratio.

    The compression ratio is the size divided by the size after
    `zlib.compress` at its default level (6), so 3.0 means the bytes shrink
    to a third. It is None for an empty file. Blocks while it reads the
    whole file into memory.

    Raises:
        OSError: The file cannot be read, for example because permission is
            denied or it vanished.
    """
    with open(path, "rb") as stream:
        data = stream.read()
    compressed_size = len(zlib.compress(data))
    return {
        "path": path,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "compression_ratio": round(len(data) / compressed_size, 3) if data else None,
    }
