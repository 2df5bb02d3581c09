# Sourced by scripts/run and scripts/test: a local virtual environment in .venv with the
# project installed, reinstalled only when pyproject.toml changes.
# Needs only Python 3.11 on the machine (set PYTHON to pick another interpreter).

ensure_venv() {
    local extras="$1"
    local python="${PYTHON:-}"
    if [ -z "$python" ]; then
        for candidate in python3.11 python3; do
            if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
        done
    fi
    if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        echo "Model Zoo needs Python 3.11 (set PYTHON=/path/to/python3.11)." >&2
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
