"""Where our stack spends its time: py-spy on the server and the SDK worker under c=16 load.

``durable bench --profile DIR`` starts the reference stack only, warms it up, then records both
processes with ``py-spy record --format raw --threads --nonblocking`` (sampling without pausing
the target, so the profile barely perturbs what it measures; idle threads are excluded by
py-spy, so samples approximate CPU time) while the load generator runs SignupWorkflows at
concurrency 16. The raw collapsed stacks are written to DIR and summarized here into:

- ``by_layer``: each sample is charged to the first frame, walking from the leaf toward the
  root, whose file matches a layer (store, JSON, HTTP, asyncio, SDK core, ...), i.e. "self time
  per library";
- ``top_inclusive``: our own functions (server, SDK, protocol) by the share of samples that
  have them anywhere on the stack;
- ``top_self``: the hottest leaf frames, each with its source line (so "COMMIT" or a
  ``queue.get()`` is visible at a glance);
- ``by_thread``: samples per thread as a share of the recording's wall time (busy fraction).

py-spy's idle filter does not recognise every blocking call: a leaf that is a blocking wait
(``epoll`` select, a thread pool's ``work_queue.get``, the store writer's ``queue.get``) is
charged to the layer "waiting (idle, sampled)" so it does not inflate a real layer. The SQLite
``COMMIT`` line (write + fsync, mostly waiting for the disk) stays in the store layer.
"""

from __future__ import annotations

import asyncio
import linecache
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks import stats
from benchmarks.load import make_client, run_batch, signup_request
from benchmarks.procstat import descendants, sample_tree
from benchmarks.scenarios import Keys
from benchmarks.stacks import started

__all__ = ["LAYERS", "layer_of", "parse_raw", "profile_reference", "summarize_raw"]

# (layer, regex on a frame's "function (file:line)" text); the first match from the leaf wins.
LAYERS: list[tuple[str, str]] = [
    ("store (SQLite, commit/fsync)", r"reference_server/store/|sqlite3/"),
    ("JSON (orjson/json)", r"/json/|orjson"),
    ("pydantic / serde", r"pydantic|reference_sdk/serde\.py"),
    ("protocol messages / NDJSON", r"durable/protocol/"),
    ("SDK core (journal/replay)", r"reference_sdk/_core/"),
    ("SDK shell (session, context, ASGI app)", r"reference_sdk/"),
    ("server core (state machine)", r"reference_server/core/"),
    ("server HTTP apps (ingress/admin)", r"reference_server/http/"),
    ("server runtime (invoker, scheduling)", r"reference_server/"),
    ("HTTP server (uvicorn/httptools, hypercorn/h11/h2)",
     r"uvicorn/|httptools/|hypercorn/|/h11/|/h2/|/hpack/|priority/"),
    ("HTTP client (httpx/httpcore)", r"httpx/|httpcore/|anyio/|sniffio/|certifi/|idna/"),
    ("threads (to_thread, futures, locks)", r"threading\.py|concurrent/|queue\.py"),
    ("asyncio event loop", r"asyncio/|selectors\.py"),
    ("logging", r"logging/"),
    ("user code (bench steps)", r"benchmarks/services/"),
]

_WAIT_FUNCS = re.compile(r"^(EpollSelector\.select|_worker|Condition\.wait|Event\.wait|Thread\.join) ")
_WAIT_LINES = re.compile(r"queue\.get\(|_queue\.get\(|\.select\(|\.wait\(")
WAIT = "waiting (idle, sampled)"

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def parse_raw(lines: Iterable[str]) -> list[tuple[list[str], int]]:
    """py-spy raw (collapsed) lines ``root;...;leaf count`` -> (frames root..leaf, count)."""
    out: list[tuple[list[str], int]] = []
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        out.append((stack.split(";"), int(count)))
    return out


def source_line(frame: str) -> str:
    """The source text of a ``func (file:line)`` frame, when the file is found on sys.path."""
    m = _FRAME.match(frame)
    if not m or not m.group("line"):
        return ""
    file, line = m.group("file"), int(m.group("line"))
    for root in ["", *sys.path]:
        path = str(Path(root) / file) if root else file
        text = linecache.getline(path, line)
        if text:
            return text.strip()
    return ""


def is_wait(leaf: str) -> bool:
    return bool(_WAIT_FUNCS.match(leaf)) or bool(_WAIT_LINES.search(source_line(leaf)))


def layer_of(frames: list[str]) -> str:
    if frames and is_wait(frames[-1]):
        return WAIT
    for frame in reversed(frames):
        for name, pattern in LAYERS:
            if re.search(pattern, frame):
                return name
    return "other (stdlib, interpreter)"


