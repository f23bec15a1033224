# Copyright: contributors to the wise.mtls collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Command line: ``python -m wise_emulator <command> --state-dir DIR ...``."""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import _files, process, registry
from .loopback import NotLoopbackError, loopback_address
from .policy import PolicyUnavailable
from .state import DEFAULT_CLIENT_ID, DEFAULT_TOKEN_TTL, FAULT_KEYS, MAX_DELAY_SECONDS, SERVER_CERT_CHOICES, TLS_VERSIONS, StateDir, StateError

STATE_ENV = "WISE_EMULATOR_STATE_DIR"


def _status(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an HTTP status: %r" % text) from None


def _delay(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a number of seconds: %r" % text) from None
    if not 0 <= value <= MAX_DELAY_SECONDS:
        raise argparse.ArgumentTypeError("delay must be between 0 and %d seconds" % MAX_DELAY_SECONDS)
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a whole number: %r" % text) from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _add_fault_options(parser, for_serve=False):
    prefix = "fault: " if for_serve else ""
    parser.add_argument("--status", type=_status, metavar="CODE",
                        help="%sanswer the playground with this HTTP error status (e.g. 401, 403, 500)" % prefix)
    parser.add_argument("--token-status", type=_status, metavar="CODE",
                        help="%sanswer /oauth/token with this HTTP error status" % prefix)
    parser.add_argument("--delay", type=_delay, metavar="SECONDS",
                        help="%swait this long before answering the playground (max %d)" % (prefix, MAX_DELAY_SECONDS))
    parser.add_argument("--token-delay", type=_delay, metavar="SECONDS",
                        help="%swait this long before answering /oauth/token" % prefix)
    parser.add_argument("--reject", action="append", default=None, metavar="NAME_OR_SHA256",
                        help="%srefuse this issued certificate (name or SHA-256 fingerprint) in the TLS handshake; "
                             "repeatable" % prefix)


def _add_serve_options(p):
    p.add_argument("--port", type=int, default=0, help="TCP port (0 picks a free one; default %(default)s)")
    p.add_argument("--bind", default="127.0.0.1", help="loopback address to listen on (default %(default)s)")
    p.add_argument("--tls-version", choices=TLS_VERSIONS, default="both", help="TLS versions offered (default %(default)s)")
    p.add_argument("--server-cert", choices=SERVER_CERT_CHOICES, default="valid",
                   help="server certificate to present (default %(default)s)")
    p.add_argument("--token-ttl", type=_positive_int, default=DEFAULT_TOKEN_TTL,
                   help="access token lifetime in seconds (default %(default)s)")
    p.add_argument("--watch-pid", type=int, help="stop when this process is gone")
    p.add_argument("--clear-faults", action="store_true", help="start with no faults (empties faults.json)")
    _add_fault_options(p, for_serve=True)


def _serve_argv(args):
    """The ``serve`` options equivalent to parsed ``start`` options."""
    argv = ["--port", str(args.port), "--bind", args.bind, "--tls-version", args.tls_version,
            "--server-cert", args.server_cert, "--token-ttl", str(args.token_ttl)]
    if args.clear_faults:
        argv.append("--clear-faults")
    if args.watch_pid:
        argv += ["--watch-pid", str(args.watch_pid)]
    for key, value in sorted(_faults_from(args).items()):
        for item in value if isinstance(value, list) else [value]:
            argv += ["--" + key.replace("_", "-"), str(item)]
    return argv


def _faults_from(args):
    faults = {}
    for key in ("status", "token_status", "delay", "token_delay", "reject"):
        value = getattr(args, key, None)
        if value is not None:
            faults[key] = value
    return faults


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", default=os.environ.get(STATE_ENV),
                        help="emulator state directory (default: $%s)" % STATE_ENV)

    parser = argparse.ArgumentParser(
        prog="python -m wise_emulator",
        description="Wise mTLS API and Developer Hub emulator, for tests and rehearsals on loopback only.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("init", parents=[common], help="create the state directory (idempotent)")
    p.add_argument("--client-id", help="register (or update) this API client")
    p.add_argument("--client-secret", help="its client secret")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("sign", parents=[common], help="issue a client certificate for a CSR (Developer Hub)")
    p.add_argument("--csr", required=True, help="CSR file (PEM); '-' reads standard input")
    p.add_argument("--name", required=True, help="certificate name (unique)")
    p.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="client ID (becomes the subject CN; default %(default)s)")
    validity = p.add_mutually_exclusive_group()
    validity.add_argument("--days", type=_positive_int, help="validity in days (default %d)" % registry.DEFAULT_VALIDITY_DAYS)
    validity.add_argument("--validity-seconds", type=_positive_int, help="validity in seconds (rotation tests)")
    p.add_argument("--backdate-seconds", type=int, default=0,
                   help="start the validity this many seconds in the past (to make expired certificates)")
    p.add_argument("--out", required=True, help="where to write the issued certificate (PEM); '-' for standard output")
    p.add_argument("--json", action="store_true", help="print the registry record as JSON")

    p = sub.add_parser("revoke", parents=[common], help="revoke an issued certificate")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--name", help="certificate name")
    target.add_argument("--fingerprint", help="SHA-256 fingerprint")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("list", parents=[common], help="list issued certificates")
    p.add_argument("--json", action="store_true", help="JSON output (includes the PEM)")

    p = sub.add_parser("serve", parents=[common], help="run the mTLS API server until SIGTERM/SIGINT")
    _add_serve_options(p)
    p.add_argument("--ready-file", help="write JSON (base_url, port, ca_path, pid) here once listening")

    p = sub.add_parser("start", parents=[common],
                       help="start 'serve' in the background, wait until it listens, print its ready JSON")
    _add_serve_options(p)
    p.add_argument("--ready-file", help="ready file (default: ready.json in the state directory)")
    p.add_argument("--log-file", help="server output (default: server.log in the state directory, appended)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server (default %(default)s)")

    p = sub.add_parser("stop", parents=[common], help="stop a server started with 'start' (SIGTERM, then SIGKILL)")
    p.add_argument("--ready-file", help="its ready file (default: ready.json in the state directory)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds before SIGKILL (default %(default)s)")

    p = sub.add_parser("fault", help="switch misbehaviour of a running (or next) server")
    fsub = p.add_subparsers(dest="fault_command", metavar="ACTION")
    fsub.required = True
    fp = fsub.add_parser("set", parents=[common], help="set faults (merged into what is set)")
    _add_fault_options(fp)
    fp = fsub.add_parser("clear", parents=[common], help="clear all faults, or only the named ones")
    fp.add_argument("names", nargs="*", metavar="FAULT", help="status, token-status, delay, token-delay or reject")
    fsub.add_parser("show", parents=[common], help="print the current faults as JSON")
    return parser


def _state(args):
    if not args.state_dir:
        raise StateError("--state-dir is required (or set $%s)" % STATE_ENV)
    return StateDir(args.state_dir)


def _print_json(data):
    print(json.dumps(data, indent=2, sort_keys=True))


def _cmd_init(args):
    if args.client_secret and not args.client_id:
        raise StateError("--client-secret needs --client-id")
    state = _state(args)
    created = state.init(client_id=args.client_id, client_secret=args.client_secret)
    result = {"state_dir": state.path, "ca_path": state.ca_path, "client_ca_path": state.client_ca_path,
              "created": created, "clients": sorted(state.clients())}
    if args.json:
        _print_json(result)
    else:
        print("state directory %s %s" % (state.path, "updated" if created else "already complete"))
        for line in created:
            print("  created %s" % line)
        print("Wise CA (trust this): %s" % state.ca_path)
        print("API clients: %s" % ", ".join(result["clients"]))
    return 0


def _cmd_sign(args):
    # cryptography is imported only by the commands that need it, so the others start fast.
    from . import hub  # pylint: disable=import-outside-toplevel
    state = _state(args)
    if args.csr == "-":
        data = sys.stdin.buffer.read()
    else:
        data = _files.read_bytes(args.csr)
    try:
        record, warnings = hub.sign(state, data, args.name, args.client_id, days=args.days,
                                    validity_seconds=args.validity_seconds, backdate_seconds=args.backdate_seconds)
    except hub.CsrRefused as exc:
        sys.stderr.write("refused: %s\n" % exc)
        for finding in exc.findings:
            sys.stderr.write("  %s %s: %s\n" % (finding.severity, finding.code, finding.message))
        if args.json:
            _print_json({"refused": True, "findings": [
                {"code": f.code, "severity": f.severity, "message": f.message} for f in exc.findings + exc.warnings]})
        return 1
    for finding in warnings:
        sys.stderr.write("warning %s: %s\n" % (finding.code, finding.message))
    if args.out == "-":
        sys.stdout.write(record.pem)
    else:
        _files.write_file_atomic(args.out, record.pem, mode=0o644)
    if args.json:
        _print_json(record.to_dict(with_pem=False))
    elif args.out != "-":
        print("issued %r for client %s: serial %s, sha256 %s, valid until %s -> %s" % (
            record.name, record.client_id, record.serial, record.fingerprint_sha256, record.not_after, args.out))
    return 0


def _cmd_revoke(args):
    record, already = registry.revoke(_state(args), name=args.name, fingerprint=args.fingerprint)
    if args.json:
        data = record.to_dict(with_pem=False)
        data["already_revoked"] = already
        _print_json(data)
    else:
        print("%s %r (serial %s)" % ("already revoked:" if already else "revoked", record.name, record.serial))
    return 0


def _cmd_list(args):
    records = registry.list_certificates(_state(args))
    if args.json:
        _print_json([r.to_dict() for r in records])
        return 0
    if not records:
        print("no certificates issued")
        return 0
    header = ("NAME", "CLIENT_ID", "STATUS", "SERIAL", "NOT_BEFORE", "NOT_AFTER", "SHA256")
    rows = [header] + [(r.name, r.client_id, r.status(), r.serial, r.not_before, r.not_after,
                        r.fingerprint_sha256) for r in records]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)) + "  " + str(row[-1]))
    return 0


