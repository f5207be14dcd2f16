"""Keep API keys and Authorization headers out of every log line, and keep each record on one line.

Plain `logging` and the key format (`apikeys.tokens`, which reads no
setting at import): gunicorn's config imports this before Django is set up.
"""

import logging
import logging.config
import re

from apikeys import tokens

KEY_PATTERN = re.compile(tokens.redaction_regex())
AUTHORIZATION_PATTERN = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer|basic|token)?\s*[^\s\"',}]+")
REDACTED = "[REDACTED]"
# What could end a line or rewrite a terminal: C0 and C1 controls, DEL, the
# Unicode line and paragraph separators, and the bidirectional marks and
# overrides that make a viewer show a line in another order than it is.
CONTROL_PATTERN = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def redact(text: str) -> str:
    text = KEY_PATTERN.sub(REDACTED, text)
    return AUTHORIZATION_PATTERN.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def escape_controls(text: str, keep: str = "") -> str:
    """`\\n`, `\\x1b`, `\\u2028`… as visible escapes, so request data cannot forge a line.

    Backslashes stay as they are: escaping twice changes nothing, and a
    literal backslash-n from a client is harmless.
    """
    return CONTROL_PATTERN.sub(
        lambda m: m.group() if m.group() in keep else m.group().encode("unicode_escape").decode("ascii"), text
    )


def scrub(record: logging.LogRecord) -> None:
    """Render the record's message and traceback now, redacted and escaped.

    The message is escaped entirely: one record, one line. A traceback keeps
    its line breaks (it has to), and loses every other control character.
    """
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string still gets logged, redacted
        message = str(record.msg)
    record.msg, record.args = escape_controls(redact(message)), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = escape_controls(redact(record.exc_text), keep="\n")
    if record.stack_info:
        record.stack_info = escape_controls(redact(record.stack_info), keep="\n")
    record.scrubbed = True


class RedactSecretsFilter(logging.Filter):
    """`scrub` on a handler, for records made without the record factory below.

    `logging.makeLogRecord` and a `LogRecord` built by hand skip the factory.
    A record the factory scrubbed is not scrubbed twice: the request log
    writes one line per API call, so scrubbing is on the hot path.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "scrubbed", False):
            scrub(record)
        return True


def install_record_factory() -> None:
    """Scrub every record when it is created, whatever logger or handler it meets.

    A handler filter only guards the handlers it is attached to: Django's
    default handlers, Python's last resort handler and any handler added
    later have none. Every `logger.info(...)` creates its record through this
    factory, before any handler sees it. Safe to call more than once.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "scrubs", False):
        return

    def scrubbing_factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrub(record)
        return record

    scrubbing_factory.scrubs = True
    logging.setLogRecordFactory(scrubbing_factory)


def logging_config(level: str = "INFO", *, gunicorn_access_log: bool | None = None) -> dict:
    """The one logging configuration: settings.LOGGING, and gunicorn's `logconfig_dict`.

    Every handler redacts (the record factory already did; the filter catches
    records made without it). gunicorn (`gunicorn_access_log` given) applies
    it before Django is set up, so it gets the handlers that need no settings
    plus its own loggers: errors always, access lines only if asked for, since
    the application logs one line per request itself. Django's part follows
    when the application loads.
    """
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_secrets": {"()": "config.logfilters.RedactSecretsFilter"}},
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["redact_secrets"],
                "stream": "ext://sys.stderr",
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {},
    }
    if gunicorn_access_log is None:
        config["filters"]["require_debug_false"] = {"()": "django.utils.log.RequireDebugFalse"}
        # The admin error mail; it reads settings when it is built.
        config["handlers"]["mail_admins"] = {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false", "redact_secrets"],
        }
        config["loggers"] = {
            # Django's defaults attach handlers of their own (DEFAULT_LOGGING):
            # these replace them with ours.
            "django": {"handlers": ["mail_admins"], "level": "INFO"},
            # Our one line per request replaces runserver's and Django's own.
            "django.server": {"handlers": ["console"], "level": "WARNING", "propagate": False},
            "django.request": {"level": "ERROR"},
            "django.db.backends": {"level": "INFO"},
        }
    else:
        config["loggers"] = {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            # With logconfig_dict gunicorn always emits access lines; the level
            # keeps them off unless GUNICORN_ACCESS_LOG asks for them.
            "gunicorn.access": {
                "handlers": ["console"],
                "level": "INFO" if gunicorn_access_log else "WARNING",
                "propagate": False,
            },
        }
    return config


def configure_logging(config: dict) -> None:
    """Django's LOGGING_CONFIG: the record factory, then the LOGGING dict.

    django.setup() calls it before anything can log a request: in every
    manage.py command (runserver and its reloaded child included), in the
    WSGI application gunicorn loads, and under pytest.
    """
    install_record_factory()
    logging.config.dictConfig(config)
