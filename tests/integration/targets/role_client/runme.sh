#!/usr/bin/env bash
# The wise.mtls.client role through its playbooks (wise.mtls.request, wise.mtls.install), with
# ansible-playbook against "hosts" that are local connections whose files live in a temporary
# folder, so nothing outside it changes and no root is needed.
#
#  - bad input (no organisation, an empty one, an unknown environment, a certificate for
#    another key in the hand-off folder, a certificate for a host without a key, a key group
#    whose hosts hold different keys) stops with a clear message, and a snapshot of every
#    host's folder shows that nothing changed;
#  - a new key notifies the reload of the services listed, and no handler runs when none is;
#  - a key group gets one key, copied to the other host over the connection with pipelining
#    (no file transfer) and never shown, even at -vvv.
set -euo pipefail

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log=$tmp/run.log
pass() { printf 'ok: %s\n' "$*"; }
fail() {
    printf 'FAILED: %s\n' "$*" >&2
    printf -- '--- output of the last run ---\n' >&2
    cat "$log" >&2
    # Last, where a long log cut in the middle still shows it: the lines that say what failed.
    printf -- '--- what failed in the last run ---\n' >&2
    grep -n -A12 -E '^(fatal|failed):|FAILED!|ERROR!|Traceback|^\[ERROR\]' "$log" | tail -n 80 >&2 || true
    printf 'FAILED: %s\n' "$*" >&2
    exit 1
}

# inventory HOSTS... : local hosts, each with its own root folder under $tmp/hosts/<host>.
inventory() {
    local host
    {
        printf 'all:\n  hosts:\n'
        for host in "$@"; do printf '    %s: {}\n' "$host"; done
        printf '  vars:\n'
        printf '    ansible_connection: local\n'
        # The Python that runs ansible-playbook: it has cryptography, as the modules need.
        printf '    ansible_python_interpreter: "{{ ansible_playbook_python }}"\n'
        printf '    wise_mtls_become: false\n'
        printf '    wise_mtls_client_root: %s/hosts/{{ inventory_hostname }}\n' "$tmp"
        printf '    wise_mtls_client_owner: %s\n' "$(id -un)"
        printf '    wise_mtls_client_handoff_dir: %s/handoff\n' "$tmp"
        printf '    wise_mtls_client_key_type: ecc\n'
        printf '    wise_mtls_client_install_dependencies: false\n'
    } >"$tmp/inventory.yml"
}

# run PLAYBOOK ARGS...: ansible-playbook, output in $log; returns its exit status.
run() {
    local playbook=$1
    shift
    ansible-playbook -i "$tmp/inventory.yml" "wise.mtls.$playbook" "$@" >"$log" 2>&1
}

snapshot() {
    (
        cd "$tmp"
        [[ -d hosts ]] || { echo "(no hosts folder)"; return 0; }
        find hosts -printf '%y %m %u %g %s %T@ %p\n' | sort
        find hosts -type f -exec sha256sum {} + | sort
    )
}

expect_refusal() {
    local what=$1 message=$2 before
    shift 2
    before=$(snapshot)
    if run "$@"; then fail "$what: the run succeeded"; fi
    grep -qF -- "$message" "$log" || fail "$what: the output does not say: $message"
    [[ $(snapshot) == "$before" ]] || fail "$what: the hosts' files changed"
    pass "$what"
}

org=(-e 'wise_mtls_client_organization=Example Payments Ltd')

# --- bad input on a new host: nothing may be created ----------------------------------
inventory web1
expect_refusal "no organisation" "missing required arguments: wise_mtls_client_organization" install
[[ ! -e $tmp/hosts ]] || fail "no organisation: a host folder was created"
expect_refusal "empty organisation" "wise_mtls_client_organization is empty" install \
    -e 'wise_mtls_client_organization= '
expect_refusal "unknown environment" "wise_mtls_client_environment must be one of: sandbox, production" \
    install "${org[@]}" -e wise_mtls_client_environment=staging
expect_refusal "country of three letters" "wise_mtls_client_country must be two letters" \
    install "${org[@]}" -e wise_mtls_client_country=EUR
[[ ! -e $tmp/hosts ]] || fail "bad input: a host folder was created"

# --- a certificate for a host that has no key ------------------------------------------
mkdir -p "$tmp/handoff/sandbox/web1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=Example Payments Ltd" -days 30 \
    -keyout "$tmp/other.key" -out "$tmp/handoff/sandbox/web1/client.pem" 2>/dev/null
expect_refusal "certificate for a host without a key" "web1 has no private key" install "${org[@]}"
[[ ! -e $tmp/hosts ]] || fail "certificate without a key: a host folder was created"
rm "$tmp/handoff/sandbox/web1/client.pem"