def _check_bind(args):
    try:
        loopback_address(args.bind)
    except NotLoopbackError as exc:
        raise StateError(str(exc)) from None


def _cmd_serve(args):
    _check_bind(args)  # before the heavier imports below: a refusal is instant
    # Imported here so that the other commands start faster.
    from .server import ServeError, serve  # pylint: disable=import-outside-toplevel
    try:
        return serve(_state(args).path, port=args.port, bind=args.bind, tls_version=args.tls_version,
                     server_cert=args.server_cert, ready_file=args.ready_file, token_ttl=args.token_ttl,
                     watch_pid=args.watch_pid, faults=_faults_from(args), clear_faults=args.clear_faults)
    except ServeError as exc:
        raise StateError(str(exc)) from exc


def _default_ready_file(args, state):
    return os.path.abspath(args.ready_file) if args.ready_file else os.path.join(state.path, "ready.json")


def _cmd_start(args):
    _check_bind(args)
    state = _state(args)
    state.require_initialized()
    ready = _default_ready_file(args, state)
    running = process.read_ready_file(ready)
    if running is not None and process.is_emulator(running.get("pid")):
        sys.stderr.write("already running (pid %s)\n" % running["pid"])
        _print_json(running)
        return 0
    log_file = args.log_file or state.log_path
    argv = [sys.executable, "-m", "wise_emulator", "serve", "--state-dir", state.path, "--ready-file", ready]
    info = process.start_detached(argv + _serve_argv(args), ready, log_file, timeout=args.timeout)
    _print_json(info)
    return 0


