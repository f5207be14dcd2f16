"""Where whoami's time goes, layer by layer, in-process: part of `make profile`.

cProfile slows every Python call down, so it overstates code that makes many
small calls. This takes layers away instead and times what is left: our app
as deployed (run with ours_environment(), after setup_ours()), called as
gunicorn calls it (Django's WSGI handler, no network, no HTTP parsing), each
variant the median of REQUESTS calls. The difference to the full request is
what a layer costs. Prints a Markdown table.
"""

import io
import os
import statistics
import time
from contextlib import contextmanager, nullcontext

import django

REQUESTS = int(os.environ.get("PROFILE_LAYER_REQUESTS", "4000"))
WARM_UP = 300
ROUNDS = 10
REQUEST_LOG = "config.middleware.RequestLogMiddleware"
INPUT_GUARD = "config.inputguard.InputGuardMiddleware"


def main() -> None:
    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory
    from django.test.utils import override_settings

    from apikeys import authentication, services
    from projects import catalog
    from projects.models import Project

    admin = get_user_model().objects.get(username="admin")
    secret = services.api_key_create(
        project=Project.objects.get(slug="demo"),
        name=f"layers-{time.time_ns()}",
        permissions=[catalog.READ_PROJECT],
        created_by=admin,
    ).secret
    host = settings.ALLOWED_HOSTS[0]
    whoami = RequestFactory(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_X_FORWARDED_PROTO="https", HTTP_HOST=host)
    environ = whoami.get("/api/v1/whoami").environ
    healthz = dict(environ, PATH_INFO="/healthz")
    del healthz["HTTP_AUTHORIZATION"]

    def call(app, env) -> str:
        statuses = []
        body = app(dict(env, **{"wsgi.input": io.BytesIO(b"")}), lambda status, *_: statuses.append(status))
        b"".join(body)
        body.close()
        return statuses[0]

    def without(*dropped):
        with override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m not in dropped]):
            return WSGIHandler()

    result = authentication.api_key_authenticate(secret)
    row = authentication._key_lookup().fetch(result.api_key.public_id)

    @contextmanager
    def lookup_from_memory():
        real = authentication.KeyLookup.fetch
        authentication.KeyLookup.fetch = lambda self, public_id: row
        try:
            yield
        finally:
            authentication.KeyLookup.fetch = real

    @contextmanager
    def authentication_from_memory():
        real = authentication.api_key_authenticate
        authentication.api_key_authenticate = lambda raw, now=None: result
        try:
            yield
        finally:
            authentication.api_key_authenticate = real

    full = WSGIHandler()
    variants = [  # label, WSGI app, request, what is answered from memory
        ("whoami, as deployed", full, environ, nullcontext),
        ("healthz, as deployed", full, healthz, nullcontext),
        ("whoami without the request log line", without(REQUEST_LOG), environ, nullcontext),
        ("whoami without the input guard", without(INPUT_GUARD), environ, nullcontext),
        ("whoami without both", without(REQUEST_LOG, INPUT_GUARD), environ, nullcontext),
        ("whoami, the key lookup's query answered from memory", full, environ, lookup_from_memory),
        ("whoami, authentication answered from memory", full, environ, authentication_from_memory),
    ]
    samples: dict[str, list[float]] = {label: [] for label, *_ in variants}
    for label, app, env, patch in variants:
        with patch():
            if not call(app, env).startswith("200"):
                raise SystemExit(f"{label}: not 200")
            for _ in range(WARM_UP):
                call(app, env)
    # Round-robin in short blocks, so that a machine or database that drifts
    # while this runs moves every line alike.
    for _ in range(ROUNDS):
        for label, app, env, patch in variants:
            with patch():
                for _ in range(REQUESTS // ROUNDS):
                    started = time.perf_counter()
                    call(app, env)
                    samples[label].append(time.perf_counter() - started)
    rows = [(label, statistics.median(values) * 1e6) for label, values in samples.items()]

    base = rows[0][1]
    lines = [
        f"Median of {REQUESTS} calls of Django's WSGI handler per line, in {ROUNDS} rounds over all lines "
        "(in-process: no network, no HTTP parsing, no gunicorn).",
        "",
        "| request | µs | whoami − this |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {value:.1f} | {base - value:+.1f} |" for label, value in rows]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