def _ours(frame: str) -> bool:
    return re.search(r"reference_server/|reference_sdk/|durable/protocol/", frame) is not None


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    file = m.group("file")
    for root in ("reference_server/", "reference_sdk/", "durable/", "site-packages/", "python3.11/"):
        if root in file:
            file = (root if root in ("reference_server/", "reference_sdk/", "durable/") else "") + \
                file.split(root, 1)[1]
            break
    return f"{m.group('func')} ({file})"


def _thread_name(frames: list[str]) -> str:
    for f in frames:
        if f.startswith("thread "):
            name = f.split(":", 1)[1].strip() if ":" in f else f
            return re.sub(r"_\d+$", "_*", name)  # pool threads: one row
    return "?"


def summarize_raw(samples: list[tuple[list[str], int]], top: int = 15,
                  wall_samples: float | None = None) -> dict[str, Any]:
    """Summaries of py-spy raw stacks; ``wall_samples`` = rate * seconds, for busy fractions."""
    total = sum(c for _, c in samples)
    layers: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for raw_frames, count in samples:
        thread = _thread_name(raw_frames)
        # drop the "process"/"thread" pseudo-frames py-spy adds
        frames = [f for f in raw_frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        layer = layer_of(frames)
        layers[layer] += count
        if layer != WAIT:
            threads[thread] += count
        leaf = frames[-1]
        code = source_line(leaf)
        leaves[_short(leaf) + (f"  `{code[:60]}`" if code else "")] += count
        for f in {_short(f) for f in frames if _ours(f)}:
            inclusive[f] += count

    def pct(c: int) -> float:
        return round(100.0 * c / total, 1) if total else 0.0

    return {
        "samples": total,
        "by_layer": {k: pct(v) for k, v in layers.most_common()},
        "top_inclusive": {k: pct(v) for k, v in inclusive.most_common(top)},
        "top_self": {k: pct(v) for k, v in leaves.most_common(top)},
        "by_thread_busy_pct_of_wall": {
            k: round(100.0 * v / wall_samples, 1) for k, v in threads.most_common()
        } if wall_samples else {},
    }


def _worker_pid(root: int) -> int:
    """The hypercorn worker: the process of the tree with the largest RSS."""
    best, best_rss = root, -1
    for pid in descendants(root):
        rss = sample_tree(pid).rss_kb
        if rss > best_rss and pid != root:
            best, best_rss = pid, rss
    return best


async def profile_reference(outdir: Path, seconds: float, workdir: Path | None,
                            log: Callable[[str], None] = print, concurrency: int = 16,
                            rate: int = 200) -> dict[str, Any]:
    """Profile the reference stack at ``concurrency``; write raw stacks and return the summary."""
    spy = shutil.which("py-spy")
    if spy is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    outdir.mkdir(parents=True, exist_ok=True)
    wd = Path(tempfile.mkdtemp(prefix="durable-profile-")) if workdir is None else workdir
    with started("reference", wd / "reference") as st:
        async with make_client(st.ingress) as client:
            keys = Keys(f"prof{int(time.time())}")
            await run_batch(client, keys.take(64), signup_request, concurrency, 30.0)
            targets = {"server": st.server_pid, "sdk": _worker_pid(st.sdk_pid)}
            procs = {
                name: subprocess.Popen(
                    [spy, "record", "--pid", str(pid), "--rate", str(rate), "--duration",
                     str(int(seconds)), "--format", "raw", "--threads", "--nonblocking",
                     "--output", str(outdir / f"{name}.txt")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for name, pid in targets.items()
            }
            await asyncio.sleep(0.5)
            s0, k0 = sample_tree(st.server_pid), sample_tree(st.sdk_pid)
            batch = await run_batch(client, keys.take(1_000_000), signup_request, concurrency,
                                    seconds - 1.0)
            s1, k1 = sample_tree(st.server_pid), sample_tree(st.sdk_pid)
            for p in procs.values():
                await asyncio.to_thread(p.wait, seconds + 30)
    n = len(batch.latencies_s)
    out: dict[str, Any] = {
        "concurrency": concurrency,
        "load": stats.summarize(batch.latencies_s, batch.wall_s),
        "errors": batch.errors,
        "server_cpu_ms_per_wf": (s1.cpu_s - s0.cpu_s) / n * 1000.0 if n else None,
        "sdk_cpu_ms_per_wf": (k1.cpu_s - k0.cpu_s) / n * 1000.0 if n else None,
        "cpu_share_of_wall": {"server": (s1.cpu_s - s0.cpu_s) / batch.wall_s if batch.wall_s else None,
                              "sdk": (k1.cpu_s - k0.cpu_s) / batch.wall_s if batch.wall_s else None},
    }
    for name in targets:
        path = outdir / f"{name}.txt"
        if path.exists():
            out[name] = summarize_raw(parse_raw(path.read_text().splitlines()),
                                      wall_samples=rate * int(seconds))
    return out