def _cmd_stop(args):
    state = _state(args)
    ready = _default_ready_file(args, state)
    info = process.read_ready_file(ready)
    if info is None:
        print("not running (no ready file %s)" % ready)
        return 0
    how = process.stop_pid(info.get("pid"), timeout=args.timeout)
    try:
        os.unlink(ready)
    except OSError:
        pass
    print("%s (pid %s)" % (how, info.get("pid")))
    return 0


def _cmd_fault(args):
    state = _state(args)
    state.require_initialized()
    if args.fault_command == "set":
        faults = _faults_from(args)
        if not faults:
            raise StateError("name at least one fault: --status, --token-status, --delay, --token-delay, --reject")
        result = state.set_faults(**faults)
    elif args.fault_command == "clear":
        names = [name.replace("-", "_") for name in args.names]
        unknown = [name for name in names if name not in FAULT_KEYS]
        if unknown:
            raise StateError("unknown fault %s (known: status, token-status, delay, token-delay, reject)"
                             % ", ".join(unknown))
        result = state.clear_faults(*names)
    else:
        result = state.read_faults()
    _print_json(result)
    return 0


_COMMANDS = {"init": _cmd_init, "sign": _cmd_sign, "revoke": _cmd_revoke, "list": _cmd_list,
             "serve": _cmd_serve, "start": _cmd_start, "stop": _cmd_stop, "fault": _cmd_fault}


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except (StateError, registry.HubError, PolicyUnavailable) as exc:
        sys.stderr.write("wise-emulator %s: error: %s\n" % (args.command, exc))
        return 1
    except OSError as exc:
        sys.stderr.write("wise-emulator %s: error: %s\n" % (args.command, exc))
        return 1
