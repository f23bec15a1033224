# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Write the benchmark's results into docs/benchmark.md, between its results markers.

    python benchmarks/report.py [--smoke-ok] benchmarks/results/results.json docs/benchmark.md

Only the text between ``<!-- results: ... -->`` and ``<!-- /results -->`` changes, so the
analysis around it stays as written. benchmarks/run calls it after a full run; a smoke run's
results are refused unless --smoke-ok is given (the smoke run checks the report on a copy).
"""

from __future__ import annotations

import json
import re
import sys

PHASES = (("first", "first run"), ("rerun", "re-run, nothing to change"), ("verify", "verify only"))
START = "<!-- results: filled by benchmarks/report.py from benchmarks/results/results.json -->"
END = "<!-- /results -->"


def rounds_text(settings):
    rounds = settings["rounds"]
    parts = ["{0} round{1} at N = {2}".format(count, "" if count == 1 else "s", size)
             for size, count in rounds.items()]
    return ", ".join(parts)


def render(results):
    settings, machine = results["settings"], results["machine"]
    lines = [
        START,
        "Generated {0} by `benchmarks/run` ({1}; median of the rounds; wall-clock seconds of `ansible-playbook`, "
        "including its own start, which weighs most at small N; the first run is both playbooks). Forks {2}, "
        "{3}, {4} connection, no fact gathering, {5} keys. The run took {6:.0f} minutes.".format(
            results["generated"], rounds_text(settings), settings["forks"],
            "pipelining" if settings["pipelining"] else "no pipelining", settings["connection"],
            settings["key_type"], results["duration_s"] / 60),
        "",
        "| hosts | phase | wise.mtls | community.crypto | ping floor | wise.mtls per host | "
        "**wise.mtls / community.crypto** | **wise.mtls / ping** | community.crypto / ping | "
        "CPU s: wise.mtls / community.crypto |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, entry in results["results"].items():
        for phase, label in PHASES:
            ours, theirs = entry["wise_mtls"][phase], entry["community_crypto"][phase]
            ratios = entry["ratios"][phase]
            lines.append("| {0} | {1} | {2:.1f} s | {3:.1f} s | {4:.1f} s | {5:.2f} s | **{6:.2f}** | **{7:.2f}** | "
                         "{8:.2f} | {9:.2f} |".format(
                             size, label, ours["median_s"], theirs["median_s"], entry["ping"]["median_s"],
                             ours["per_host_s"], ratios["wise_mtls_vs_community_crypto"],
                             ratios["wise_mtls_vs_ping"], ratios["community_crypto_vs_ping"],
                             ratios["cpu_wise_mtls_vs_community_crypto"]))
    lines += [
        "",
        "The first run in its two halves (wall clock, median):",
        "",
        "| hosts | request: wise.mtls | request: community.crypto | install: wise.mtls | install: community.crypto |",
        "|---:|---:|---:|---:|---:|",
    ]
    for size, entry in results["results"].items():
        ours, theirs = entry["wise_mtls"], entry["community_crypto"]
        lines.append("| {0} | {1:.1f} s | {2:.1f} s | {3:.1f} s | {4:.1f} s |".format(
            size, ours["first_request"]["median_s"], theirs["first_request"]["median_s"],
            ours["first_install"]["median_s"], theirs["first_install"]["median_s"]))
    curl = results.get("verify_vs_curl")
    if curl:
        lines += [
            "",
            "The verify module's playground call against `curl` on the same emulator, host and files, "
            "{0} call{1} each, median ({2}):".format(curl["calls"], "" if curl["calls"] == 1 else "s", " ".join(curl["curl_version"].split()[:2])),
            "",
            "| | wise.mtls.verify | curl | ratio |",
            "|---|---:|---:|---:|",
            "| the playground request alone (the module's own `elapsed`; curl's `time_total`, token already fetched) "
            "| {0:.1f} ms | {1:.1f} ms | **{2:.2f}** |".format(
                curl["module_playground_request_s"] * 1000, curl["curl_playground_request_s"] * 1000,
                curl["ratio_playground_request"]),
            "| the whole job as a process: token, then playground (the module run directly; two curl runs) "
            "| {0:.2f} s | {1:.2f} s | {2:.1f} |".format(
                curl["module_process_s"], curl["curl_processes_s"], curl["ratio_process"]),
        ]
    load = machine.get("load_average_at_end") or []
    lines += [
        "",
        "![Seconds per host for each phase and inventory size](../benchmarks/results/results.png)",
        "",
        "The machine: {0} cores ({1}), {2} GiB memory, {3}; Python {4} (controller) and {5} (hosts), "
        "ansible-core {6}, community.crypto {7} (from the `ansible` package), cryptography {8}, requests {9}. "
        "Load average at the end of the run: {10}. Absolute times move with the machine's load from round to "
        "round; the ratios, taken within the same rounds, and the CPU seconds carry over better.".format(
            machine["cores"], machine["cpu"], machine["memory_gib"], machine["os"], machine["python_controller"],
            machine["python_hosts"], machine["ansible_core"], machine["community_crypto"], machine["cryptography"],
            machine["requests"], " / ".join(str(value) for value in load) or "not known"),
        END,
    ]
    return "\n".join(lines)


def main(argv):
    smoke_ok = "--smoke-ok" in argv
    argv = [arg for arg in argv if arg != "--smoke-ok"]
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        results = json.load(handle)
    if results.get("smoke") and not smoke_ok:
        print("report.py: {0} is a smoke run; the docs show full runs only.".format(argv[1]), file=sys.stderr)
        return 1
    with open(argv[2], encoding="utf-8") as handle:
        text = handle.read()
    # Up to the start marker's colon only, so that a block written under older marker wording is replaced too.
    pattern = re.compile(re.escape(START.split(":", maxsplit=1)[0]) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        print("report.py: {0} has no results markers ({1} ... {2}).".format(argv[2], START, END), file=sys.stderr)
        return 1
    text = pattern.sub(lambda _match: render(results), text, count=1)
    with open(argv[2], "w", encoding="utf-8") as handle:
        handle.write(text)
    print("report.py: results of {0} written into {1}".format(results["generated"], argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
