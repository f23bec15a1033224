# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Draw the benchmark's chart from its results.json: python plot.py RESULTS.json CHART.png"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after the backend is chosen

PHASES = (("first", "first run (request + install)"), ("rerun", "re-run, nothing to change"),
          ("verify", "verify only"))
COLOURS = {"wise_mtls": "#1b7f3b", "community_crypto": "#9a4c00", "ping": "#777777"}
LABELS = {"wise_mtls": "wise.mtls", "community_crypto": "community.crypto + builtins",
          "ping": "ping floor (1 task)"}


def main(results_path, chart_path):
    with open(results_path, encoding="utf-8") as handle:
        results = json.load(handle)
    summary = results["results"]
    sizes = sorted(summary, key=int)
    hosts = [int(size) for size in sizes]
    figure, axes = plt.subplots(1, len(PHASES), figsize=(15, 5.2), sharey=True)
    for axis, (phase, title) in zip(axes, PHASES):
        for variant in ("community_crypto", "wise_mtls", "ping"):
            if variant == "ping":
                values = [summary[size]["ping"]["per_host_s"] for size in sizes]
            else:
                values = [summary[size][variant][phase]["per_host_s"] for size in sizes]
            axis.plot(hosts, values, marker="o", color=COLOURS[variant], label=LABELS[variant],
                      linestyle="--" if variant == "ping" else "-")
            for x, y in zip(hosts, values):
                axis.annotate("%.2f" % y, (x, y), textcoords="offset points", xytext=(0, 6), ha="center",
                              fontsize=8, color=COLOURS[variant])
        lines = ["N=%s: %.2fx c.crypto, %.1fx ping" % (
            size, summary[size]["ratios"][phase]["wise_mtls_vs_community_crypto"],
            summary[size]["ratios"][phase]["wise_mtls_vs_ping"]) for size in sizes]
        axis.text(0.02, 0.98, "wise.mtls:\n" + "\n".join(lines), transform=axis.transAxes, va="top", ha="left",
                  fontsize=8, color=COLOURS["wise_mtls"],
                  bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "edgecolor": "#cccccc"})
        axis.set_title(title)
        axis.set_xlabel("hosts in the inventory")
        axis.set_xticks(hosts)
        axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)
    axes[0].set_ylabel("seconds per host (wall clock / hosts, median)")
    axes[-1].legend(loc="upper right", fontsize=8)
    settings = results["settings"]
    machine = results["machine"]
    rounds = settings["rounds"]
    rounds_text = ", ".join("N=%s: %d" % (size, rounds[size]) for size in sizes) if isinstance(rounds, dict) \
        else str(rounds)
    figure.suptitle("wise.mtls lifecycle vs the community.crypto way - %d cores, Python %s, ansible-core %s, "
                    "forks %d, %s; median of rounds (%s)%s" % (
                        machine["cores"], machine["python_controller"], machine["ansible_core"],
                        settings["forks"], "pipelining" if settings["pipelining"] else "no pipelining",
                        rounds_text, " - SMOKE RUN, not a measurement" if results.get("smoke") else ""), fontsize=10)
    figure.tight_layout()
    figure.savefig(chart_path, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
