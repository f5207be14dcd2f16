"""Starting the application in a subprocess: for tests of what only a real server shows."""

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_runserver(port: int, env: dict, log: Path, timeout: float = 60) -> subprocess.Popen:
    """`manage.py runserver` (as `make run` serves), once it accepts connections; output into `log`."""
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    wait_until_accepting(process, port, log, timeout)
    return process


def spawn_gunicorn(port: int, env: dict, log: Path) -> subprocess.Popen:
    """`make serve`'s server (gunicorn, config/gunicorn.conf.py) on 127.0.0.1:`port`; output into `log`.

    Returns at once: wait for it with `wait_until_accepting`, so that several
    servers can boot side by side.
    """
    with log.open("w") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"],
            cwd=ROOT,
            env={**env, "HOST": "127.0.0.1", "PORT": str(port)},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def wait_until_accepting(process: subprocess.Popen, port: int, log: Path, timeout: float = 60) -> None:
    """Until something accepts connections on `port`; fails (and kills `process`) if it exits or times out."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"server on port {port} did not start:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)


def stop_servers(*processes: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM to all at once (gunicorn's graceful stop), then SIGKILL whichever still runs after `timeout` s."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
