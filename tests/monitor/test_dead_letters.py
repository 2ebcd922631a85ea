from __future__ import annotations

from driftwarden.config import parse_config
from driftwarden.contracts.dead_letters import dead_letter
from driftwarden.contracts.records import header, record_size
from driftwarden.monitor.record_limits import input_limit, output_limit

SOURCE = ("predictions", 3, 42)


def test_a_message_that_fits_is_copied_with_the_reason_and_its_source() -> None:
    letter = dead_letter(
        b"k", b"{}", [("trace", b"1"), ("empty", None)], "schema_violation", "bad", SOURCE, 10_000
    )
    assert letter.key == b"k" and letter.value == b"{}"
    assert letter.headers == [
        ("trace", b"1"),
        ("error", b"schema_violation"),
        ("error-detail", b"bad"),
        ("source-topic", b"predictions"),
        ("source-partition", b"3"),
        ("source-offset", b"42"),
    ]


def test_original_headers_named_like_the_dead_letters_own_are_dropped() -> None:
    forged = [("error", b"none"), ("source-offset", b"-1"), ("value-truncated", b"0")]
    letter = dead_letter(b"k", b"v", forged, "invalid_json", "x", SOURCE, 10_000)
    assert [v for k, v in letter.headers if k == "error"] == [b"invalid_json"]
    assert [v for k, v in letter.headers if k == "source-offset"] == [b"42"]
    assert header(letter.headers, "value-truncated") is None


def test_value_then_headers_then_key_are_cut_to_fit_the_limit() -> None:
    big_headers = [("h", b"x" * 3000)]
    letter = dead_letter(
        b"k" * 5000, b"v" * 5000, big_headers, "message_too_large", "", SOURCE, 4000
    )
    assert record_size(letter.key, letter.value, letter.headers) <= 4000
    assert letter.value == b""
    assert header(letter.headers, "value-truncated") == b"5000"
    assert header(letter.headers, "headers-dropped") == b"1"
    assert header(letter.headers, "key-truncated") == b"5000"
    assert letter.key and b"k" * len(letter.key) == letter.key


def test_limits_follow_the_producers_max_request_size() -> None:
    default = parse_config({"models": [{"name": "m", "task": "multiclass"}]})
    raised = parse_config(
        {
            "kafka": {"client": {"max_request_size": 4_194_304}},
            "models": [{"name": "m", "task": "multiclass"}],
        }
    )
    assert output_limit(default) < 1_048_576 and input_limit(default) < output_limit(default)
    assert output_limit(raised) - output_limit(default) == 4_194_304 - 1_048_576
