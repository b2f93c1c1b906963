"""Pareto fronts of a sweep (accuracy up, resource or latency down) and their plot.

Fronts are per target: each target reports its own resource (HLS memory bits, RTL LUT4 or memory bits, Loihi
cores) and latency, which do not compare across targets. A configuration is on the front when no other
configuration of the same target is at least as accurate and at most as costly, and strictly better in one
of the two. Only configurations whose bit-exact rung passed (status ``ok``) take part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: how far below the best accuracy the y axis reaches before worse points are drawn at its edge
VIEW_DEPTH = 0.2
AXES = (("resource", "resource_name", "pareto_resource"), ("latency_us", "latency_name", "pareto_latency"))


def front(rows: Sequence[Mapping[str, Any]], x: str) -> set[str]:
    """The ids of the rows on the (accuracy up, ``x`` down) front, per target."""
    on: set[str] = set()
    for target in {r["target"] for r in rows}:
        pts = [(float(r["accuracy"]), float(r[x]), r["id"]) for r in rows
               if r["target"] == target and r.get("status") == "ok" and r.get("accuracy") is not None
               and r.get(x) is not None]
        for acc, cost, ident in pts:
            if not any(a >= acc and c <= cost and (a > acc or c < cost) for a, c, _ in pts):
                on.add(ident)
    return on


def mark(rows: list[dict[str, Any]]) -> None:
    """Set ``pareto_resource`` / ``pareto_latency`` on every row (None where the row has no such value)."""
    for x, _, flag in AXES:
        ids = front(rows, x)
        for r in rows:
            r[flag] = (r["id"] in ids) if r.get(x) is not None and r.get("status") == "ok" else None


def plot(rows: Sequence[Mapping[str, Any]], path: Path, *, title: str, accuracy_name: str) -> bool:
    """Write the fronts as a PNG (one row of panels per target); False when no row has a cost to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = sorted({r["target"] for r in rows if any(r.get(x) is not None for x, _, _ in AXES)})
    if not targets:
        return False
    bits = sorted({r["weight_bits"] for r in rows if r.get("weight_bits") is not None})
    cmap = plt.get_cmap("viridis", max(len(bits), 2))
    colour = {b: cmap(i) for i, b in enumerate(bits)}
    fig, axes = plt.subplots(len(targets), 2, figsize=(12, 4.2 * len(targets)), squeeze=False)
    for row_axes, target in zip(axes, targets, strict=True):
        mine = [r for r in rows if r["target"] == target]
        for ax, (x, name, flag) in zip(row_axes, AXES, strict=True):
            _panel(ax, mine, x, name, flag, target, colour, accuracy_name)
    handles = [plt.Line2D([], [], marker="o", ls="", color=colour[b], label=f"{b}-bit weights") for b in bits]
    handles += [plt.Line2D([], [], marker="o", ls="-", color="black", mfc="none", label="Pareto front"),
                plt.Line2D([], [], marker="x", ls="", color="red", label="bit-exact rung FAILED")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), frameon=False, fontsize=9)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _short(r: Mapping[str, Any], knobs: set[str]) -> str:
    if r.get("quantiser") == "loihi":
        return "loihi"
    text = str(r["label"]).split(" ")[0]
    return text + "".join(f" {k[0]}{r[k]}" for k in ("unroll", "lanes") if k in knobs and r.get(k) is not None)


def _panel(ax: Any, rows: Sequence[Mapping[str, Any]], x: str, name: str, flag: str, target: str,
           colour: Mapping[int, Any], accuracy_name: str) -> None:
    def has(r: Mapping[str, Any]) -> bool:
        return r.get(x) is not None and r.get("accuracy") is not None

    ok = [r for r in rows if r.get("status") == "ok" and has(r)]
    bad = [r for r in rows if r.get("status") == "mismatch" and has(r)]
    others = sum(1 for r in rows if r.get("status") in ("refused", "error"))
    ax.set_title(f"{target}: {accuracy_name} vs {'resource' if x == 'resource' else 'latency'}"
                 + (f"  ({others} refused/failed, not shown)" if others else ""), fontsize=10)
    if not ok and not bad:
        ax.text(0.5, 0.5, f"no {x.replace('_us', '')} reported by {target}", ha="center", va="center",
                transform=ax.transAxes, color="grey")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    knobs = {k for k in ("unroll", "lanes") if len({r.get(k) for r in rows}) > 1}
    names = sorted({str(r[name]) for r in ok + bad if r.get(name)})
    ax.set_xlabel("; ".join(names) or x, fontsize=9)
    ax.set_ylabel(accuracy_name, fontsize=9)
    accs = [float(r["accuracy"]) for r in ok + bad]
    best = max(accs)
    # a few far worse points (2-bit weights) would squash the interesting range: clip them to the bottom edge
    floor = best - VIEW_DEPTH if min(accs) < best - VIEW_DEPTH else None

    def y(r: Mapping[str, Any]) -> float:
        return max(float(r["accuracy"]), floor) if floor is not None else float(r["accuracy"])

    for r in ok:
        below = floor is not None and r["accuracy"] < floor
        ax.scatter(r[x], y(r), s=50 if below else 36, marker="v" if below else "o",
                   color=colour.get(int(r["weight_bits"] or 0), "tab:blue"), zorder=3)
    for r in bad:
        ax.scatter(r[x], y(r), s=60, marker="x", color="red", zorder=4)
    on = sorted((r for r in ok if r.get(flag)), key=lambda r: (r[x], -r["accuracy"]))
    if on:
        ax.plot([r[x] for r in on], [y(r) for r in on], "-o", color="black", mfc="none", ms=10, lw=1,
                zorder=2, drawstyle="steps-post")
        groups: dict[tuple[float, float], list[str]] = {}
        for r in on:
            groups.setdefault((float(r[x]), y(r)), []).append(_short(r, knobs))
        for k, ((gx, gy), labels) in enumerate(groups.items()):
            text = ", ".join(labels[:3]) + (f" +{len(labels) - 3}" if len(labels) > 3 else "")
            if floor is not None and gy == floor:
                text += f" (acc. {min(r['accuracy'] for r in on if (float(r[x]), y(r)) == (gx, gy)):.2f})"
            ax.annotate(text, (gx, gy), textcoords="offset points", xytext=(7, -13 if k % 2 == 0 else 7),
                        fontsize=8)
    if floor is not None:
        ax.axhline(floor, color="grey", lw=0.8, ls=":")
        ax.text(0.99, 0.01, f"v: accuracy below {floor:.2f}, drawn at the edge", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=7, color="grey")
        ax.set_ylim(floor - 0.1 * VIEW_DEPTH, best + 0.1 * VIEW_DEPTH)
    xs = [float(r[x]) for r in ok + bad]
    if min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    elif max(xs) == min(xs):
        ax.set_xlim(0, 2 * max(xs) if max(xs) > 0 else 1)
    ax.grid(True, alpha=0.3)
