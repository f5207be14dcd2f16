"""gunicorn settings for `make profile`: config/gunicorn.conf.py's, one sync worker, cProfile around each connection.

The sync worker serves one request per connection in `handle()`: parse,
the WSGI application, writing the answer, closing. That is what is profiled,
request after request, in one cProfile; the worker's idle wait for the next
connection is not. When the worker exits (gunicorn stopped with SIGTERM) it
writes the profile to BENCH_PROFILE_OUT and, next to it (.json), how many
requests it served and the time spent in them, profiler overhead included.
No recycling (max_requests 0), so one worker serves the whole run.

Run: gunicorn -c benchmarks/gunicorn_profile.conf.py config.wsgi
"""

import cProfile
import json
import os
import runpy
import time
from pathlib import Path

DEPLOYED = Path(__file__).resolve().parent.parent / "config" / "gunicorn.conf.py"
globals().update({name: value for name, value in runpy.run_path(str(DEPLOYED)).items() if not name.startswith("__")})

workers = 1
threads = 1
worker_class = "sync"
max_requests = 0


def post_fork(server, worker):
    profiler = cProfile.Profile()
    served = {"requests": 0, "seconds": 0.0}
    handle = worker.handle

    def profiled_handle(*args):
        started = time.perf_counter()
        profiler.enable()
        try:
            return handle(*args)
        finally:
            profiler.disable()
            served["seconds"] += time.perf_counter() - started
            served["requests"] += 1

    worker.handle = profiled_handle
    worker.bench_profile = (profiler, served)


def worker_exit(server, worker):
    profiler, served = worker.bench_profile
    out = Path(os.environ["BENCH_PROFILE_OUT"])
    profiler.dump_stats(out)
    out.with_suffix(".json").write_text(json.dumps(served))
