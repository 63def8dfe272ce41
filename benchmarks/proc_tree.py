"""CPU seconds and memory of a process and all its descendants, read from /proc (Linux, stdlib only).

Used by `concurrency_side.py` to charge each side of the sweep for every process it started: for kern
the driver plus the Ray processes under it (GCS, raylet, workers, ...), for Agno its one process.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Proc:
    """One process's counters from /proc/<pid>/stat (seconds, bytes)."""

    pid: int
    ppid: int
    start: int
    """Start time in ticks since boot: tells a reused pid from the original."""
    cpu: float
    """utime + stime of the process itself."""
    reaped: float
    """cutime + cstime: CPU of its children that exited and were waited for."""
    rss: int
    nice: int


def _read(pid: int) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields[0] is field 3 (state) of proc(5): utime is field 14, rss field 24.
    return Proc(
        pid=pid,
        ppid=int(fields[1]),
        start=int(fields[19]),
        cpu=(int(fields[11]) + int(fields[12])) / TICK,
        reaped=(int(fields[13]) + int(fields[14])) / TICK,
        rss=int(fields[21]) * PAGE,
        nice=int(fields[16]),
    )


def tree(root: int) -> dict[int, Proc]:
    """`root` and all its live descendants."""
    procs = [p for entry in os.listdir("/proc") if entry.isdigit() and (p := _read(int(entry)))]
    children: dict[int, list[Proc]] = {}
    for proc in procs:
        children.setdefault(proc.ppid, []).append(proc)
    out: dict[int, Proc] = {}
    top = next((p for p in procs if p.pid == root), None)
    stack = [top] if top else []
    while stack:
        proc = stack.pop()
        out[proc.pid] = proc
        stack.extend(children.get(proc.pid, []))
    return out


def label(pid: int, root: int) -> str:
    """A short name for grouping: "driver", "ray::AgentActor", "raylet", "log_monitor.py", ..."""
    if pid == root:
        return "driver"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return "?"
    if not argv:
        return "?"
    if argv[0].startswith("ray::"):
        return argv[0].split()[0].split(".")[0].split("(")[0]
    name = os.path.basename(argv[0])
    if name.startswith("python"):
        rest = argv[1:]
        if "-m" in rest and rest.index("-m") + 1 < len(rest):
            return rest[rest.index("-m") + 1]
        script = next((a for a in rest if a.endswith(".py")), None)
        return os.path.basename(script) if script else name
    return name


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    busy = user + nice + system + irq + softirq + steal
    return busy / TICK, (busy + idle + iowait) / TICK


class TreeMeter:
    """CPU used by a process tree between `start()` and `stop()`, and its peak summed RSS.

    A process that exits during the interval is counted through its parent's reaped-children time,
    minus what it had used before `start()`.
    """

    def __init__(self, root: int, interval: float = 1.0) -> None:
        self.root = root
        self.interval = interval
        self.peak_rss = 0
        self.busiest: tuple[str, float] = ("-", 0.0)
        """The one process that used the most CPU between `start()` and `stop()`: (label, CPU s)."""
        self._before: dict[int, Proc] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._before = tree(self.root)
        self.peak_rss = sum(p.rss for p in self._before.values())
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_rss = max(self.peak_rss, sum(p.rss for p in tree(self.root).values()))

    def stop(self) -> tuple[float, dict[str, float]]:
        """Total CPU seconds since `start()`, and the same split by process label."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        after = tree(self.root)
        self.busiest = ("-", 0.0)
        self.peak_rss = max(self.peak_rss, sum(p.rss for p in after.values()))
        groups: dict[str, float] = {}
        for pid, proc in after.items():
            old = self._before.get(pid)
            same = old is not None and old.start == proc.start
            used = proc.cpu - (old.cpu if same and old else 0.0)
            reaped = proc.reaped - (old.reaped if same and old else 0.0)
            # Ray runs its workers (the actors) at nice 15: they yield the CPU to any nice-0 process.
            key = label(pid, self.root) + (f" (nice {proc.nice})" if proc.nice else "")
            groups[key] = groups.get(key, 0.0) + used
            if used > self.busiest[1]:
                self.busiest = (f"{key} [{pid}]", used)
            if reaped:
                groups["exited children"] = groups.get("exited children", 0.0) + reaped
        gone = [p for pid, p in self._before.items() if pid not in after or after[pid].start != p.start]
        if gone:
            groups["exited children"] = groups.get("exited children", 0.0) - sum(p.cpu for p in gone)
        return sum(groups.values()), dict(sorted(groups.items(), key=lambda kv: -kv[1]))
