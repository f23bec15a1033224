#!/usr/bin/env bash
# The yearly rotation through its playbooks (wise.mtls.status and wise.mtls.rotate), with
# ansible-playbook against three local "hosts" whose files live in a temporary folder - one with
# a key of its own, two sharing a key through a key group - and the Wise emulator on loopback
# as Wise and Developer Hub:
#
#  - onboarding with the client role and 10-day certificates; status flags all three, and
#    refuses a relative root folder without changing anything;
#  - stage: new keys and CSRs beside the live pairs (untouched), the to-do, the warning past
#    Wise's 10 active certificates; a second run changes nothing;
#  - activate: check mode changes nothing; then canary and batches switch every host to a new
#    pair that openssl matches and the playground accepts; a second run and a client role run
#    change nothing; the status report, JSON, CSV and Prometheus textfile follow;
#  - Wise refuses a new certificate: the pre-flight call stops the activation before the
#    switch; without it, the switch happens, the post-flight call fails, the host rolls back,
#    and the old pair still passes the playground call;
#  - cleanup: the old generations go and the onboarding certificates are listed for revocation;
#    a second run changes nothing.
# The test's arguments ("$@") carry ansible-test's integration config: where the emulator is.
set -euo pipefail

tmp=$(mktemp -d)
log=$tmp/run.log
stop_emulator() {
    if [[ -f $tmp/emulator.sh ]]; then
        # shellcheck source=/dev/null
        source "$tmp/emulator.sh"
        emulator stop --state-dir "$tmp/emulator" >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap stop_emulator EXIT

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

# run PLAYBOOK ARGS...: ansible-playbook, output in $log; returns its exit status.
run() {
    local playbook=$1
    shift
    ansible-playbook -i "$tmp/inventory.yml" "wise.mtls.$playbook" "$@" >"$log" 2>&1
}
run_ok() { run "$@" || fail "ansible-playbook wise.mtls.$*"; }
rotate() { run_ok rotate -e "wise_mtls_rotate_phase=$1" "${@:2}"; }
nothing_changed() { ! grep -E '^(solo|web1|web2) .*changed=[1-9]' "$log" >/dev/null || fail "$1: something changed"; }
snapshot() { (cd "$tmp" && find hosts -printf '%y %m %s %T@ %p %l\n' | sort && find hosts -type f -exec sha256sum {} + | sort); }
# pair HOST: SHA-256 of the public key behind client.key, after checking that client.pem holds the same one.
pair() {
    local folder=$tmp/hosts/$1/sandbox
    openssl pkey -in "$folder/client.key" -pubout >"$tmp/key.pub"
    openssl x509 -in "$folder/client.pem" -noout -pubkey >"$tmp/cert.pub"
    cmp -s "$tmp/key.pub" "$tmp/cert.pub" || fail "$1: client.key and client.pem do not belong together"
    sha256sum <"$tmp/key.pub" | cut -c1-64
}
json() { "${ANSIBLE_TEST_PYTHON_INTERPRETER:-python3}" -c "import json, sys; rows = json.load(open('$tmp/report/wise-mtls-status.json')); sys.exit(0 if ($1) else 1)"; }
sign_waiting() {  # sign every collected CSR that has no certificate yet: [extra sign options]
    local csr dir unit
    for csr in "$tmp"/handoff/sandbox/*/rotation/*/client.csr "$tmp"/handoff/sandbox/*/client.csr; do
        dir=$(dirname "$csr")
        [[ -f $csr && ! -f $dir/client.pem ]] || continue
        unit=${dir#"$tmp"/handoff/sandbox/}
        emulator sign --state-dir "$tmp/emulator" --csr "$csr" --name "sandbox-${unit//\//-}" \
            --client-id wise-emulator-demo --out "$dir/client.pem" "$@" >/dev/null
    done
}

# ansible-test gives a script target no extra vars: read the harness's integration config
# (where the emulator and its Python are) from the content root when no argument names it.
config=()
integration_config=$(dirname "$0")/../../integration_config.yml
if [[ $# -eq 0 && -f $integration_config ]]; then
    config=(-e "@$(realpath "$integration_config")")
fi
ansible-playbook "$(dirname "$0")/setup.yml" -e "rotate_tmp=$tmp" "${config[@]}" "$@" >"$log" 2>&1 || fail "setup"
# shellcheck source=/dev/null
source "$tmp/emulator.sh"
mkdir -p "$tmp"/textfile/{solo,web1,web2}

# --- onboarding with 10-day certificates ---------------------------------------------
run_ok request
sign_waiting --days 10
cp "$tmp/emulator/wise-ca.pem" "$tmp/handoff/sandbox/wise-ca.pem"
run_ok install
old_solo=$(pair solo)
old_web=$(pair web1)
[[ $(pair web2) == "$old_web" ]] || fail "onboarding: the key group's hosts hold different keys"

run_ok status
json "len(rows) == 3 and all(row['needs_renewal'] and row['generation'] == 'flat' and row['days_remaining'] <= 10 for row in rows)" ||
    fail "status: the 10-day certificates are not all flagged for renewal"
pass "status flags the 10-day certificates"
before=$(snapshot)
! run status -e wise_mtls_client_root=relative/wise-mtls || fail "status: a relative root folder was not refused"
grep -q "wise_mtls_client_root must be an absolute path" "$log" || fail "status: the refusal does not name the root folder"
[[ $(snapshot) == "$before" ]] || fail "status: files changed although the root folder was refused"
pass "status refuses a relative root folder and changes nothing"

# --- stage ---------------------------------------------------------------------------
before=$(cd "$tmp" && find hosts -maxdepth 3 -name 'client.*' -type f -exec sha256sum {} + | sort)
rotate stage -e wise_mtls_rotate_active_certificates=9
grep -qF 'WARNING: 9 active now (wise_mtls_rotate_active_certificates) + 2 new = 11' "$log" ||
    fail "stage: no warning past Wise's 10 active certificates"
grep -qE 'name: sandbox-web-[0-9]{8}-[0-9]{6} +\(for web1, web2\)' "$log" || fail "stage: the to-do lacks the key group's entry"
[[ $(cd "$tmp" && find hosts -maxdepth 3 -name 'client.*' -type f -exec sha256sum {} + | sort) == "$before" ]] ||
    fail "stage: the live files changed"
cmp -s "$tmp"/hosts/web1/sandbox/generations/*/client.key "$tmp"/hosts/web2/sandbox/generations/*/client.key ||
    fail "stage: the key group's hosts staged different keys"
rotate stage -e wise_mtls_rotate_active_certificates=2
nothing_changed "stage, run again"
grep -qF '2 active now + 2 new = 4 of 10: within the limit' "$log" || fail "stage: no count within the limit"
pass "stage: new keys and CSRs beside untouched live files; the to-do and the limit warning; idempotent"

# --- activate ------------------------------------------------------------------------
sign_waiting
before=$(snapshot)
for bad in "-e wise_mtls_rotate_batch=0" "-e wise_mtls_rotate_batch=many" "-e wise_mtls_rotate_max_fail_percentage=150"; do
    # shellcheck disable=SC2086 # "-e name=value", split on purpose
    if run rotate -e wise_mtls_rotate_phase=activate $bad; then fail "activate $bad: the run succeeded"; fi
    grep -qF 'The batch is a number of hosts (1 or more) or a' "$log" || fail "activate $bad: no message on the batch"
done
[[ $(snapshot) == "$before" ]] || fail "activate with a bad batch or failure percentage changed files"
rotate activate --check -e wise_mtls_rotate_batch=1
[[ $(snapshot) == "$before" ]] || fail "activate --check changed files"
grep -qF 'would be live (check mode)' "$log" || fail "activate --check: no plan reported"
rotate activate -e wise_mtls_rotate_batch=1
[[ $(grep -c 'Rotation - activate the new certificates' "$log") == 3 ]] || fail "activate: not one host per batch (canary, then 1)"
new_solo=$(pair solo)
new_web=$(pair web1)
[[ $new_solo != "$old_solo" && $new_web != "$old_web" && $(pair web2) == "$new_web" ]] || fail "activate: not every host has its new pair"
[[ $(readlink "$tmp/hosts/solo/sandbox/client.key") == live/client.key ]] || fail "activate: client.key is not the live link"
grep -qF 'Playground: HTTP 200' "$log" || fail "activate: no post-flight call"
rotate activate
nothing_changed "activate, run again"
run_ok install
nothing_changed "the client role after the rotation"
pass "activate: bad batch and failure percentage refused; check mode, canary and batches, new pairs, post-flight; idempotent; the client role changes nothing"

run_ok status
json "all(not row['needs_renewal'] and row['generation'] != 'flat' and row['previous'] for row in rows)" ||
    fail "status after the rotation"
grep -qE "^\"web2\",\"sandbox\",\"web\",\"[0-9]{8}-[0-9]{6}\"" "$tmp/report/wise-mtls-status.csv" || fail "status: CSV"
grep -qE '^wise_mtls_certificate_needs_renewal\{environment="sandbox",generation="[0-9-]+",unit="solo"\} 0$' \
    "$tmp/textfile/solo/wise_mtls_sandbox.prom" || fail "status: Prometheus textfile"
[[ -z $(find "$tmp/textfile" -name '*.tmp') ]] || fail "status: a temp file was left beside the textfile"
pass "status after the rotation: JSON, CSV and textfile"

# --- Wise refuses a new certificate -----------------------------------------------------
rotate stage -e wise_mtls_rotate_due_only=false --limit solo
sign_waiting
newest=$(find "$tmp/handoff/sandbox/solo/rotation" -mindepth 2 -maxdepth 2 -name client.pem -printf '%T@ %p\n' \
    | sort -nr | head -n 1 | cut -d' ' -f2-)
refused=$(basename "$(dirname "$newest")")
emulator fault set --state-dir "$tmp/emulator" --reject "sandbox-solo-rotation-$refused" >/dev/null
live=$(readlink "$tmp/hosts/solo/sandbox/live")
if run rotate -e wise_mtls_rotate_phase=activate --limit solo; then fail "refused certificate: the activation succeeded"; fi
grep -qF 'Nothing was switched' "$log" || fail "refused certificate: the pre-flight call did not stop the activation"
if run rotate -e wise_mtls_rotate_phase=activate -e wise_mtls_rotate_preflight=false --limit solo; then
    fail "refused certificate without pre-flight: the activation succeeded"
fi
grep -qF 'client_cert_rejected' "$log" || fail "refused certificate: the post-flight call did not fail as refused"
grep -qF 'Rolled back: generation' "$log" || fail "refused certificate: no rollback"
grep -qF 'The live files pass the playground call (HTTP 200)' "$log" || fail "refused certificate: old pair not proven"
[[ $(readlink "$tmp/hosts/solo/sandbox/live") == "$live" && $(pair solo) == "$new_solo" ]] ||
    fail "refused certificate: the host did not go back to its pair"
[[ $(readlink "$tmp/hosts/solo/sandbox/staged") == "generations/$refused" ]] || fail "refused certificate: not staged again"
emulator fault clear --state-dir "$tmp/emulator" reject >/dev/null
pass "Wise refuses the new certificate: stopped at pre-flight; without it, switched, failed post-flight, rolled back"

# --- cleanup -----------------------------------------------------------------------------
rotate cleanup
grep -qF 'Revoke in Wise Developer Hub' "$log" || fail "cleanup: no revocation list"
[[ $(grep -c '^ *"      SHA-256 ' "$log") == 2 ]] || fail "cleanup: not the two onboarding certificates to revoke"
[[ $(find "$tmp"/hosts/web1/sandbox/generations -mindepth 1 -maxdepth 1 | wc -l) == 1 ]] || fail "cleanup: web1 kept old generations"
[[ $(find "$tmp"/hosts/solo/sandbox/generations -mindepth 1 -maxdepth 1 | wc -l) == 2 ]] || fail "cleanup: solo lost its staged generation"
rotate cleanup
nothing_changed "cleanup, run again"
pass "cleanup: old generations removed, the onboarding certificates listed for revocation; idempotent"
