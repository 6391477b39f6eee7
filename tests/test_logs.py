"""Log records are masked when they are made, whoever handles them, and the factory is given back."""

from __future__ import annotations

import logging

import pytest

from harness.config.secret import Secret
from harness.output.logs import MaskedLogRecords
from harness.payloads.masking import Masking

SECRET = "log-secret-0123456789abcdef"


def _made(logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> str:
    try:
        raise ValueError(f"bad token {SECRET}")
    except ValueError:
        logger.exception("with %s in the message", SECRET, stack_info=True)
    record = caplog.records[-1]
    return "\n".join(
        [caplog.text, record.getMessage(), record.exc_text or "", record.stack_info or "", str(record.args)]
    )


def test_message_arguments_exception_and_stack_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    with MaskedLogRecords(Masking(None, Secret(SECRET))):
        text = _made(logging.getLogger("own"), caplog)
    assert SECRET not in text
    assert "[Filtered]" in text


def test_the_previous_factory_is_restored_and_records_outside_are_untouched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = logging.getLogRecordFactory()
    with MaskedLogRecords(Masking(None, Secret(SECRET))):
        assert logging.getLogRecordFactory() is not before
    assert logging.getLogRecordFactory() is before
    assert SECRET in _made(logging.getLogger("own"), caplog)


def test_values_learned_during_the_run_are_masked_too(caplog: pytest.LogCaptureFixture) -> None:
    masking = Masking()
    with MaskedLogRecords(masking):
        masking.cover("http://127.0.0.1:1/webhook", Secret(SECRET))
        text = _made(logging.getLogger("own"), caplog)
    assert SECRET not in text
