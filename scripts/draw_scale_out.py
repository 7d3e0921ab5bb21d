#!/usr/bin/env python3
"""Draws docs/images/scale-out.png: clients, a load balancer, N Quiver replicas (one of
them the leader), and the PostgreSQL registry they share, with the artifact store.

    /usr/bin/python3 scripts/draw_scale_out.py [OUTPUT.png]

Needs python3-matplotlib (scripts/install-deps.sh installs it)."""
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images" / "scale-out.png"

INK = "#1f2933"
MUTED = "#52606d"
BLUE = "#2f6fb3"      # requests
GREEN = "#2f8a4c"     # registry reads, heartbeats
ORANGE = "#c36a12"    # notifications
RED = "#b3261e"       # the leader's fenced writes
FILL = {"client": "#eef2f7", "lb": "#e6eefb", "replica": "#f4f7f2", "leader": "#fff4e0", "db": "#eaf5ee",
        "store": "#f3eefa"}


def box(ax, x, y, w, h, title, lines, fill, edge=INK, lw=1.4):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                fc=fill, ec=edge, lw=lw))
    ax.text(x + w / 2, y + h - 0.22, title, ha="center", va="top", fontsize=11.5, fontweight="bold", color=INK)
    for i, line in enumerate(lines):
        ax.text(x + w / 2, y + h - 0.62 - i * 0.3, line, ha="center", va="top", fontsize=9, color=MUTED)


def arrow(ax, start, end, color, label=None, label_at=0.5, dy=0.0, dx=0.0, style="-|>", ls="-", rad=0.0,
          both=False, ha="center"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="<|-|>" if both else style, mutation_scale=13,
                                 color=color, lw=1.6, ls=ls, connectionstyle=f"arc3,rad={rad}"))
    if label:
        x = start[0] + (end[0] - start[0]) * label_at + dx
        y = start[1] + (end[1] - start[1]) * label_at + dy
        ax.text(x, y, label, ha=ha, va="center", fontsize=8.5, color=color,
                bbox=dict(fc="white", ec="none", pad=1.2, alpha=0.9))


def main():
    fig, ax = plt.subplots(figsize=(14, 7.6), dpi=110)
    ax.set_xlim(0, 14)
    ax.set_ylim(0, 7.6)
    ax.axis("off")
    ax.text(7, 7.35, "Quiver scale-out: identical replicas sharing one PostgreSQL registry",
            ha="center", fontsize=14, fontweight="bold", color=INK)

    # Clients and the load balancer.
    box(ax, 0.2, 3.0, 1.9, 1.6, "Clients", ["HTTP :8000", "gRPC :8001", "quiver CLI"], FILL["client"])
    box(ax, 2.7, 2.75, 2.2, 2.1, "Load balancer", ["HAProxy, or a", "Kubernetes Service", "health check:",
                                                   "/v2/health/ready"], FILL["lb"])
    arrow(ax, (2.1, 3.8), (2.7, 3.8), BLUE)

    # Replicas.
    replicas = [
        (5.6, 5.05, "replica A  (leader, epoch 7)",
         ["serves from its route snapshot", "runs rollouts, bandits, objective",
          "holds the lease; writes carry its epoch"],
         FILL["leader"], RED, 2.2),
        (5.6, 2.95, "replica B",
         ["serves from its route snapshot", "follows: no control-loop writes"], FILL["replica"], INK, 1.4),
        (5.6, 0.85, "replica C",
         ["serves from its route snapshot", "follows: no control-loop writes"], FILL["replica"], INK, 1.4),
    ]
    for x, y, title, lines, fill, edge, lw in replicas:
        box(ax, x, y, 3.3, 1.75, title, lines, fill, edge, lw)
        arrow(ax, (4.9, 3.8), (x, y + 0.9), BLUE, rad=0.0)
    ax.text(5.25, 6.95, "requests", color=BLUE, fontsize=9, ha="center")

    # PostgreSQL.
    box(ax, 10.3, 2.25, 3.5, 4.55, "PostgreSQL", [
        "registry: models, versions,", "deployments, revisions, audit",
        "", "leader lease row:", "holder, epoch, expiry", "(timed by the database clock)",
        "", "replica heartbeats", "(GET /v1/cluster lists them)",
        "", "NOTIFY on every registry change"], FILL["db"], GREEN, 1.8)

    # Artifact store.
    box(ax, 10.4, 0.2, 3.4, 1.55, "Artifact store", ["in PostgreSQL, or an", "S3-compatible bucket"],
        FILL["store"])

    # Replica <-> database traffic, aimed at the database box's left edge.
    def at_db(y):
        return min(max(y, 2.55), 6.45)

    for _, y, _, _, _, _, _ in replicas:
        mid = y + 0.875
        arrow(ax, (8.9, mid + 0.25), (10.3, at_db(mid + 0.25)), GREEN)
        arrow(ax, (10.3, at_db(mid - 0.2) - (0.12 if mid < 2.5 else 0)), (8.9, mid - 0.2), ORANGE, ls="--")
    arrow(ax, (8.9, 6.45), (10.3, 6.6), RED)
    ax.text(9.6, 7.0, "lease renewal +\nfenced writes", color=RED, fontsize=8.5, ha="center", va="center")
    ax.text(9.6, 4.82, "heartbeat, reads", color=GREEN, fontsize=8.5, ha="center", va="center")
    ax.text(9.6, 2.78, "NOTIFY + polling", color=ORANGE, fontsize=8.5, ha="center", va="center")
    # Artifacts: fetched by sha256 into each replica's local blob cache.
    arrow(ax, (10.3, 0.95), (8.9, 1.2), MUTED, ls=":")
    ax.text(9.55, 0.5, "artifacts by sha256\nto the local cache", color=MUTED, fontsize=8.5, ha="center",
            va="center")

    # Legend.
    legend = [(BLUE, "-", "inference and management requests"), (GREEN, "-", "registry reads, heartbeats"),
              (ORANGE, "--", "LISTEN / NOTIFY of changes (missed: polling)"),
              (RED, "-", "leader only: lease and epoch-fenced writes"), (MUTED, ":", "artifact copies")]
    for i, (color, ls, text) in enumerate(legend):
        y = 2.35 - i * 0.38
        ax.plot([0.25, 0.75], [y, y], color=color, ls=ls, lw=2)
        ax.text(0.85, y, text, fontsize=9, va="center", color=INK)
    ax.text(0.25, 0.2, "While PostgreSQL is away, replicas keep serving their last snapshot;\n"
            "writes answer 503 with Retry-After and the leader steps down.", fontsize=9, color=MUTED, va="bottom")

    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, bbox_inches="tight", facecolor="white")
    print(OUT)


if __name__ == "__main__":
    main()
