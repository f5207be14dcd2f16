"""gunicorn settings for `make serve`, all from the environment.

Run: gunicorn -c config/gunicorn.conf.py config.wsgi
"""

from gunicorn.glogging import Logger

from config.env import server_environment
from config.logfilters import install_record_factory, logging_config

# gunicorn logs before it loads the application (whose settings install the
# same factory): scrub its records from the start too.
install_record_factory()

server = server_environment()  # config/env.py: every variable read here, checked by the settings too
bind = f"{server['host']}:{server['port']}"
workers = server["workers"]
threads = server["threads"]
# Graceful shutdown: on SIGTERM, workers finish in-flight requests for up to
# this many seconds before they are killed.
graceful_timeout = server["graceful_timeout"]
timeout = server["timeout"]
keepalive = 5
# A worker is recycled after this many requests, so a slow leak never takes a
# host down, at a cost: the new worker opens its database connection and warms
# its caches while requests queue behind it. At 10,000, a worker answering
# whoami at full load restarted every few seconds, and p99 jumped from 7 to
# 54 ms in a round where it did (wrk, 16 connections, SQLite); 100,000 keeps
# the bound at a few minutes of peak load. 0: never.
max_requests = server["max_requests"]
max_requests_jitter = max_requests // 10  # workers started together do not restart together
# Which proxies may set X-Forwarded-* (see TRUSTED_PROXY_COUNT for client addresses).
forwarded_allow_ips = server["forwarded_allow_ips"]
preload_app = True

# The application logs one line per request itself; gunicorn's access log is
# off unless asked for, and is scrubbed like every other record.
accesslog = server["accesslog"]
errorlog = "-"
# gunicorn ≥ 27 opens a control socket under $HOME by default; several
# instances on one host would share it, and nothing here uses it.
control_socket_disable = True
# The application's own logging configuration (settings.LOGGING), with
# gunicorn's loggers added.
logconfig_dict = logging_config(server["log_level"], gunicorn_access_log=bool(accesslog))


class AccessLineOnlyWhenAsked(Logger):
    """gunicorn's logger, which builds an access line only when GUNICORN_ACCESS_LOG asks for one.

    With `logconfig_dict` set, gunicorn formats the line for every request and
    only then lets the log level drop it: work on every API call for nothing.
    """

    def access(self, resp, req, environ, request_time):
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = AccessLineOnlyWhenAsked
