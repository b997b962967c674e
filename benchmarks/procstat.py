"""CPU time and memory of a process tree, read from /proc (Linux only).

Why the tree: hypercorn with ``--workers 1`` is a supervisor plus one spawned worker (the
worker does the work), and a server may start helpers. CPU is the sum of ``utime + stime``
(fields 14 and 15 of /proc/<pid>/stat, all threads included) over the live tree; memory is
``VmRSS`` / ``VmHWM`` (peak resident set) from /proc/<pid>/status, reported for the largest
process of the tree (summing would count the idle supervisor's shared pages twice). Context
switches (voluntary + involuntary, summed over every thread in /proc/<pid>/task/*/status) count
the hand-offs between threads and processes: on a loaded 2-core machine each one can mean
waiting for a core, so they explain latency that CPU time does not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "TreeSample",
    "context_switches",
    "descendants",
    "parse_stat_times",
    "parse_status_kb",
    "sample_tree",
]

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class TreeSample:
    """One reading of a process tree."""

    pids: tuple[int, ...]
    cpu_s: float
    rss_kb: int
    hwm_kb: int
    ctx_switches: int = 0


def parse_stat_times(stat_line: str) -> tuple[int, int, int]:
    """``(ppid, utime_ticks, stime_ticks)`` from a /proc/<pid>/stat line.

    The command name (field 2) is in parentheses and may contain spaces and ')', so split after
    the last ')'.
    """
    rest = stat_line[stat_line.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); field N is rest[N - 3].
    return int(rest[1]), int(rest[11]), int(rest[12])


def parse_status_kb(status_text: str, key: str) -> int:
    """The first number after ``key:`` (e.g. ``VmHWM`` in kB) in /proc/<pid>/status text; 0 when
    absent."""
    for line in status_text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def descendants(root: int) -> list[int]:
    """``root`` and every live descendant (from the ppid field of each /proc/<pid>/stat)."""
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        text = _read(entry / "stat")
        if text is None:
            continue
        try:
            ppid = parse_stat_times(text)[0]
        except (ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        if not (_PROC / str(pid)).exists():
            continue
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of every thread of ``pid`` (0 if it is gone)."""
    total = 0
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    for task in tasks:
        text = _read(task / "status")
        if text is not None:
            total += parse_status_kb(text, "voluntary_ctxt_switches")
            total += parse_status_kb(text, "nonvoluntary_ctxt_switches")
    return total


def sample_tree(root: int) -> TreeSample:
    """CPU seconds (sum) and RSS / peak RSS (largest process) of ``root``'s live tree."""
    pids = descendants(root)
    ticks = 0
    rss = 0
    hwm = 0
    switches = 0
    for pid in pids:
        stat = _read(_PROC / str(pid) / "stat")
        status = _read(_PROC / str(pid) / "status")
        if stat is None or status is None:
            continue
        _, utime, stime = parse_stat_times(stat)
        ticks += utime + stime
        rss = max(rss, parse_status_kb(status, "VmRSS"))
        hwm = max(hwm, parse_status_kb(status, "VmHWM"))
        switches += context_switches(pid)
    return TreeSample(tuple(pids), ticks / _TICKS, rss, hwm, switches)
