# shellcheck shell=bash
# Helpers shared by the project's scripts (scripts/test, scripts/demo, ...). Source this file.
#
# It exports:
#   WISE_MTLS_ROOT  the repository root, which is also the collection root
#   WISE_MTLS_TMP   scratch space, git-ignored (default: $WISE_MTLS_ROOT/.tmp; override it to
#                   run two test runs side by side)
#   WISE_MTLS_VENVS where the virtual environments live (default: $WISE_MTLS_ROOT/.venv)
#
# and defines:
#   venv NAME          build (or reuse) the virtual environment described by
#                      tests/requirements/NAME.txt and print its path
#   collection_copy    refresh a copy of the collection at
#                      $WISE_MTLS_TMP/collections/ansible_collections/wise/mtls and print the
#                      collections folder that contains it (ready for ANSIBLE_COLLECTIONS_PATH)
#   find_python X.Y    print the path of a Python X.Y interpreter
#   apt_ensure CMD=PKG ...  install Debian packages whose commands are missing

WISE_MTLS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WISE_MTLS_TMP=${WISE_MTLS_TMP:-$WISE_MTLS_ROOT/.tmp}
WISE_MTLS_VENVS=${WISE_MTLS_VENVS:-$WISE_MTLS_ROOT/.venv}
export WISE_MTLS_ROOT WISE_MTLS_TMP WISE_MTLS_VENVS

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

as_root() {
    if ((EUID == 0)); then "$@"; else sudo "$@"; fi
}

# Install Debian packages unless the commands they provide are there already.
#   apt_ensure COMMAND=PACKAGE ...
apt_ensure() {
    local pair
    local -a missing=()
    for pair; do
        command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
    done
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null 2>&1 || die "${missing[*]} missing, and no apt-get to install them"
    log "installing ${missing[*]} with apt"
    # One apt at a time: scripts/test may prepare podman in the background meanwhile.
    as_root env DEBIAN_FRONTEND=noninteractive flock /tmp/wise-mtls-apt.lock sh -c '
        apt-get update -q &&
        apt-get install -y -q -o DPkg::Lock::Timeout=600 \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
    ' apt-install "${missing[@]}" >&2
}

# Print the path of a Python interpreter for version X.Y: the newest pyenv build of that
# version first (pyenv's shims only answer when PYENV_VERSION is set), then one on PATH.
find_python() {
    local want=$1 root candidate
    root=${PYENV_ROOT:-}
    if [[ -z $root ]] && command -v pyenv >/dev/null 2>&1; then
        root=$(pyenv root)
    fi
    root=${root:-$HOME/.pyenv}
    if [[ -d $root/versions ]]; then
        candidate=$(find "$root/versions" -mindepth 1 -maxdepth 1 -name "$want.*" -printf '%f\n' |
            grep -E "^${want//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)
        if [[ -n $candidate && -x $root/versions/$candidate/bin/python$want ]]; then
            printf '%s\n' "$root/versions/$candidate/bin/python$want"
            return 0
        fi
    fi
    for candidate in "python$want" python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            [[ $("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) == "$want" ]]; then
            command -v "$candidate"
            return 0
        fi
    done
    die "Python $want not found (looked in $root/versions and on PATH)"
}

# Build the virtual environment NAME from tests/requirements/NAME.txt, whose first lines say
# which Python to use ("# python: 3.13"). The environment is rebuilt only when the
# requirements file or the interpreter changed: its key is stored inside it.
venv() {
    local name=$1 requirements python key dir stamp
    requirements=$WISE_MTLS_ROOT/tests/requirements/$name.txt
    [[ -f $requirements ]] || die "no requirements file for venv '$name': $requirements"
    python=$(sed -n 's/^# *python: *\([0-9.]*\).*/\1/p' "$requirements" | head -n 1)
    [[ -n $python ]] || die "$requirements lacks a '# python: X.Y' line"
    python=$(find_python "$python")
    dir=$WISE_MTLS_VENVS/$name
    stamp=$dir/.wise-mtls-key
    key=$({
        "$python" -c 'import sys; print(sys.version)'
        cat "$requirements"
    } | sha256sum | cut -d' ' -f1)
    if [[ -f $stamp && $(cat "$stamp") == "$key" && -x $dir/bin/python ]]; then
        printf '%s\n' "$dir"
        return 0
    fi
    log "building venv $name with $("$python" --version 2>&1) from ${requirements#"$WISE_MTLS_ROOT"/}"
    rm -rf "$dir"
    mkdir -p "$WISE_MTLS_VENVS"
    "$python" -m venv "$dir" >&2
    # PyPI is the only index reachable; the pip configuration of the machine applies as is.
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
        --requirement "$requirements" >&2
    "$dir/bin/python" -m pip check >&2 || die "venv $name has broken dependencies"
    printf '%s\n' "$key" >"$stamp"
    printf '%s\n' "$dir"
}

# Make a fresh copy of the collection where Ansible and ansible-test expect one:
# .../ansible_collections/wise/mtls. The copy holds exactly the files git would see (tracked
# files plus untracked ones that .gitignore does not exclude), so it is the same on a
# developer's machine, with work in progress, as in CI's fresh clone. Prints the collections
# folder (the parent of ansible_collections/). Each call replaces the previous copy.
collection_copy() {
    local collections dest
    collections=$WISE_MTLS_TMP/collections
    dest=$collections/ansible_collections/wise/mtls
    rm -rf "$dest"
    mkdir -p "$dest"
    (
        cd "$WISE_MTLS_ROOT" || exit
        if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
            git ls-files -z --cached --others --exclude-standard |
                while IFS= read -r -d '' file; do
                    # Skip files deleted in the work tree but still in the index.
                    if [[ -e $file || -L $file ]]; then printf '%s\0' "$file"; fi
                done |
                tar --null --files-from=- --create --file=-
        else
            # Not a git checkout (an unpacked archive): copy all but scratch and build output.
            tar --create --file=- --exclude=./.git --exclude=./.venv --exclude=./.tmp \
                --exclude=./.cache --exclude=./build --exclude=./tests/output \
                --exclude=__pycache__ --exclude='*.pyc' --exclude=.pytest_cache \
                --exclude=.ruff_cache --exclude=./.ansible .
        fi
    ) | tar --extract --file=- --directory="$dest"
    # A repository of its own, with nothing committed: ansible-test and ansible-lint list
    # content with git (tracked plus untracked, not ignored files) from the nearest .git
    # upwards, and would otherwise reach the work tree's, which ignores .tmp/ entirely.
    git -C "$dest" init --quiet
    printf '%s\n' "$collections"
}
