"""An in-memory queue opened from a `listqueue://` URL, for the worker and enqueue tests.

`listqueue:///DIR` starts with the JSON lines of DIR/in.jsonl queued, if
that file exists. When the command releases the queue, the items still
queued are written to DIR/out.jsonl, so a test can see what `enqueue` put.
"""

from __future__ import annotations

import json
import queue as std_queue
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prefactor_core.queue import InMemoryQueue, QueueClosedError


class ListQueue(InMemoryQueue[Any]):
    """`InMemoryQueue` that loads its first items from a file and saves the rest."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self._folder = folder

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ListQueue:
        """Open `listqueue:///DIR`, queueing the items of DIR/in.jsonl."""
        folder = Path(urlsplit(url).path)
        if not folder.is_dir():
            raise ValueError(f"folder not found: {folder}")
        queue = cls(folder)
        source = folder / "in.jsonl"
        if source.exists():
            for line in source.read_text().splitlines():
                queue.sync_q.put(json.loads(line))
        return queue

    async def aclose(self) -> None:
        """Write the items still queued to DIR/out.jsonl."""
        lines = []
        while True:
            try:
                lines.append(json.dumps(self.sync_q.get_nowait()) + "\n")
            except (std_queue.Empty, QueueClosedError):
                break
        (self._folder / "out.jsonl").write_text("".join(lines))
