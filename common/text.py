"""Script output handling: secret masking that works on a stream, and bounded storage.

Both are plain Python with no Django imports, so the runner can use them in a worker and
the tests can exercise them directly.
"""

import hashlib
import re
import threading
from collections import deque
from collections.abc import Iterable

MASK = "***"
DEFAULT_HEAD_CHARS = 64 * 1024
DEFAULT_TAIL_CHARS = 64 * 1024


def _secret_pattern(secrets: list[str]) -> re.Pattern | None:
    """One alternation of all secrets, longest first, so the longest one wins at a position."""
    return re.compile("|".join(re.escape(secret) for secret in secrets)) if secrets else None


class SecretMasker:
    """Replaces secrets with ``***`` in text that arrives in pieces.

    ``feed`` returns only text that can no longer turn into a secret: it holds back the
    end of the text when it is the start of a secret (so at most ``len(longest secret) - 1``
    characters), which catches a secret split across two reads without delaying ordinary
    output. ``flush`` returns the rest once the stream has ended.
    """

    def __init__(self, secrets: Iterable[str]):
        self._secrets = sorted({secret for secret in secrets if secret}, key=len, reverse=True)
        self._pattern = _secret_pattern(self._secrets)
        self._longest = len(self._secrets[0]) if self._secrets else 0
        self._first_chars = {secret[0] for secret in self._secrets}
        self._pending = ""

    def _undecided_from(self, text: str) -> int:
        """First position whose rest of ``text`` could still grow into a (longer) secret."""
        for start in range(max(0, len(text) - (self._longest - 1)), len(text)):
            if text[start] not in self._first_chars:
                continue
            rest = text[start:]
            if any(len(secret) > len(rest) and secret.startswith(rest) for secret in self._secrets):
                return start
        return len(text)

    def feed(self, chunk: str) -> str:
        if self._pattern is None:
            return chunk
        text = self._pending + chunk
        # A match starting before `final_before` is decided: no secret starting there
        # can reach past the end of `text`.
        final_before = self._undecided_from(text)
        pieces, position = [], 0
        for match in self._pattern.finditer(text):
            if match.start() >= final_before:
                break
            pieces += (text[position : match.start()], MASK)
            position = match.end()
        emit_until = max(position, final_before)
        pieces.append(text[position:emit_until])
        self._pending = text[emit_until:]
        return "".join(pieces)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return self._pattern.sub(MASK, rest) if self._pattern is not None else rest


def mask(text: str, secrets: Iterable[str]) -> str:
    masker = SecretMasker(secrets)
    return masker.feed(text) + masker.flush()


# Control characters other than tab, line feed and carriage return, C1 controls, and lone
# surrogates (from undecodable file names). Stored as they came, a NUL refuses to go into
# PostgreSQL, a surrogate into UTF-8, and an escape sequence (ESC [ 2 J …) rewrites the
# terminal of whoever reads the log (docs/security.md, "Hostile input").
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _picture(match: re.Match) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # U+2400 Control Pictures: ␀ ␛ …
    return "\u2421" if code == 0x7F else "\ufffd"


def printable(text: str) -> str:
    """TEXT with every control character shown as a visible sign, safe to store and print."""
    return _UNPRINTABLE.sub(_picture, text)


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", errors="replace"))


class BoundedText:
    """Keeps the first ``head`` and last ``tail`` characters of everything appended.

    Whatever is dropped in between is counted (``elided_bytes``, UTF-8) and shown as a
    marker line, so memory stays bounded however much a script writes.
    """

    def __init__(self, head: int = DEFAULT_HEAD_CHARS, tail: int = DEFAULT_TAIL_CHARS):
        self.head_limit = head
        self.tail_limit = tail
        self.total = 0
        self.elided_chars = 0
        self.elided_bytes = 0
        self._head: list[str] = []
        self._head_len = 0
        self._tail: deque[str] = deque()
        self._tail_len = 0

    def append(self, text: str) -> None:
        text = printable(text)
        self.total += len(text)
        if self._head_len < self.head_limit:
            taken = text[: self.head_limit - self._head_len]
            self._head.append(taken)
            self._head_len += len(taken)
            text = text[len(taken) :]
        if text:
            self._tail.append(text)
            self._tail_len += len(text)
            self._trim_tail()

    def _trim_tail(self) -> None:
        while self._tail_len > self.tail_limit:
            excess = self._tail_len - self.tail_limit
            first = self._tail[0]
            dropped = first if len(first) <= excess else first[:excess]
            if len(first) <= excess:
                self._tail.popleft()
            else:
                self._tail[0] = first[excess:]
            self._tail_len -= len(dropped)
            self.elided_chars += len(dropped)
            self.elided_bytes += _utf8_size(dropped)

    @property
    def truncated(self) -> bool:
        return self.elided_chars > 0

    def value(self) -> str:
        head = "".join(self._head)
        tail = "".join(self._tail)
        if not self.truncated:
            return head + tail
        return f"{head}\n[… {self.elided_bytes} bytes elided …]\n{tail}"


class SharedBoundedText(BoundedText):
    """A BoundedText that one thread appends to while another reads and saves it.

    ``version`` counts appends, so the saving side can tell whether anything changed since
    it last saved. INITIAL (a log stored earlier, to continue) is not counted.
    """

    def __init__(self, initial: str = "", head: int = DEFAULT_HEAD_CHARS, tail: int = DEFAULT_TAIL_CHARS):
        super().__init__(head=head, tail=tail)
        self._lock = threading.Lock()
        self.version = 0
        if initial:
            super().append(initial)

    def append(self, text: str) -> None:
        with self._lock:
            super().append(text)
            self.version += 1

    def value(self) -> str:
        with self._lock:
            return super().value()


def body_hash(body: str) -> str:
    """What an approval records of a script body: approving is for exactly this text."""
    return hashlib.sha256(body.encode()).hexdigest()
