"""A least-recently-used cache bounded by the bytes it holds, not by how many entries.

functools.lru_cache counts entries, and an entry of the lab's charts is 30 kB for the source demo
but megabytes for a wide, deep run with many points: 64 of those held hundreds of MB after every
viewer had left (issue 11). (cachetools' LRUCache(getsizeof=…) does this too; it is not worth a
dependency for these few lines.)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Hashable


class ByteLRU:
    """Values with their size in bytes; adding one evicts the least recently used until the sizes
    fit in `max_bytes`. A value bigger than the whole budget is not kept. Thread-safe."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.nbytes = 0  # the sizes of what is held now
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()  # oldest use first
        self._lock = threading.Lock()  # the frames route fills it from worker threads, pages from scripts

    def get(self, key: Hashable, default: Any = None) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return default
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, value: Any, size: int) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            if size > self.max_bytes:
                return
            self._entries[key] = (value, size)
            self.nbytes += size
            while self.nbytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.nbytes -= evicted

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries
