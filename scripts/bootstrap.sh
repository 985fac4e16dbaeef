#!/usr/bin/env bash
# Create .venv with Python 3.10 and install fanzha into it (only when the pins changed).
set -euo pipefail
cd "$(dirname "$0")/.."

find_python310() {
    local candidate
    for candidate in python3.10 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    # pyenv keeps versions outside PATH when no shim is active.
    local root
    root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
    for candidate in "$root"/versions/3.10*/bin/python3; do
        if [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if [ ! -x .venv/bin/python ]; then
    if ! PYTHON="$(find_python310)"; then
        echo "fanzha needs Python 3.10 (Rasa 3.6 supports 3.8-3.10) and none was found." >&2
        echo "Install it, e.g. 'pyenv install 3.10' or 'apt-get install python3.10 python3.10-venv'," >&2
        echo "then run this command again." >&2
        exit 1
    fi
    echo "Creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi

stamp=".venv/.fanzha-installed"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Installing fanzha and its pinned dependencies into .venv (first time: a few minutes)"
    .venv/bin/python -m pip install --quiet --upgrade "pip==24.3.1" "wheel==0.45.1" "setuptools==70.3.0"
    .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[test]"
    echo "$want" > "$stamp"
fi
