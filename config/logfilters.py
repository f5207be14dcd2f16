"""Keep API keys and Authorization headers out of every log line."""

import logging
import re

# Any prefix: a key of an old prefix must not leak either.
KEY_PATTERN = re.compile(r"\b[0-9A-Za-z]{2,16}_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}\b")
AUTHORIZATION_PATTERN = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer|basic|token)?\s*[^\s\"',}]+")
REDACTED = "[REDACTED]"


def redact(text: str) -> str:
    text = KEY_PATTERN.sub(REDACTED, text)
    return AUTHORIZATION_PATTERN.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites the record's message (and traceback) with secrets removed.

    Attached to handlers, so it sees records of every logger, gunicorn's
    access and error logs included.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string still gets logged, redacted
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
