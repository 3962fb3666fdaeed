"""A log that keeps its head and its tail and elides the middle, in bounded memory.

apt's output is usually small, but an install that goes wrong can print without end: the
stored log keeps the first ``head`` characters (what was asked, the first errors) and the
last ``tail`` characters (how it ended), with a marker saying how much was left out.
"""

import threading

DEFAULT_HEAD = 16_000
DEFAULT_TAIL = 48_000


class BoundedLog:
    def __init__(self, text: str = "", head: int = DEFAULT_HEAD, tail: int = DEFAULT_TAIL):
        self._head_limit = head
        self._tail_limit = tail
        self._head = ""
        self._tail = ""
        self._elided = 0
        self._lock = threading.Lock()
        self.changed = False
        if text:
            self.write(text)
        self.changed = False

    def write(self, text: str) -> None:
        """Append text; thread-safe (the reader thread writes, the main thread saves)."""
        if not text:
            return
        with self._lock:
            room = self._head_limit - len(self._head)
            if room > 0:
                self._head += text[:room]
                text = text[room:]
            if text:
                self._tail += text
                # Trim only when the buffer is twice the limit: amortised O(1) per character.
                if len(self._tail) > 2 * self._tail_limit:
                    cut = len(self._tail) - self._tail_limit
                    self._elided += cut
                    self._tail = self._tail[cut:]
            self.changed = True

    @property
    def elided(self) -> int:
        with self._lock:
            return self._elided + max(0, len(self._tail) - self._tail_limit)

    def text(self) -> str:
        with self._lock:
            head, tail, elided = self._head, self._tail, self._elided
        if len(tail) > self._tail_limit:
            elided += len(tail) - self._tail_limit
            tail = tail[-self._tail_limit :]
        if not elided:
            return head + tail
        return f"{head}\n[… {elided} characters elided …]\n{tail}"

    def __str__(self) -> str:
        return self.text()
