#!/usr/bin/env bash
# Swift syntax check of the given files or folders (no Swift toolchain here): tree-sitter's
# Swift grammar from PyPI, installed into .tools/pyswift on first use.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.tools/pyswift"
if ! "$VENV/bin/python" -c 'import tree_sitter, tree_sitter_swift' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check tree-sitter==0.26.1 tree-sitter-swift==0.7.4
fi
exec "$VENV/bin/python" "$ROOT/scripts/swift-syntax.py" "$@"
