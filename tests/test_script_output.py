"""Secret masking on a stream and bounded output storage (pure functions, no processes)."""

import random
import threading

import pytest

from common.text import BoundedText, SecretMasker, SharedBoundedText, mask


def feed_in_pieces(pieces: list[str], secrets: list[str]) -> tuple[str, list[str]]:
    masker = SecretMasker(secrets)
    emitted = [masker.feed(piece) for piece in pieces]
    emitted.append(masker.flush())
    return "".join(emitted), emitted


# --- mask --------------------------------------------------------------------------------


def test_mask_replaces_every_occurrence():
    assert mask("pw=hunter2 again hunter2.", ["hunter2"]) == "pw=*** again ***."


def test_mask_ignores_empty_secrets_and_keeps_text_without_secrets():
    assert mask("nothing to hide", ["", ""]) == "nothing to hide"
    assert mask("nothing to hide", []) == "nothing to hide"


def test_mask_prefers_the_longest_secret_when_they_overlap():
    # "abc" first would leave "def", a piece of the longer secret, in the clear.
    assert mask("xabcdefx abc", ["abc", "abcdef"]) == "x***x ***"


def test_mask_treats_secrets_literally():
    assert mask("a.b*c a-b-c", ["a.b*c"]) == "*** a-b-c"
    assert mask("$(id) and \\n", ["$(id)", "\\n"]) == "*** and ***"


def test_mask_handles_multiline_and_unicode_secrets():
    assert mask("key:\nline1\nline2\nend", ["line1\nline2"]) == "key:\n***\nend"
    assert mask("mot de passe: crème brûlée!", ["crème brûlée"]) == "mot de passe: ***!"


def test_adjacent_occurrences_are_each_masked():
    assert mask("sesese", ["se"]) == "*********"


# --- streaming ---------------------------------------------------------------------------


SECRETS = ["SUPERSECRETVALUE", "SECRET", "tok€n-π", "aaa"]
TEXT = "start SUPERSECRETVALUE mid SECRET x tok€n-π SUPERSECRET aaaa end SUPERSECRETVALUESECRET"


def test_a_secret_split_across_two_feeds_is_masked_at_every_split_point():
    expected = mask(TEXT, SECRETS)
    assert "SECRET" not in expected and "tok€n" not in expected
    for split in range(len(TEXT) + 1):
        joined, emitted = feed_in_pieces([TEXT[:split], TEXT[split:]], SECRETS)
        assert joined == expected, split
        assert not any("SUPERSEC" in piece or "RETVALUE" in piece for piece in emitted)


def test_random_chunking_gives_the_same_result_as_one_shot():
    generator = random.Random(4)
    alphabet = ["SUPERSECRETVALUE", "SECRET", "SUPER", "VALUE", "a", "aa", "tok€n-π", "tok", " ", "\n", "x"]
    for _ in range(300):
        text = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 30)))
        cuts = sorted(generator.randint(0, len(text)) for _ in range(generator.randint(0, 6)))
        pieces = [text[start:end] for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert feed_in_pieces(pieces, SECRETS)[0] == mask(text, SECRETS), pieces


def test_feed_holds_back_only_an_ending_that_could_start_a_secret():
    masker = SecretMasker(["0123456789", "abc"])
    assert masker.feed("x" * 100) == "x" * 100, "live output is not delayed for nothing"
    assert masker.feed("--0123") == "--"
    assert masker.feed("45") == ""
    assert masker.feed("y") == "012345y"
    assert masker.feed("ab") == ""
    assert masker.flush() == "ab"


def test_feed_never_holds_back_as_much_as_the_longest_secret():
    masker = SecretMasker(["aaaaa"])
    emitted = "".join(masker.feed("a") for _ in range(12))
    assert emitted == "******"
    assert masker.flush() == "aa"


def test_feed_without_secrets_holds_nothing_back():
    masker = SecretMasker([])
    assert masker.feed("all of it") == "all of it"
    assert masker.flush() == ""


def test_a_partial_secret_at_the_end_is_emitted_on_flush():
    joined, _ = feed_in_pieces(["value: SUPERSECRET"], ["SUPERSECRETVALUE"])
    assert joined == "value: SUPERSECRET"


# --- BoundedText -------------------------------------------------------------------------


def test_short_output_is_kept_whole():
    text = BoundedText(head=10, tail=10)
    for piece in ["hello ", "world", "!"]:
        text.append(piece)
    assert text.value() == "hello world!"
    assert text.total == 12
    assert not text.truncated


def test_long_output_keeps_head_and_tail_around_a_marker():
    text = BoundedText(head=5, tail=4)
    text.append("HEAD-")
    text.append("m" * 100)
    text.append("TAIL")
    assert text.value() == "HEAD-\n[… 100 bytes elided …]\nTAIL"
    assert text.total == 109
    assert text.truncated


def test_elided_size_is_counted_in_utf8_bytes():
    text = BoundedText(head=1, tail=1)
    text.append("a" + "é" * 10 + "z")  # ten two-byte characters in the middle
    assert text.value() == "a\n[… 20 bytes elided …]\nz"


@pytest.mark.parametrize("piece_size", [1, 7, 1000, 100_000])
def test_memory_stays_bounded_whatever_is_appended(piece_size):
    text = BoundedText(head=1000, tail=1000)
    total = 0
    for index in range(max(3, 200_000 // piece_size)):
        piece = str(index % 10) * piece_size
        text.append(piece)
        total += piece_size
        assert text._head_len <= 1000 and text._tail_len <= 1000
    value = text.value()
    assert text.total == total
    assert len(value) <= 2000 + len(f"\n[… {total} bytes elided …]\n")
    assert text.elided_chars == total - 2000


def test_tail_is_exactly_the_last_characters():
    text = BoundedText(head=3, tail=5)
    stream = "".join(chr(ord("a") + index % 26) for index in range(500))
    for start in range(0, 500, 13):
        text.append(stream[start : start + 13])
    assert text.value() == f"{stream[:3]}\n[… 492 bytes elided …]\n{stream[-5:]}"


def test_shared_text_reads_while_another_thread_appends():
    shared = SharedBoundedText(head=100, tail=100)
    lines = 20_000

    def write():
        for i in range(lines):
            shared.append(f"{i}\n")

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive():
        value = shared.value()
        assert len(value) <= 100 + 100 + len("\n[… 999999 bytes elided …]\n")
    writer.join()
    assert shared.version == lines
    assert shared.value().endswith("19998\n19999\n")
    assert shared.elided_chars == sum(len(f"{i}\n") for i in range(lines)) - 200
