# Copyright (c) wise.mtls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The wise.mtls benchmark: the whole lifecycle, side by side with the community.crypto way.

Started by ``benchmarks/run`` (which prepares the Python environments and the collection
copy); see docs/benchmark.md. For each inventory size N and each round it starts a fresh
Wise emulator, then times, as wall-clock seconds of ``ansible-playbook``:

- ``wise_mtls``: ``wise.mtls.request`` + ``wise.mtls.install`` on empty hosts (first run; the
  emulator signs the collected CSRs in between, untimed, as Developer Hub would), then
  ``wise.mtls.install`` again (the re-run that changes nothing), then ``wise.mtls.verify``;
- ``community_crypto``: the same lifecycle written with community.crypto and ansible.builtin
  (``baseline/``), the same three phases;
- ``ping``: one ``ansible.builtin.ping`` per host (the floor).

Every run must succeed; first runs must change something, re-runs and verify runs nothing,
and both ways must leave the same files with the same modes. Timings are never asserted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ENVIRONMENT = "sandbox"
ORGANIZATION = "Example Payments Ltd"
COUNTRY = "EU"
# The variants in the order of the JSON output, with what each phase runs.
VARIANTS = {
    "wise_mtls": {
        "request": ["wise.mtls.request"],
        "install": ["wise.mtls.install"],
        "verify": ["wise.mtls.verify"],
    },
    "community_crypto": {
        "request": [os.path.join(HERE, "baseline", "request.yml")],
        "install": [os.path.join(HERE, "baseline", "install.yml")],
        "verify": [os.path.join(HERE, "baseline", "verify.yml")],
    },
}
PHASES = ("first", "rerun", "verify")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class BenchError(Exception):
    """A run that did not do what the lifecycle needs (not a timing)."""


def log(message):
    print("==> " + message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- inventory

def host_names(count):
    return ["bench-%03d" % number for number in range(1, count + 1)]


def client_id_of(host):
    # One API client per host: the emulator, like Wise, allows 10 active certificates per client.
    return "%s-client" % host


def client_secret_of(host):
    return "%s-secret" % host


def write_inventory(path, variant, hosts, work, python, base_url):
    """Write the YAML inventory (JSON is YAML) of one variant: literal values, no templating."""
    entries = {}
    for host in hosts:
        root = os.path.join(work, "hosts", host)
        handoff_dir = os.path.join(work, "handoff", ENVIRONMENT, host)
        common = {"ansible_connection": "local", "ansible_python_interpreter": python}
        if variant == "wise_mtls":
            common.update({
                "wise_mtls_client_root": root,
                "wise_mtls_client_client_id": client_id_of(host),
                "wise_mtls_client_client_secret": client_secret_of(host),
            })
        else:
            common.update({
                "mtls_root": root,
                "mtls_dir": os.path.join(root, ENVIRONMENT),
                "mtls_handoff_dir": handoff_dir,
                "mtls_client_id": client_id_of(host),
                "mtls_client_secret": client_secret_of(host),
            })
        entries[host] = common
    if variant == "wise_mtls":
        group_vars = {
            "wise_mtls_become": False,
            "wise_mtls_client_organization": ORGANIZATION,
            "wise_mtls_client_country": COUNTRY,
            "wise_mtls_client_environment": ENVIRONMENT,
            "wise_mtls_client_base_url": base_url,
            "wise_mtls_client_key_type": "ecc",
            # No root needed: files belong to the user running the benchmark.
            "wise_mtls_client_owner": "",
            "wise_mtls_client_handoff_dir": os.path.join(work, "handoff"),
        }
    else:
        group_vars = {
            "mtls_organization": ORGANIZATION,
            "mtls_country": COUNTRY,
            "mtls_base_url": base_url,
            "mtls_handoff_ca": os.path.join(work, "handoff", ENVIRONMENT, "wise-ca.pem"),
        }
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"all": {"hosts": entries, "vars": group_vars}}, handle, indent=1, sort_keys=True)


# --------------------------------------------------------------------------- emulator

