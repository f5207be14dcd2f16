"""Reading the deployment's environment: one set of rules for config/settings.py and config/gunicorn.conf.py.

A value that is wrong stops start-up with one line naming the variable, never
a traceback and never a silent default. In particular a comment after a value
(`WEB_CONCURRENCY=4  # about 2 × cores`): a shell drops it, but systemd's
`EnvironmentFile=` keeps it as part of the value, so `int()` fails and
gunicorn exits, or a flag silently reads as off. The message never repeats
the value, which may be a secret.
"""

import multiprocessing
import os
import re
import sys

# Whitespace, then "#": how a comment after a value starts. A "#" inside a
# value (a URL fragment, a password character) is allowed.
_COMMENT_AFTER_VALUE = re.compile(r"\s#")
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


def fail(message: str):
    sys.exit(f"Configuration error: {message}")


def env_raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is not None and _COMMENT_AFTER_VALUE.search(value):
        fail(
            f"{name} has a comment after its value. systemd's EnvironmentFile keeps it as part of the value; "
            "put comments on lines of their own."
        )
    return value


def env_str(name: str, default: str = "") -> str:
    value = env_raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool = False) -> bool:
    value = (env_raw(name) or "").strip().lower()
    if not value:
        return default
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    fail(f"{name} must be 1 or 0 (or true/false, yes/no, on/off).")


def env_int(name: str, default: int) -> int:
    value = (env_raw(name) or "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        fail(f"{name} must be a whole number.")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# What gunicorn reads, in one place: config/gunicorn.conf.py takes its values
# from here, and the settings call this too. gunicorn itself parses
# WEB_CONCURRENCY when it starts, before any configuration of ours runs, and
# dies on a bad one with a traceback; so `manage.py check` (the unit's
# ExecStartPre, `make serve`) names a bad one in one line before gunicorn
# ever starts.
def server_environment() -> dict:
    return {
        "host": env_str("HOST", "0.0.0.0"),
        "port": env_int("PORT", 8000),
        "workers": env_int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1),
        "threads": env_int("GUNICORN_THREADS", 1),
        "graceful_timeout": env_int("GUNICORN_GRACEFUL_TIMEOUT", 30),
        "timeout": env_int("GUNICORN_TIMEOUT", 30),
        "max_requests": env_int("GUNICORN_MAX_REQUESTS", 100000),
        "forwarded_allow_ips": env_str("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        "accesslog": env_str("GUNICORN_ACCESS_LOG") or None,
        "log_level": env_str("LOG_LEVEL", "INFO"),
    }
