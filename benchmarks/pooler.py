"""PgBouncer for `make bench`'s connection-pooler variant (PostgreSQL only).

A pooler is what deployments put between many app workers and one
PostgreSQL once hosts × workers outgrow `max_connections`. The bench runs
Debian's pgbouncer (`apt-get install pgbouncer`; skipped with a note when it
is missing) in transaction pooling, its most common mode, in front of the
bench's PostgreSQL, and serves our whoami once more through it, with
persistent connections to PgBouncer as to PostgreSQL otherwise.

Our app runs under it unchanged: Django's psycopg backend binds parameters
on the client (no server-side prepared statements to lose between
transactions), and the one server-side cursor (`iterator()` in
apikeys/services.py) runs inside a transaction, where transaction pooling
keeps it on one server connection.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from benchmarks.servers import BUILD

PORT = 6433
URL = f"postgresql://postgres@127.0.0.1:{PORT}/apikeys_bench"
DIRECTORY = BUILD / "pgbouncer"


def binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if Path(path).exists()), None
    )


def start() -> subprocess.Popen:
    """PgBouncer on 127.0.0.1:PORT, transaction pooling, trusting local connections as PostgreSQL does here."""
    DIRECTORY.mkdir(parents=True, exist_ok=True)
    users = DIRECTORY / "users.txt"
    users.write_text('"postgres" ""\n')
    config = DIRECTORY / "pgbouncer.ini"
    config.write_text(
        "\n".join(
            [
                "[databases]",
                "* = host=127.0.0.1 port=5432",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {PORT}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {users}",
                "pool_mode = transaction",
                "default_pool_size = 10",
                "max_client_conn = 200",
                "ignore_startup_parameters = extra_float_digits,options",
                "",
            ]
        )
    )
    for path in (DIRECTORY, users, config):
        path.chmod(0o755 if path.is_dir() else 0o644)  # readable by the user it runs as
    command = [binary(), str(config)]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=(DIRECTORY / "stderr.log").open("w"), start_new_session=True
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {(DIRECTORY / 'stderr.log').read_text()[-500:]}")
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise RuntimeError("pgbouncer did not listen")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