class EmulatorRun:
    """A fresh emulator state with one API client per host, started with the CLI."""

    def __init__(self, python, emulator_path, state_dir, hosts):
        self.python = python
        self.env = dict(os.environ, PYTHONPATH=emulator_path)
        self.state_dir = state_dir
        sys.path.insert(0, emulator_path)
        from wise_emulator import Emulator  # in the collection copy, found only at run time

        self.api = Emulator(state_dir)
        self.api.init()
        for host in hosts:
            self.api.add_client(client_id_of(host), client_secret_of(host))
        self.info = json.loads(self.cli("start", "--port", "0"))

    def cli(self, *args):
        completed = subprocess.run([self.python, "-m", "wise_emulator", args[0], "--state-dir", self.state_dir]
                                   + list(args[1:]), env=self.env, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise BenchError("wise_emulator %s failed: %s" % (args[0], completed.stderr.strip()))
        return completed.stdout

    def stop(self):
        self.cli("stop")

    def sign(self, csr_path, name, client_id, out):
        """Developer Hub's "Generate certificate" for one CSR."""
        with open(csr_path, "rb") as handle:
            self.api.sign(handle.read(), name, client_id=client_id, out=out)


# --------------------------------------------------------------------------- runs

class Runner:
    def __init__(self, args, logs):
        self.args = args
        self.logs = logs
        self.env = dict(os.environ)
        self.env.update({
            "ANSIBLE_COLLECTIONS_PATH": args.collections,
            "ANSIBLE_FORKS": str(args.forks),
            "ANSIBLE_PIPELINING": "true" if args.pipelining else "false",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_HOST_KEY_CHECKING": "false",
        })
        if args.profile:
            self.env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
            self.env["PROFILE_TASKS_TASK_OUTPUT_LIMIT"] = "100"
        # A user's ansible.cfg must not change what is measured.
        self.env["ANSIBLE_CONFIG"] = os.path.join(HERE, "ansible.cfg")
        self.count = 0

    def playbook(self, playbook, inventory, label, cwd):
        """Run one playbook; return (wall-clock seconds, CPU seconds, recap by host).

        CPU seconds are those of the playbook's whole process tree (Ansible, its workers, the
        modules): a number that a busy machine disturbs less than wall-clock time.
        """
        self.count += 1
        log_path = os.path.join(self.logs, "%03d-%s.log" % (self.count, label))
        argv = [os.path.join(self.args.ansible_bin, "ansible-playbook"), "-i", inventory, playbook]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        with open(log_path, "w", encoding="utf-8") as output:
            completed = subprocess.run(argv, env=self.env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT,
                                       check=False)
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        with open(log_path, encoding="utf-8") as output:
            text = output.read()
        recap = {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)), "unreachable": int(m.group(4)),
                              "failed": int(m.group(5))} for m in RECAP.finditer(text)}
        if completed.returncode != 0:
            raise BenchError("%s failed (exit %d); see %s:\n%s" % (
                label, completed.returncode, log_path, text[-3000:]))
        return elapsed, cpu, recap


def check_recap(label, recap, hosts, changed):
    """``changed``: True (every host changed something), False (none did)."""
    missing = sorted(set(hosts) - set(recap))
    if missing:
        raise BenchError("%s: no recap for %s" % (label, ", ".join(missing)))
    for host in hosts:
        stats = recap[host]
        if stats["failed"] or stats["unreachable"]:
            raise BenchError("%s: %s failed" % (label, host))
        if changed and not stats["changed"]:
            raise BenchError("%s: %s changed nothing on a first run" % (label, host))
        if not changed and stats["changed"]:
            raise BenchError("%s: %s changed %d things on a run that should change nothing"
                             % (label, host, stats["changed"]))


def file_layout(work, hosts):
    """(host-relative path, mode) of every file under each host's root: both ways must agree."""
    layout = {}
    for host in hosts:
        root = os.path.join(work, "hosts", host)
        entries = []
        for folder, _dirs, files in os.walk(root):
            for name in [""] + files:
                path = os.path.join(folder, name) if name else folder
                entries.append((os.path.relpath(path, root), "%04o" % (os.lstat(path).st_mode & 0o7777)))
        layout[host] = sorted(entries)
    return layout


