#!/usr/bin/env python3
"""Swift syntax check without a Swift toolchain: parses each file with tree-sitter's Swift
grammar and fails on any ERROR or MISSING node, printing where.

    swift-syntax.py FILE_OR_DIR...
"""
import pathlib
import re
import sys

import tree_sitter
import tree_sitter_swift

parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))


# tree-sitter-swift does not parse a compiler-version `#if` that wraps only an attribute
# (UniFFI emits `#if swift(>=5.8) @_documentation(visibility: private) #endif` before
# declarations). Such blocks are blanked out, keeping line numbers; everything else is parsed
# as written.
ATTRIBUTE_ONLY_IF = re.compile(rb"^[ \t]*#if swift\([^)\n]*\)[ \t]*\n[ \t]*@[A-Za-z_][^\n]*\n[ \t]*#endif[ \t]*$", re.M)


# Nor a closure whose body is the empty tuple, `{ () }` (UniFFI's `writeReturn` for functions
# returning nothing); `{ }` means the same and is parsed instead.
UNIT_CLOSURE = re.compile(rb"\{ \(\) \}")


def blank(m):
    return b"\n" * m.group(0).count(b"\n")


def problems(node, out):
    if node.is_error or node.is_missing:
        out.append(node)
        return
    if node.has_error:
        for child in node.children:
            problems(child, out)


def main(args):
    files = []
    for a in args:
        p = pathlib.Path(a)
        # (.build/ is SwiftPM's output, e.g. from `make test-swift`: not ours to check.)
        files += sorted(f for f in p.rglob("*.swift") if ".build" not in f.relative_to(p).parts) if p.is_dir() else [p]
    if not files:
        print("swift-syntax: no Swift files given", file=sys.stderr)
        return 2
    bad = 0
    for f in files:
        source = UNIT_CLOSURE.sub(b"{    }", ATTRIBUTE_ONLY_IF.sub(blank, f.read_bytes()))
        tree = parser.parse(source)
        found = []
        problems(tree.root_node, found)
        for n in found[:5]:
            kind = "missing " + n.type if n.is_missing else "syntax error"
            print(f"{f}:{n.start_point[0] + 1}:{n.start_point[1] + 1}: {kind}", file=sys.stderr)
        bad += bool(found)
    print(f"swift-syntax: {len(files) - bad} of {len(files)} file(s) parse cleanly")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
