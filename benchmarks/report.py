"""Plain-text tables of a result document (what ``durable bench`` prints, and docs/benchmarks.md).

Markdown pipe tables, so the same text pastes into the docs unchanged.
"""

from __future__ import annotations

from typing import Any

__all__ = ["fmt", "markdown"]


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(doc: dict[str, Any]) -> str:
    stacks: dict[str, Any] = doc.get("stacks", {})
    lines = ["| stack | c | workflows/s | p50 ms | p99 ms | server CPU ms/wf | SDK CPU ms/wf | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for kind, st in stacks.items():
        for c, t in st.get("throughput", {}).items():
            lines.append(f"| {kind} | {c[1:]} | {fmt(t['throughput'])} | {fmt(t['p50_ms'])} | "
                         f"{fmt(t['p99_ms'])} | {fmt(t['server_cpu_ms_per_wf'], 2)} | "
                         f"{fmt(t['sdk_cpu_ms_per_wf'], 2)} | {t['errors']} |")
    lines += ["", "| stack | server peak RSS MB | SDK peak RSS MB | per-step ms @10 | @100 | @1000 "
              "| 1000/10 | marginal ms/step | resume 10 MB journal ms | RSS after N wf (MB) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for kind, st in stacks.items():
        sc = st.get("step_scaling", {})
        mem = st.get("memory", {})
        mem_txt = "-"
        if mem:
            extra = mem.get("rss_mb_at_100000")
            label = "extrapolated" if mem.get("rss_mb_at_100000_is_extrapolated") else "measured"
            mem_txt = (f"{fmt(mem['rss_mb_at_end'])} at {mem['workflows_measured']}; "
                       f"{fmt(extra)} at 100k ({label})")
        lines.append(
            f"| {kind} | {fmt(st.get('server_peak_rss_mb'))} | {fmt(st.get('sdk_peak_rss_mb'))} | "
            f"{fmt(sc.get('10', {}).get('per_step_ms'), 2)} | {fmt(sc.get('100', {}).get('per_step_ms'), 2)} | "
            f"{fmt(sc.get('1000', {}).get('per_step_ms'), 2)} | {fmt(sc.get('per_step_ratio_1000_vs_10'), 2)} | "
            f"{fmt(sc.get('marginal_per_step_ms_10_to_1000'), 2)} | "
            f"{fmt(st.get('resume', {}).get('resume_ms'))} | {mem_txt} |")
    r = doc.get("ratios", {})
    if r:
        lines += ["", "| ratio ours/Restate | value |", "|---|---|"]
        lines += [f"| {k} | {fmt(v, 2)} |" for k, v in r.items()]
    return "\n".join(lines)