def run_variant(runner, variant, emulator, hosts, work, python, round_label):
    """First run, re-run and verify of one variant on fresh hosts; returns seconds per phase."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    inventory = os.path.join(work, "inventory.yml")
    write_inventory(inventory, variant, hosts, work, python, emulator.info["base_url"])
    plays = VARIANTS[variant]
    label = "%s-%s" % (round_label, variant)

    request_s, request_cpu, recap = runner.playbook(plays["request"][0], inventory, label + "-request", work)
    check_recap(label + " request", recap, hosts, changed=True)
    # Developer Hub (emulated), untimed: a certificate per collected CSR, and the Wise CA.
    started = time.perf_counter()
    handoff = os.path.join(work, "handoff", ENVIRONMENT)
    for host in hosts:
        unit = os.path.join(handoff, host)
        emulator.sign(os.path.join(unit, "client.csr"), "%s-%s" % (variant.replace("_", "-"), host),
                      client_id_of(host), os.path.join(unit, "client.pem"))
    shutil.copyfile(emulator.info["ca_path"], os.path.join(handoff, "wise-ca.pem"))
    sign_s = time.perf_counter() - started
    install_s, install_cpu, recap = runner.playbook(plays["install"][0], inventory, label + "-install", work)
    check_recap(label + " install", recap, hosts, changed=True)

    rerun_s, rerun_cpu, recap = runner.playbook(plays["install"][0], inventory, label + "-rerun", work)
    check_recap(label + " re-run", recap, hosts, changed=False)
    verify_s, verify_cpu, recap = runner.playbook(plays["verify"][0], inventory, label + "-verify", work)
    check_recap(label + " verify", recap, hosts, changed=False)
    return {"first": request_s + install_s, "first_request": request_s, "first_install": install_s,
            "sign_untimed": sign_s, "rerun": rerun_s, "verify": verify_s,
            "first_cpu": request_cpu + install_cpu, "rerun_cpu": rerun_cpu, "verify_cpu": verify_cpu,
            }, file_layout(work, hosts)


def run_ping(runner, hosts, work, python, round_label):
    os.makedirs(work, exist_ok=True)
    inventory = os.path.join(work, "inventory-ping.yml")
    write_inventory(inventory, "ping", hosts, work, python, "https://127.0.0.1")
    seconds, cpu, recap = runner.playbook(os.path.join(HERE, "ping.yml"), inventory, round_label + "-ping", work)
    check_recap(round_label + " ping", recap, hosts, changed=False)
    return {"wall": seconds, "cpu": cpu}


# --------------------------------------------------------------------------- verify vs curl

def verify_vs_curl(args, emulator, work, host, calls):
    """The verify module run alone (token + playground) against two curl calls doing the same.

    Also the playground request alone: the module's own measured ``elapsed`` against
    curl's ``time_total`` for the same request with a token.
    """
    files = os.path.join(work, "hosts", host, ENVIRONMENT)
    cert, key, ca = (os.path.join(files, name) for name in ("client.pem", "client.key", "wise-ca.pem"))
    base_url = emulator.info["base_url"]
    module = os.path.join(args.collections, "ansible_collections", "wise", "mtls", "plugins", "modules", "verify.py")
    args_path = os.path.join(work, "verify-args.json")
    with open(args_path, "w", encoding="utf-8") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": {
            "base_url": base_url, "client_cert_path": cert, "client_key_path": key, "ca_path": ca,
            "client_id": client_id_of(host), "client_secret": client_secret_of(host)}}, handle)
    env = dict(os.environ, PYTHONPATH=args.collections)
    curl = shutil.which("curl")
    tls = ["--cert", cert, "--key", key, "--cacert", ca, "--silent", "--show-error", "--fail"]
    module_s, module_elapsed, curl_s, curl_playground = [], [], [], []
    for _attempt in range(calls):
        started = time.perf_counter()
        completed = subprocess.run([args.python, module, args_path], env=env, capture_output=True, text=True,
                                   check=False)
        module_s.append(time.perf_counter() - started)
        result = json.loads(completed.stdout)
        if completed.returncode != 0 or result.get("status") != 200:
            raise BenchError("verify module failed: %s" % completed.stdout[-2000:])
        module_elapsed.append(result["elapsed"])
        if curl is None:
            continue
        started = time.perf_counter()
        token = subprocess.run([curl] + tls + ["-u", "%s:%s" % (client_id_of(host), client_secret_of(host)),
                                               "-d", "grant_type=client_credentials", base_url + "/oauth/token"],
                               capture_output=True, text=True, check=True)
        access_token = json.loads(token.stdout)["access_token"]
        answer = subprocess.run([curl] + tls + ["-H", "Authorization: Bearer " + access_token,
                                                "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                                                base_url + "/v1/authenticated/playground"],
                                capture_output=True, text=True, check=True)
        curl_s.append(time.perf_counter() - started)
        code, total = answer.stdout.split()
        if code != "200":
            raise BenchError("curl playground call answered %s" % code)
        curl_playground.append(float(total))
    result = {"calls": calls, "module_process_s": median(module_s), "module_playground_request_s":
              median(module_elapsed)}
    if curl is not None:
        result.update({
            "curl_processes_s": median(curl_s),
            "curl_playground_request_s": median(curl_playground),
            "ratio_process": ratio(median(module_s), median(curl_s)),
            "ratio_playground_request": ratio(median(module_elapsed), median(curl_playground)),
            "curl_version": subprocess.run([curl, "--version"], capture_output=True, text=True,
                                           check=False).stdout.split("\n")[0],
        })
    return result


# --------------------------------------------------------------------------- results

def median(values):
    return round(statistics.median(values), 4) if values else None


def ratio(a, b):
    return round(a / b, 3) if a and b else None


def machine(args):
    info = {"cores": os.cpu_count(), "platform": platform.platform(), "python_controller": platform.python_version(),
            # Other work on the machine slows every variant; the ratios are what carries over.
            "load_average_at_end": [round(load, 1) for load in os.getloadavg()]}
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            total_kib = int(re.search(r"MemTotal:\s+(\d+)", handle.read()).group(1))
        info["memory_gib"] = round(total_kib / 1024 / 1024, 1)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            found = re.search(r"model name\s*:\s*(.+)", handle.read())
        if found:
            info["cpu"] = found.group(1).strip()
    except OSError:
        pass
    try:
        with open("/etc/os-release", encoding="utf-8") as handle:
            found = re.search(r'^PRETTY_NAME="?([^"\n]+)', handle.read(), re.M)
        if found:
            info["os"] = found.group(1)
    except OSError:
        pass
    probe = subprocess.run([args.python, "-c", (
        "import platform, cryptography, requests; from ansible.release import __version__ as core;"
        "print(platform.python_version(), core, cryptography.__version__, requests.__version__)")],
        capture_output=True, text=True, check=True).stdout.split()
    info.update({"python_hosts": probe[0], "ansible_core": probe[1], "cryptography": probe[2],
                 "requests": probe[3]})
    manifest = os.path.join(args.site_packages, "ansible_collections", "community", "crypto", "MANIFEST.json")
    try:
        with open(manifest, encoding="utf-8") as handle:
            info["community_crypto"] = json.load(handle)["collection_info"]["version"]
    except (OSError, ValueError, KeyError):
        info["community_crypto"] = None
    return info


def summarize(raw):
    """Medians per phase (wall clock and CPU), seconds per host, and the ratios of the medians."""
    summary = {}
    for size, data in raw.items():
        hosts = int(size)
        entry = {"hosts": hosts}
        for variant in VARIANTS:
            entry[variant] = {}
            for phase in PHASES + ("first_request", "first_install", "sign_untimed"):
                values = [run[phase] for run in data[variant]]
                entry[variant][phase] = {"median_s": median(values), "per_host_s": round(median(values) / hosts, 4),
                                         "runs_s": [round(v, 3) for v in values]}
                if phase in PHASES:
                    entry[variant][phase]["cpu_median_s"] = median([run[phase + "_cpu"] for run in data[variant]])
        walls = [run["wall"] for run in data["ping"]]
        entry["ping"] = {"median_s": median(walls), "per_host_s": round(median(walls) / hosts, 4),
                         "runs_s": [round(v, 3) for v in walls],
                         "cpu_median_s": median([run["cpu"] for run in data["ping"]])}
        entry["ratios"] = {}
        for phase in PHASES:
            ours, theirs = entry["wise_mtls"][phase], entry["community_crypto"][phase]
            entry["ratios"][phase] = {
                "wise_mtls_vs_community_crypto": ratio(ours["median_s"], theirs["median_s"]),
                "wise_mtls_vs_ping": ratio(ours["median_s"], entry["ping"]["median_s"]),
                "community_crypto_vs_ping": ratio(theirs["median_s"], entry["ping"]["median_s"]),
                "cpu_wise_mtls_vs_community_crypto": ratio(ours["cpu_median_s"], theirs["cpu_median_s"]),
                "cpu_wise_mtls_vs_ping": ratio(ours["cpu_median_s"], entry["ping"]["cpu_median_s"]),
            }
        summary[size] = entry
    return summary


def print_table(summary):
    print()
    print("%5s  %-7s %10s %10s %8s %8s  %9s %9s  %9s %9s" % (
        "hosts", "phase", "wise.mtls", "c.crypto", "ping", "s/host", "wise/cc", "wise/ping", "cpu w/cc",
        "cpu w/png"))
    for size, entry in summary.items():
        for phase in PHASES:
            ours = entry["wise_mtls"][phase]
            theirs = entry["community_crypto"][phase]
            ratios = entry["ratios"][phase]
            print("%5s  %-7s %9.2fs %9.2fs %7.2fs %8.3f  %9.2f %9.2f  %9.2f %9.2f" % (
                size, phase, ours["median_s"], theirs["median_s"], entry["ping"]["median_s"], ours["per_host_s"],
                ratios["wise_mtls_vs_community_crypto"], ratios["wise_mtls_vs_ping"],
                ratios["cpu_wise_mtls_vs_community_crypto"], ratios["cpu_wise_mtls_vs_ping"]))
    print()


# --------------------------------------------------------------------------- main

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", default="5,20,50", help="inventory sizes, comma separated (default %(default)s)")
    parser.add_argument("--rounds", default="3",
                        help="rounds per size, the median counts: one number, or one per size (e.g. 3,2,1)")
    parser.add_argument("--forks", type=int, default=5, help="ansible forks, the same for every variant")
    parser.add_argument("--pipelining", action="store_true", help="ANSIBLE_PIPELINING=true for every variant")
    parser.add_argument("--curl-calls", type=int, default=20, help="calls each for verify against curl")
    parser.add_argument("--profile", action="store_true", help="per-task times (ansible.posix.profile_tasks) in logs")
    parser.add_argument("--variants", default="wise_mtls,community_crypto", help=argparse.SUPPRESS)
    parser.add_argument("--work", required=True, help="scratch folder (emptied)")
    parser.add_argument("--out", required=True, help="where results.json goes")
    parser.add_argument("--collections", required=True, help="collections folder holding wise/mtls")
    parser.add_argument("--python", required=True, help="the hosts' Python (cryptography, requests)")
    parser.add_argument("--ansible-bin", required=True, help="folder of ansible-playbook")
    parser.add_argument("--site-packages", required=True, help="where the ansible package's collections are")
    parser.add_argument("--smoke", action="store_true", help="recorded in the results")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sizes = [int(size) for size in args.hosts.split(",") if size.strip()]
    rounds = [int(number) for number in args.rounds.split(",") if number.strip()]
    if len(rounds) == 1:
        rounds = rounds * len(sizes)
    if len(rounds) != len(sizes) or min(rounds) < 1:
        raise BenchError("--rounds needs one number, or one per size in --hosts")
    variants = [v for v in args.variants.split(",") if v]
    shutil.rmtree(args.work, ignore_errors=True)
    logs = os.path.join(args.work, "logs")
    os.makedirs(logs)
    runner = Runner(args, logs)
    emulator_path = os.path.join(args.collections, "ansible_collections", "wise", "mtls", "emulator")
    started = time.perf_counter()
    raw, layouts, curl = {}, {}, None
    for size, size_rounds in zip(sizes, rounds):
        hosts = host_names(size)
        raw[str(size)] = {variant: [] for variant in VARIANTS}
        raw[str(size)]["ping"] = []
        for number in range(1, size_rounds + 1):
            round_label = "n%d-r%d" % (size, number)
            base = os.path.join(args.work, round_label)
            log("N=%d, round %d of %d" % (size, number, size_rounds))
            emulator = EmulatorRun(args.python, emulator_path, os.path.join(base, "emulator"), hosts)
            try:
                # Alternate the order so that a drift of the machine does not favour one way.
                order = variants if number % 2 else list(reversed(variants))
                raw[str(size)]["ping"].append(run_ping(runner, hosts, os.path.join(base, "ping"), args.python,
                                                       round_label))
                log("  %-16s %6.2fs" % ("ping", raw[str(size)]["ping"][-1]["wall"]))
                for variant in order:
                    seconds, layouts[variant] = run_variant(runner, variant, emulator, hosts,
                                                            os.path.join(base, variant), args.python, round_label)
                    raw[str(size)][variant].append(seconds)
                    log("  %-16s first %6.2fs  re-run %6.2fs  verify %6.2fs" % (
                        variant, seconds["first"], seconds["rerun"], seconds["verify"]))
                if len(layouts) == 2 and layouts["wise_mtls"] != layouts["community_crypto"]:
                    raise BenchError("the two ways left different files or modes:\n%s\n%s" % (
                        layouts["wise_mtls"][hosts[0]], layouts["community_crypto"][hosts[0]]))
                if curl is None and number == 1 and args.curl_calls > 0 and "wise_mtls" in variants:
                    log("verify module against curl, %d calls each" % args.curl_calls)
                    curl = verify_vs_curl(args, emulator, os.path.join(base, "wise_mtls"), hosts[0], args.curl_calls)
                    curl["hosts_in_inventory"] = size
            finally:
                emulator.stop()
        if len(variants) == 2:
            write_results(args, raw, sizes, rounds, curl, started)
    if len(variants) < 2:
        json.dump(raw, sys.stdout, indent=1)
        return 0
    results = write_results(args, raw, sizes, rounds, curl, started)
    print_table(results["results"])
    curl = results["verify_vs_curl"]
    if curl and "curl_processes_s" in curl:
        values = (curl["calls"], curl["module_process_s"], curl["curl_processes_s"], curl["ratio_process"],
                  curl["module_playground_request_s"], curl["curl_playground_request_s"],
                  curl["ratio_playground_request"])
        print("verify module vs curl (%s calls, median): process %s s vs %s s (x%s); "
              "playground request %s s vs %s s (x%s)" % values)
    log("results: %s (%.0f s)" % (os.path.join(args.out, "results.json"), results["duration_s"]))
    return 0


def write_results(args, raw, sizes, rounds, curl, started):
    """results.json from the sizes measured so far (written after each size, so a long run keeps them)."""
    done = [size for size in sizes if raw.get(str(size), {}).get("ping")]
    summary = summarize(dict((str(size), raw[str(size)]) for size in done))
    results = {
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "smoke": args.smoke,
        "settings": {"hosts": done, "rounds": dict((str(size), count) for size, count in zip(sizes, rounds)
                                                   if size in done), "forks": args.forks, "pipelining": args.pipelining,
                     "connection": "local", "gather_facts": False, "key_type": "ecc (P-256)",
                     "statistic": "median of the rounds, wall-clock seconds of ansible-playbook"},
        "machine": machine(args),
        "results": summary,
        "verify_vs_curl": curl,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    os.makedirs(args.out, exist_ok=True)
    out = os.path.join(args.out, "results.json")
    with open(out + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2, sort_keys=False)
        handle.write("\n")
    os.replace(out + ".tmp", out)
    return results


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print("benchmark failed: %s" % exc, file=sys.stderr)
        sys.exit(1)
