"""The figure of a result document: throughput, latency, per-step cost, server RSS.

matplotlib is not a dependency of the project: when it is importable we draw four panels with
it (.svg or .png by the file suffix); otherwise we write a small SVG by hand (grouped bars of
throughput and p50/p99 per concurrency), so ``--plot`` works on a bare install.

``python -m benchmarks.plot OUT A.json B.json ...`` draws several documents as one: later files
only fill in what the first lacks (e.g. a separate 100,000-workflow memory run).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

__all__ = ["merge", "plot", "svg_bars"]

COLORS = {"reference": "#1f77b4", "restate": "#ff7f0e"}


def _series(doc: dict[str, Any], field: str) -> dict[str, dict[str, float]]:
    """{stack: {"c16": value}} for one throughput field."""
    out: dict[str, dict[str, float]] = {}
    for kind, st in doc.get("stacks", {}).items():
        for c, t in st.get("throughput", {}).items():
            if t.get(field) is not None:
                out.setdefault(kind, {})[c] = float(t[field])
    return out


def plot(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if importlib.util.find_spec("matplotlib") is None or path.suffix not in (".svg", ".png"):
        path.with_suffix(".svg").write_text(svg_bars(doc))
        return
    _matplotlib(doc, path)


def _matplotlib(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stacks = list(doc.get("stacks", {}))
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    width = 0.8 / max(1, len(stacks))
    tput = _series(doc, "throughput")
    conc = sorted({c for s in tput.values() for c in s}, key=lambda c: int(c[1:]))
    ax = axes[0][0]
    for i, kind in enumerate(stacks):
        xs = [j + i * width for j in range(len(conc))]
        ax.bar(xs, [tput.get(kind, {}).get(c, 0.0) for c in conc], width, label=kind,
               color=COLORS.get(kind))
    ax.set_xticks([j + width * (len(stacks) - 1) / 2 for j in range(len(conc))], [c[1:] for c in conc])
    ax.set_xlabel("concurrency")
    ax.set_ylabel("workflows/s")
    ax.set_title("SignupWorkflow throughput (higher is better)")
    ax.legend()

    ax = axes[0][1]
    for field, style in (("p50_ms", "-o"), ("p99_ms", "--s")):
        for kind, vals in _series(doc, field).items():
            cs = [c for c in conc if c in vals]
            ax.plot([int(c[1:]) for c in cs], [vals[c] for c in cs], style, color=COLORS.get(kind),
                    label=f"{kind} {field[:3]}")
    ax.set_xscale("log")
    ax.set_xticks([int(c[1:]) for c in conc], [c[1:] for c in conc])
    ax.set_yscale("log")
    ax.set_xlabel("concurrency")
    ax.set_ylabel("latency ms (log)")
    ax.set_title("latency p50 / p99 (lower is better)")
    ax.legend(fontsize=8)

    ax = axes[1][0]
    for kind, st in doc.get("stacks", {}).items():
        sc = st.get("step_scaling", {})
        pts = sorted((int(n), v["per_step_ms"]) for n, v in sc.items()
                     if isinstance(v, dict) and v.get("per_step_ms") is not None)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", color=COLORS.get(kind), label=kind)
    ax.set_xscale("log")
    ax.set_xlabel("steps per workflow")
    ax.set_ylabel("ms per step")
    ax.set_title("step scaling: latency / steps")
    ax.legend()

    ax = axes[1][1]
    for kind, st in doc.get("stacks", {}).items():
        pts = st.get("memory", {}).get("points", [])
        if pts:
            ax.plot([p["workflows"] for p in pts], [p["rss_mb"] for p in pts], "-o",
                    color=COLORS.get(kind), label=kind)
    ax.set_xlabel("workflows invoked")
    ax.set_ylabel("server RSS MB")
    ax.set_title("server memory")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()

    meta = doc.get("meta", {})
    fig.suptitle(f"durable bench {meta.get('mode', '')} {meta.get('date', '')} "
                 f"({meta.get('machine', {}).get('cpus', '?')} cores, loadavg start "
                 f"{meta.get('loadavg_start', '?')})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def svg_bars(doc: dict[str, Any]) -> str:
    """A dependency-free SVG: throughput and p50/p99 per concurrency, bars per stack."""
    panels = [("throughput", "workflows/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms")]
    w, h, pad = 300, 220, 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * len(panels)}" height="{h + 40}" '
             'font-family="sans-serif" font-size="11">']
    for p, (field, title) in enumerate(panels):
        series = _series(doc, field)
        conc = sorted({c for s in series.values() for c in s}, key=lambda c: int(c[1:]))
        top = max([v for s in series.values() for v in s.values()] or [1.0])
        x0 = p * w + pad
        parts.append(f'<text x="{x0}" y="15">{escape(title)}</text>')
        kinds = list(series)
        slot = (w - 2 * pad) / max(1, len(conc))
        bar = slot * 0.8 / max(1, len(kinds))
        for j, c in enumerate(conc):
            for i, kind in enumerate(kinds):
                v = series[kind].get(c, 0.0)
                bh = (h - 40) * v / top
                x = x0 + j * slot + i * bar
                parts.append(f'<rect x="{x:.1f}" y="{h - bh:.1f}" width="{bar:.1f}" height="{bh:.1f}" '
                             f'fill="{COLORS.get(kind, "#888")}"><title>{escape(kind)} {c} {v:.1f}'
                             '</title></rect>')
            parts.append(f'<text x="{x0 + j * slot:.1f}" y="{h + 14}">c={c[1:]}</text>')
        for i, kind in enumerate(kinds):
            parts.append(f'<text x="{x0}" y="{h + 30 + 0 * i}" dx="{i * 80}" '
                         f'fill="{COLORS.get(kind, "#888")}">{escape(kind)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def merge(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The first document, with stack sections it lacks taken from the later ones."""
    if not docs:
        return {}
    base: dict[str, Any] = json.loads(json.dumps(docs[0]))
    for doc in docs[1:]:
        for kind, st in doc.get("stacks", {}).items():
            target = base.setdefault("stacks", {}).setdefault(kind, {})
            for key, value in st.items():
                target.setdefault(key, value)
    return base


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit("usage: python -m benchmarks.plot OUT.png|OUT.svg RESULT.json [MORE.json ...]")
    plot(merge([json.loads(Path(a).read_text()) for a in argv[1:]]), Path(argv[0]))


if __name__ == "__main__":
    main(sys.argv[1:])
