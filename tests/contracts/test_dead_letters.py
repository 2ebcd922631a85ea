"""Golden tests: the dead-letter record and its headers."""

from __future__ import annotations

from driftwarden.contracts.dead_letters import dead_letter


def test_dead_letter_copies_the_message_and_adds_its_headers() -> None:
    letter = dead_letter(
        b"k", b"{}", [("trace", b"1")], "invalid_json", "bad", ("labels", 3, 9), limit=100_000
    )
    assert (letter.key, letter.value) == (b"k", b"{}")
    assert letter.headers == [
        ("trace", b"1"),
        ("error", b"invalid_json"),
        ("error-detail", b"bad"),
        ("source-topic", b"labels"),
        ("source-partition", b"3"),
        ("source-offset", b"9"),
    ]


def test_oversized_dead_letter_is_cut_and_says_so() -> None:
    theirs = [("trace", b"1"), ("error", b"theirs"), ("none", None)]
    letter = dead_letter(
        b"k", b"x" * 2000, theirs, "message_too_large", "big", ("predictions", 0, 7), limit=1500
    )
    assert (letter.key, letter.value) == (b"k", b"x" * 1207)
    assert letter.headers == [
        ("trace", b"1"),
        ("error", b"message_too_large"),
        ("error-detail", b"big"),
        ("source-topic", b"predictions"),
        ("source-partition", b"0"),
        ("source-offset", b"7"),
        ("value-truncated", b"2000"),
    ]


def test_dropped_headers_and_truncated_key_are_counted() -> None:
    letter = dead_letter(
        b"k" * 500, b"v" * 500, [("h", b"x" * 300)], "message_too_large", "d" * 1200,
        ("p", 1, 2), limit=1400,
    )  # fmt: skip
    assert letter.value == b""
    assert letter.key == b"k" * 137
    assert letter.headers[-3:] == [
        ("value-truncated", b"500"),
        ("headers-dropped", b"1"),
        ("key-truncated", b"500"),
    ]
    assert letter.headers[1] == ("error-detail", b"d" * 1000)
