"""wrk, as every measurement of `make bench` and `make profile` runs it: 2 threads, 16 connections, no Lua."""

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.servers import PROXY_HEADER

THREADS = 2
CONNECTIONS = 16
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Result:
    rps: float
    p50: float  # ms
    p90: float
    p99: float
    requests: int
    non_2xx: int  # wrk counts 3xx as errors too
    socket_errors: str  # wrk's line, empty if none
    others_cpu: float  # share of the machine's CPU used meanwhile by processes that are not the bench's


def wrk(port: int, path: str, authorization: str | None, duration: str, *, refused: bool = False) -> Result:
    """Load one path. `refused`: every answer must be an error (401/429); otherwise none may be."""
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration}", "--latency", "-H", ": ".join(PROXY_HEADER)]
    if authorization:
        command += ["-H", f"Authorization: {authorization}"]
    url = f"http://127.0.0.1:{port}{path}"
    before = cpu_snapshot()
    output = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    others_cpu = others_share(before, cpu_snapshot())
    requests = int(_find(r"(\d+) requests in", output))
    non_2xx = int(_find(r"Non-2xx or 3xx responses: (\d+)", output, "0"))
    if (non_2xx < requests) if refused else non_2xx:
        raise RuntimeError(f"wrk on {url}: {non_2xx} of {requests} answers were errors:\n{output}")
    socket_errors = _find(r"Socket errors: (.*)", output, "")
    return Result(
        rps=float(_find(r"Requests/sec:\s+([\d.]+)", output)),
        p50=_latency(output, 50),
        p90=_latency(output, 90),
        p99=_latency(output, 99),
        requests=requests,
        non_2xx=non_2xx,
        socket_errors=socket_errors.strip(),
        others_cpu=others_cpu,
    )


def _find(pattern: str, output: str, default: str | None = None) -> str:
    match = re.search(pattern, output)
    if match:
        return match.group(1)
    if default is None:
        raise RuntimeError(f"wrk's output has no {pattern!r}:\n{output}")
    return default


def _latency(output: str, percentile: int) -> float:
    """A percentile of wrk's latency distribution, in ms."""
    value, unit = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
    return float(value) * _UNITS[unit]


# -- who else used the CPU ---------------------------------------------------------------
# The machine is shared (other work, tests): each run notes how much of its CPU
# went to processes that are neither the bench's own (its servers and wrk, all
# its descendants) nor the database servers ours and the peer use.

SERVICES = ("postgres", "redis-server")


@dataclass(frozen=True)
class CpuSnapshot:
    total: int  # jiffies of every CPU, idle included
    busy: int
    accounted: int  # the bench's processes and the database servers, with their reaped children


def cpu_snapshot() -> CpuSnapshot:
    """Each process's own time plus its reaped children's (wrk, recycled workers, closed database sessions)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    processes = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        processes[int(entry.name)] = (int(rest[1]), name, sum(int(value) for value in rest[11:15]))
    ours = {os.getpid()}
    changed = True  # the bench's descendants: repeat until no process is added
    while changed:
        changed = False
        for pid, (parent, _, _) in processes.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                changed = True
    accounted = sum(jiffies for pid, (_, name, jiffies) in processes.items() if pid in ours or name in SERVICES)
    # Interrupt time is left out: it is mostly the loopback traffic of the run itself, which no process is charged.
    return CpuSnapshot(sum(fields), user + nice + system + steal, accounted)


def others_share(before: CpuSnapshot, after: CpuSnapshot) -> float:
    others = (after.busy - before.busy) - (after.accounted - before.accounted)
    return max(0, others) / max(1, after.total - before.total)


def wait_for_quiet(max_share: float, timeout: float, log) -> float:
    """Wait (up to `timeout` s) until other processes use at most `max_share` of the CPU; their last share."""
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        before = cpu_snapshot()
        time.sleep(1)
        share = others_share(before, cpu_snapshot())
        if share <= max_share or time.monotonic() >= deadline:
            return share
        if not announced:
            log(f"   waiting: other processes use {share:.0%} of the CPU")
            announced = True