# --- request: key and CSR, collected CSR, the to-do, a clean end -------------------------
run request "${org[@]}" || fail "request failed"
grep -q "failed=0" "$log" || fail "request: a task failed"
if grep -q "RUNNING HANDLER" "$log"; then fail "request: a reload handler ran with no service listed"; fi
grep -qF "name: sandbox-web1-" "$log" || fail "request: no certificate name in the to-do"
grep -qF "$tmp/handoff/sandbox/web1/client.csr" "$log" || fail "request: the to-do does not name the CSR"
[[ -s $tmp/handoff/sandbox/web1/client.csr ]] || fail "request: the CSR was not collected"
[[ $(stat -c %a "$tmp/hosts/web1/sandbox") == 700 && $(stat -c %a "$tmp/hosts/web1/sandbox/client.key") == 600 ]] ||
    fail "request: wrong modes on the folder or the key"
# The root folder keeps the system's default mode, so that each environment's service group can pass.
((($(stat -c '0%a' "$tmp/hosts/web1") & 011) == 011)) || fail "request: the root folder is not passable"
run request "${org[@]}" || fail "request (again) failed"
grep -q "changed=0" "$log" || fail "request (again): something changed"
pass "request makes the key and the CSR, collects the CSR and prints the to-do; idempotent"

# --- a service listed: a new key notifies its reload (the service module is the judge) --------
inventory web9
if run request "${org[@]}" -e '{"wise_mtls_client_services": ["wise-mtls-no-such-service"]}'; then
    fail "reload: the run succeeded, so the listed service was not reloaded"
fi
grep -qF "RUNNING HANDLER [wise.mtls.client : Reload the services that use the Wise client files]" "$log" ||
    fail "reload: the handler did not run"
grep -qF "Could not find the requested service wise-mtls-no-such-service" "$log" ||
    fail "reload: the handler did not reload the listed service"
rm -rf "$tmp/hosts/web9" "$tmp/handoff/sandbox/web9"
inventory web1
pass "a listed service is reloaded when its key is made, and nothing runs when none is listed"

# --- a certificate for another key in the hand-off folder -------------------------------
cp "$tmp/handoff/sandbox/web1/client.csr" "$tmp/web1.csr"
openssl req -new -key "$tmp/other.key" -subj "/O=Example Payments Ltd" -out "$tmp/other.csr"
openssl x509 -req -in "$tmp/other.csr" -signkey "$tmp/other.key" -days 30 \
    -out "$tmp/handoff/sandbox/web1/client.pem" 2>/dev/null
expect_refusal "certificate for another key" "The certificate is for another key" install "${org[@]}"
grep -qF "It came from $tmp/handoff/sandbox/web1/client.pem" "$log" ||
    fail "certificate for another key: the message does not name the file"
[[ ! -e $tmp/hosts/web1/sandbox/client.pem ]] || fail "certificate for another key: it was installed"
rm "$tmp/handoff/sandbox/web1/client.pem"

# --- a key group whose hosts already hold different keys ---------------------------------
inventory web1 web2
run request "${org[@]}" || fail "request for web2 failed"
expect_refusal "key group with different keys" "hold different private keys" request "${org[@]}" \
    -e wise_mtls_client_key_group=payments

# --- a key group: one key, copied over the connection only --------------------------------
rm -rf "$tmp/hosts" "$tmp/handoff"
inventory web1 web2 web3
run request "${org[@]}" -e wise_mtls_client_key_group=payments -vvv || fail "key group request failed"
for host in web2 web3; do
    cmp -s "$tmp/hosts/web1/sandbox/client.key" "$tmp/hosts/$host/sandbox/client.key" ||
        fail "key group: web1 and $host do not share one key"
done
[[ $(stat -c %a "$tmp/hosts/web3/sandbox/client.key") == 600 ]] || fail "key group: the copied key is not 0600"
[[ $(find "$tmp/handoff" -name client.csr | wc -l) == 1 && -s $tmp/handoff/sandbox/payments/client.csr ]] ||
    fail "key group: not exactly one CSR, in handoff/sandbox/payments"
if grep -q "PRIVATE KEY" "$log"; then fail "key group: key material in the -vvv output"; fi
sed -n "/TASK \[wise.mtls.client : Copy the group's key/,/^TASK \[/p" "$log" >"$tmp/copy-task.log"
grep -q "EXEC" "$tmp/copy-task.log" || fail "key group: the copy task did not run"
if grep -q "PUT " "$tmp/copy-task.log"; then fail "key group: the copy task transferred a file (no pipelining)"; fi
run request "${org[@]}" -e wise_mtls_client_key_group=payments || fail "key group request (again) failed"
grep -q "changed=0" "$log" || fail "key group request (again): something changed"
pass "a key group shares one key and one CSR; the key never shows, even at -vvv, and is not sent as a file"
