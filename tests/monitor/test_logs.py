"""The log handler's secret redaction, for text and JSON output."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest

from driftwarden.core.logs import MASK, configure_logging

SECRET = "s3cr3t-'quoted'\\path"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("kafka").level
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("kafka").setLevel(saved[2])


def log_everything(logger: logging.Logger) -> None:
    logger.info("plain %s here", SECRET)
    logger.info("as repr %r here", SECRET)
    logger.warning("in a dict %s", {"sasl_plain_password": SECRET})
    try:
        raise RuntimeError(f"connect failed with {SECRET}")
    except RuntimeError:
        logger.exception("it failed")
    logger.info("a short secret %s stays", "pw1")


@pytest.mark.parametrize("json_format", [False, True])
def test_every_form_of_a_secret_is_masked(
    restore_logging: None, capsys: pytest.CaptureFixture[str], json_format: bool
) -> None:
    configure_logging("INFO", json_format, secrets=[SECRET, "pw1", ""])
    log_everything(logging.getLogger("some.library"))
    err = capsys.readouterr().err
    assert SECRET not in err
    assert repr(SECRET)[1:-1] not in err and "s3cr3t" not in err
    if json_format:
        docs = [orjson.loads(line) for line in err.splitlines()]
        text = "\n".join(d["message"] + d.get("exception", "") for d in docs)
    else:
        text = err
    assert f"plain {MASK} here" in text
    assert f"as repr '{MASK}' here" in text or f'as repr "{MASK}" here' in text
    assert f"{{'sasl_plain_password': \"{MASK}\"}}" in text  # repr() escaped the secret
    assert f"RuntimeError: connect failed with {MASK}" in text  # the traceback too
    assert "a short secret pw1 stays" in text  # shorter than 4 characters: not masked


def test_without_secrets_messages_are_untouched(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO")
    logging.getLogger("x").info("value %s and %d", SECRET, 3)
    assert f"value {SECRET} and 3" in capsys.readouterr().err


def test_a_bad_format_call_does_not_raise_from_the_filter(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", secrets=[SECRET])
    logging.getLogger("x").info("two %s %s", "args?")  # logging reports it, the caller goes on
    assert "two %s %s" in capsys.readouterr().err
