# Sourced by scripts/run and scripts/test: a local virtual environment in .venv with the
# project installed, reinstalled only when pyproject.toml changes.
# Needs only Python 3.11, 3.12 or 3.13 on the machine, the versions both Django 5.2 and
# the pinned torch support (set PYTHON to pick an interpreter).

supported() {  # whether the interpreter is one of the supported versions
    "$1" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null
}

ensure_venv() {
    local extras="$1"
    local python="${PYTHON:-}"
    if [ -z "$python" ]; then
        # 3.11 first: its torch wheels are the ones this project is built and tested with.
        for candidate in python3.11 python3.12 python3.13 python3; do
            if command -v "$candidate" >/dev/null 2>&1 && supported "$candidate"; then
                python="$candidate"
                break
            fi
        done
    fi
    if [ -z "$python" ] || ! supported "$python"; then
        echo "Model Zoo needs Python 3.11, 3.12 or 3.13 (set PYTHON=/path/to/python3.12)." >&2
        exit 1
    fi
    if [ -x .venv/bin/python ] && ! supported .venv/bin/python; then
        echo "Model Zoo: .venv holds an unsupported Python; remove it (rm -r .venv) to rebuild it with $python." >&2
        exit 1
    fi
    if [ ! -x .venv/bin/python ]; then
        echo "==> Creating .venv with $python"
        "$python" -m venv .venv
    fi
    local hash
    hash="$(sha256sum < pyproject.toml | cut -c1-16)"
    local stamp=".venv/.installed-$hash-${extras:-base}"
    # The dev install includes the base one: either stamp will do for the base.
    if [ ! -f "$stamp" ] && { [ -n "$extras" ] || [ ! -f ".venv/.installed-$hash-dev" ]; }; then
        echo "==> Installing Model Zoo and its dependencies into .venv (the first time takes a few minutes)"
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
        rm -f .venv/.installed-*
        touch "$stamp"
    fi
    export PATH="$PWD/.venv/bin:$PATH"
    export VIRTUAL_ENV="$PWD/.venv"
}
