#!/usr/bin/env bash
# The iOS project's checks without Xcode: every Swift file through tree-sitter's Swift grammar,
# then the XcodeGen spec, Info.plists and entitlements (scripts/check-ios.py; PyYAML comes into
# the same virtualenv as the Swift grammar). Each checker first proves it fails on broken input.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.tools/pyswift"
bash scripts/check-swift.sh ios   # (also makes the virtualenv)
# The Swift check must be able to fail: a broken file is rejected.
BAD="$(mktemp -d)"; trap 'rm -rf "$BAD"' EXIT
printf 'func broken( {\n    let x =\n}\n' > "$BAD/Broken.swift"
if bash scripts/check-swift.sh "$BAD/Broken.swift" >/dev/null 2>&1; then
    echo "check-ios: the Swift syntax check accepted a broken file" >&2; exit 1
fi
if ! "$VENV/bin/python" -c 'import yaml' 2>/dev/null; then
    "$VENV/bin/pip" install -q --disable-pip-version-check pyyaml==6.0.3
fi
"$VENV/bin/python" scripts/check-ios.py --self-test >/dev/null || { "$VENV/bin/python" scripts/check-ios.py --self-test; exit 1; }
"$VENV/bin/python" scripts/check-ios.py ios
