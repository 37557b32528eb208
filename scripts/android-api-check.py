#!/usr/bin/env python3
"""Android API levels of what the app's Kotlin calls: every Android and Java API used in :app and
:logic exists at the app's minSdk, or is used under an SDK_INT check (or in an @RequiresApi
declaration). The API surface and the level each class and member appeared in come from
@nativescript/types-android (TypeScript declarations of android.jar, API 21 to 37 merged, each
newer member marked `/** @since N */`), installed by scripts/android-api-check.sh.

    android-api-check.py --decls FILE.d.ts [--min-sdk N] SOURCE_DIR_OR_FILE...
    android-api-check.py --decls FILE.d.ts --self-test FIXTURE_DIR

Prints `android-api-check: FILE:LINE: what needs API N (minSdk M) ...` per finding and exits 1
when there is any. With --self-test, each fixture's lines marked `// expect-api: N` must be
flagged with that level and no other line may be.

What it sees (a scanner, not a compiler; see README "Android checks"):
  * classes by import (also `as` aliases), by fully qualified name, and java.lang's by default;
    a class newer than minSdk used anywhere outside an import;
  * `Class.member(...)`, `Class.FIELD`, `Class.Nested...` and constructor calls `Class(...)`: the
    overloads with that name and as many arguments are looked up (in the class and its supers);
    the argument types are guessed where the text shows them (string and number literals,
    Charsets.X / StandardCharsets.X, `Class.CONSTANT`), and a use is flagged only when every
    overload that fits needs a newer level;
  * `.member(...)` and `.property` on any other receiver (types of variables are not inferred):
    matched by name against the classes the file imports, flagged only when every overload of
    that name and arity in them is newer (Kotlin properties as getX/isX);
  * the JDK 21 list members that Kotlin calls instead of its own extensions (`removeFirst()`,
    `removeLast()`: API 35; the declarations do not mark them);
  * compile-time constants (static fields with a literal value) are inlined by the compiler and
    never flagged;
  * a guard is `Build.VERSION.SDK_INT >= N` (or `> N`, VERSION_CODES names) in an `if` whose
    block (or the rest of the line) it covers, `if (SDK_INT < N) return` for the rest of the
    enclosing block, and @RequiresApi / @TargetApi on a declaration for its body.
It does not see: types of values (a call on an unimported class's instance is matched only by
name), Kotlin extension functions that call new APIs inside libraries, androidx (which guards
itself), guards written as helper functions.
"""
import json
import os
import re
import sys

# ---------------------------------------------------------------------------------------------
# The declarations: {class: {since, supers, members: {name: [(since, kind, params, const)]}}}
# ---------------------------------------------------------------------------------------------

DECL_CLASS = re.compile(r"^export (?:abstract )?(class|interface) (\w+)(?:<[^>]*>)?(?:\s+extends ([\w.]+)(?:<.*?>)?)?(?:\s+implements (.*?))?\s*\{$")
DECL_MODULE = re.compile(r"^(?:declare|export) module ([\w]+) \{$")
DECL_MEMBER = re.compile(r"^public (static )?(?:abstract )?(?:readonly )?([\w$]+)(?:<[^()]*?>)?(\(.*\))?(?:: (.*?))?;$")
DECL_CTOR = re.compile(r"^public constructor\((.*)\);$")
SINCE = re.compile(r"@since (\d+)")

# JDK 21 members the declarations list without a level (java.util.List implements
# SequencedCollection from API 35). Kotlin 2 calls them instead of its own extensions.
EXTRA_NEW_MEMBERS = {
    ("java.util.List", "removeFirst"): 35,
    ("java.util.List", "removeLast"): 35,
}
SEQUENCED_CALLS = {"removeFirst": ("java.util.List", 35), "removeLast": ("java.util.List", 35)}


def split_params(s):
    """Top-level comma split of a parameter list without its parentheses."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "<({[":
            depth += 1
        elif ch in ">)}]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    types = []
    for p in out:
        _, _, t = p.partition(":")
        types.append(t.strip())
    return types


def build_index(decls_path):
    classes = {}
    stack = []  # (name, kind, depth at which it was opened)
    depth = 0
    pending = None
    with open(decls_path, encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    for raw in lines:
        line = raw.strip()
        if line.startswith("/**") or line.startswith("*"):
            m = SINCE.search(line)
            if m:
                pending = int(m.group(1))
            continue
        opens, closes = line.count("{"), line.count("}")
        in_class = stack and stack[-1][1] == "class" and depth == stack[-1][2] + 1
        m = DECL_MODULE.match(line)
        if m and not in_class:
            stack.append((m.group(1), "module", depth))
            depth += 1
            pending = None
            continue
        m = DECL_CLASS.match(line)
        if m:
            name = ".".join([s[0] for s in stack] + [m.group(2)])
            supers = []
            if m.group(3):
                supers.append(m.group(3))
            if m.group(4):
                supers += [re.sub(r"<.*$", "", s.strip()) for s in re.split(r",\s*(?![^<]*>)", m.group(4))]
            classes[name] = {"since": pending or 0, "supers": supers, "members": {}, "kind": m.group(1),
                             "abstract": " abstract " in f" {line} ", "implements": bool(m.group(4))}
            stack.append((m.group(2), "class", depth))
            depth += 1
            pending = None
            continue
        if in_class:
            cls = classes[".".join(s[0] for s in stack)]
            m = DECL_CTOR.match(line)
            if line.startswith("public constructor(implementation: {"):
                cls["kind"] = "interface"  # how the declarations write a Java interface
            elif m:
                cls["members"].setdefault("<init>", []).append([pending or 0, "ctor", split_params(m.group(1)), False, None])
            else:
                m = DECL_MEMBER.match(line)
                if m and m.group(2) != "class":
                    static, name, params, typ = m.groups()
                    if params is not None:
                        cls["members"].setdefault(name, []).append([pending or 0, "static" if static else "method",
                                                                  split_params(params[1:-1]), False, typ])
                    else:
                        const = bool(static) and typ is not None and bool(re.match(r'^(-?\d[\w.]*|".*"|true|false)$', typ))
                        cls["members"].setdefault(name, []).append([pending or 0, "sfield" if static else "field", [], const, typ])
            pending = None if not line.startswith("/**") else pending
        depth += opens - closes
        while stack and depth <= stack[-1][2]:
            stack.pop()
    for (cls, name), level in EXTRA_NEW_MEMBERS.items():
        if cls in classes:
            for o in classes[cls]["members"].get(name, []):
                o[0] = max(o[0], level)
    return classes


def load_index(decls_path):
    cache = decls_path + ".ferry-index.json"
    if os.path.exists(cache) and os.path.getmtime(cache) >= max(os.path.getmtime(decls_path), os.path.getmtime(__file__)):
        with open(cache) as fh:
            return json.load(fh)
    idx = build_index(decls_path)
    with open(cache + ".tmp", "w") as fh:
        json.dump(idx, fh)
    os.replace(cache + ".tmp", cache)
    return idx


# ---------------------------------------------------------------------------------------------
# Kotlin sources
# ---------------------------------------------------------------------------------------------

def strip_code(text):
    """Comments removed and string contents blanked (quotes kept, `S` inside), lines preserved."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith('"""', i):
            j = text.find('"""', i + 3)
            j = n if j < 0 else j + 3
            out.append('"S' + "\n" * text.count("\n", i, j) + '"')
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"' and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append('"S"')
            i = j + 1
        elif c == "'":
            j = i + 1
            while j < n and text[j] != "'" and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append("'C'")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


KOTLIN_SHADOWED = {"String", "CharSequence", "Number", "Iterable", "Comparable", "Enum", "Object", "Boolean", "Byte",
                   "Character", "Short", "Integer", "Long", "Float", "Double", "Void", "Deprecated", "Override",
                   "SuppressWarnings", "Throwable", "Exception", "Error", "RuntimeException", "Annotation", "Cloneable"}
IMPORT = re.compile(r"^\s*import\s+([\w.]+)(?:\s+as\s+(\w+))?\s*$")
FQN = re.compile(r"(?<![\w.])((?:android|java|javax|dalvik)\.(?:[a-z_]\w*\.)*[A-Z]\w*)")


def matching_brace(code, open_at):
    depth = 0
    for k in range(open_at, len(code)):
        if code[k] == "{":
            depth += 1
        elif code[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(code)


def matching_paren(code, open_at):
    depth = 0
    for k in range(open_at, len(code)):
        if code[k] == "(":
            depth += 1
        elif code[k] == ")":
            depth -= 1
            if depth == 0:
                return k
    return len(code)


class Checker:
    def __init__(self, index, min_sdk):
        self.idx = index
        self.min = min_sdk
        self.checked = 0
        self.classes_seen = set()
        codes = index.get("android.os.Build.VERSION_CODES", {}).get("members", {})
        self.codes = {}
        for name, overloads in codes.items():
            for o in overloads:
                if o[1] == "sfield":
                    self.codes[name] = None
        # VERSION_CODES values are not kept in the index; the names are fixed.
        self.common = set()
        for c in ("java.lang.String", "java.lang.CharSequence", "java.util.Collection", "java.util.List", "java.util.Map",
                  "java.util.Set", "java.lang.Iterable", "java.lang.Object", "java.lang.Number", "java.lang.Throwable"):
            for k in self.supers(c) if c in index else []:
                self.common.update(index[k]["members"])
        self.common -= set(SEQUENCED_CALLS)
        self.codes = {"O": 26, "O_MR1": 27, "P": 28, "Q": 29, "R": 30, "S": 31, "S_V2": 32, "TIRAMISU": 33,
                      "UPSIDE_DOWN_CAKE": 34, "VANILLA_ICE_CREAM": 35, "BAKLAVA": 36, "CINNAMON_BUN": 37,
                      "N": 24, "N_MR1": 25, "M": 23, "LOLLIPOP": 21, "LOLLIPOP_MR1": 22}

    # --- lookups -----------------------------------------------------------------------------

    def supers(self, cls, seen=None):
        seen = seen if seen is not None else set()
        if cls in seen or cls not in self.idx:
            return []
        seen.add(cls)
        out = [cls]
        for s in self.idx[cls]["supers"]:
            out += self.supers(s, seen)
        if self.idx[cls]["kind"] == "interface" or not self.idx[cls]["supers"]:
            out += [] if "java.lang.Object" in seen else self.supers("java.lang.Object", seen)
        return out

    def overloads(self, cls, name):
        out = []
        for c in self.supers(cls):
            for o in self.idx[c]["members"].get(name, []):
                out.append((max(o[0], self.idx[c]["since"]), o[1], o[2], o[3], c))
        return out

    def fits(self, params, args):
        if len(params) != len(args):
            return False
        for p, a in zip(params, args):
            if a is None or p in ("any",) or p.startswith("androidNative"):
                continue
            if a == "string" and p not in ("string", "java.lang.CharSequence", "java.lang.String", "string | null"):
                return False
            if a == "number" and p not in ("number",):
                return False
            if a not in ("string", "number") and p != a and not p.startswith(a) and a not in self.supers(p.split("<")[0]) \
                    and p.split("<")[0] not in self.supers(a):
                return False
        return True

    def arg_types(self, code, open_at, file_classes):
        close = matching_paren(code, open_at)
        inner = code[open_at + 1:close]
        args = [a.strip() for a in split_args(inner)] if inner.strip() else []
        types = []
        for a in args:
            a = re.sub(r"^\w+\s*=\s*(?!=)", "", a)  # named argument
            if re.fullmatch(r'"S"', a):
                types.append("string")
            elif re.fullmatch(r"-?\d[\d_]*[Ll]?|0x[0-9a-fA-F_]+", a):
                types.append("number")
            elif re.fullmatch(r"(?:Charsets|StandardCharsets|java\.nio\.charset\.StandardCharsets)\.[A-Z_0-9]+", a):
                types.append("java.nio.charset.Charset")
            elif re.fullmatch(r".*\.name\(\)|.*\.toString\(\)", a):
                types.append("string")
            else:
                types.append(None)
        # A trailing lambda is one more argument (not the body of `object : Class() { ... }`).
        rest = code[close + 1:close + 40]
        head = re.search(r"([\w.]+)\s*$", code[:open_at])
        supertype = head is not None and re.search(r":\s*$", code[:head.start()]) is not None
        if re.match(r"\s*\{", rest) and not supertype:
            types.append(None)
        return types, close

    # --- guards ------------------------------------------------------------------------------

    def sdk_level(self, expr):
        expr = expr.strip()
        m = re.fullmatch(r"(?:(?:android\.os\.)?Build\.)?(?:VERSION_CODES\.)?(\w+)", expr)
        if not m:
            return None
        v = m.group(1)
        if v.isdigit():
            return int(v)
        return self.codes.get(v)

    def guards(self, code):
        """[(start, end, level)]: offsets of code known to run at API level >= level."""
        out = []
        sdk = r"(?:(?:android\.os\.)?Build\.)?(?:VERSION\.)?SDK_INT"
        for m in re.finditer(sdk + r"\s*(>=|<=|>|<)\s*([\w.]+)|([\w.]+)\s*(<=|<)\s*" + sdk, code):
            if m.group(1):
                op, level = m.group(1), self.sdk_level(m.group(2))
            else:
                op, level = {"<=": ">=", "<": ">"}[m.group(4)], self.sdk_level(m.group(3))
            if level is None:
                continue
            positive = op in (">=", ">")
            if op == ">":
                level += 1
            if op == "<=":
                level += 1
            line_end = code.find("\n", m.end())
            line_end = len(code) if line_end < 0 else line_end
            # The enclosing if's condition, if any.
            before = code[:m.start()]
            if_at = before.rfind("if (")
            cond_close = matching_paren(code, if_at + 3) if if_at >= 0 and "\n" not in code[if_at:m.start()] else -1
            if positive:
                out.append((m.end(), line_end, level))  # `SDK_INT >= N && ...` and `if (...) x else y` on one line
                if cond_close >= m.end():
                    after = code[cond_close + 1:]
                    s = re.match(r"\s*\{", after)
                    if s:
                        brace = cond_close + 1 + s.end() - 1
                        out.append((brace, matching_brace(code, brace), level))
                    else:
                        # An if without braces: its one statement (up to the next line end after it starts).
                        stmt_end = code.find("\n", cond_close + 1 + len(after) - len(after.lstrip()))
                        out.append((cond_close, len(code) if stmt_end < 0 else stmt_end, level))
            elif cond_close >= m.end():
                after = code[cond_close + 1:]
                if re.match(r"\s*(return|throw|continue|break)\b", after):
                    # The rest of the enclosing block.
                    depth, k = 0, cond_close
                    while k < len(code):
                        if code[k] == "{":
                            depth += 1
                        elif code[k] == "}":
                            if depth == 0:
                                break
                            depth -= 1
                        k += 1
                    out.append((cond_close, k, level))
                else:
                    s = re.match(r"\s*\{", after)
                    end_then = matching_brace(code, cond_close + 1 + s.end() - 1) if s else code.find("\n", cond_close)
                    e = re.match(r"\s*else\s*\{", code[end_then + 1:])
                    if e:
                        brace = end_then + 1 + e.end() - 1
                        out.append((brace, matching_brace(code, brace), level))
        for m in re.finditer(r"@(?:RequiresApi|TargetApi)\((?:api\s*=\s*|value\s*=\s*)?([\w.]+)\)", code):
            level = self.sdk_level(m.group(1))
            if level is None:
                continue
            # The declaration's body: its braces, or an expression body up to the end of its line.
            decl = re.compile(r"\b(?:fun|class|object|val|var)\b[^{=]*?(\{|=)").search(code, m.end())
            if decl is None:
                continue
            if decl.group(1) == "{":
                end = matching_brace(code, decl.end() - 1)
            else:
                end = code.find("\n", decl.end())
                end = len(code) if end < 0 else end
            out.append((m.end(), end, level))
        return out

    # --- scanning ----------------------------------------------------------------------------

    def check_file(self, path, display):
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        code = strip_code(text)
        findings = []
        imports = {}
        import_lines = set()
        for no, line in enumerate(code.split("\n"), 1):
            m = IMPORT.match(line)
            if m:
                import_lines.add(no)
                fq, alias = m.group(1), m.group(2)
                if fq in self.idx:
                    imports[alias or fq.rsplit(".", 1)[1]] = fq
        names = dict(imports)

        def resolve(simple):
            if simple in names:
                return names[simple]
            if simple not in KOTLIN_SHADOWED and "java.lang." + simple in self.idx:
                return "java.lang." + simple
            return None

        guards = self.guards(code)
        line_starts = [0]
        for k, ch in enumerate(code):
            if ch == "\n":
                line_starts.append(k + 1)

        def line_of(off):
            lo, hi = 0, len(line_starts) - 1
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if line_starts[mid] <= off:
                    lo = mid
                else:
                    hi = mid - 1
            return lo + 1

        def guarded(off):
            return max([lvl for s, e, lvl in guards if s <= off <= e], default=self.min)

        def flag(off, what, level):
            self.checked += 1
            self.classes_seen.add(what.split("(")[0].rsplit(".", 1)[0] if "." in what else what)
            if level <= self.min or guarded(off) >= level:
                return
            ln = line_of(off)
            if ln in import_lines:
                return
            findings.append((display, ln, level, what))

        imported_classes = set(imports.values())

        # Chains that start with a class: Simple[.Nested]*[.member][(...)], or a fully qualified name.
        chain = re.compile(r"(?<![\w.$])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(\s*\()?")
        for m in chain.finditer(code):
            parts = m.group(1).split(".")
            start = m.start()
            cls = None
            used = 0
            fq = FQN.match(m.group(1))
            if fq:
                # The longest prefix that is an indexed class.
                for k in range(len(parts), 0, -1):
                    cand = ".".join(parts[:k])
                    if cand in self.idx:
                        cls, used = cand, k
                        break
            if cls is None:
                cls = resolve(parts[0])
                used = 1 if cls else 0
            if cls is None:
                continue
            while used < len(parts) and cls + "." + parts[used] in self.idx:
                cls = cls + "." + parts[used]
                used += 1
            info = self.idx[cls]
            if info["since"] > self.min:
                flag(start, cls, info["since"])
            paren = m.group(2)
            rest = parts[used:]
            if not rest:
                if paren:
                    args, _ = self.arg_types(code, m.end() - 1, imported_classes)
                    self.check_call(flag, start, cls, "<init>", args, f"{cls} constructor")
                continue
            member = rest[0]
            if len(rest) == 1 and paren:
                args, _ = self.arg_types(code, m.end() - 1, imported_classes)
                self.check_call(flag, start, cls, member, args, f"{cls}.{member}({', '.join(a or '?' for a in args)})")
            else:
                self.check_field(flag, start, cls, member)

        # Calls and properties on values: matched by name in the classes this file imports.
        candidates = set()
        for c in imported_classes:
            candidates.update(self.supers(c))
        for m in re.finditer(r"(?<=[\w)\]?!])\s*\??\.\s*([a-zA-Z_]\w*)(\s*\()?", code):
            name, paren = m.group(1), m.group(2)
            # Skip chains that start with a class (handled above): the receiver is a lower-case value here.
            before = code[:m.start()]
            recv = re.search(r"([A-Za-z_][\w.]*)$", before)
            # A receiver named like a class or object (ActivityCompat, R.string): a static call on a class
            # this check does not index (androidx, the app's own), or one the chain pass above handled.
            if recv and recv.group(1)[:1].isupper():
                continue
            if recv and (resolve(recv.group(1).split(".")[0]) or FQN.match(recv.group(1))):
                continue
            # Names Kotlin's own types have too (isEmpty, size, get...): the receiver is more likely one of those.
            if name in self.common:
                continue
            off = m.start(1)
            if paren:
                args, _ = self.arg_types(code, m.end() - 1, imported_classes)
                if name in SEQUENCED_CALLS and not args:
                    cls, level = SEQUENCED_CALLS[name]
                    flag(off, f"{cls}.{name}() (JDK 21, called by Kotlin instead of its extension)", level)
                    continue
                over = [o for c in candidates for o in self.overloads_direct(c, name) if o[1] == "method"]
                fit = [o for o in over if self.fits(o[2], args)]
                if fit:
                    lvl = min(o[0] for o in fit)
                    flag(off, f"{fit[0][4]}.{name}(...) (by name; the receiver's type is not known)", lvl)
            else:
                getters = ["get" + name[:1].upper() + name[1:], "is" + name[:1].upper() + name[1:], name] if not name.startswith("is") else [name]
                over = [o for c in candidates for g in getters for o in self.overloads_direct(c, g) if o[1] == "method" and not o[2]]
                if over:
                    lvl = min(o[0] for o in over)
                    flag(off, f"{over[0][4]}.{name} (by name; the receiver's type is not known)", lvl)
        return findings

    def overloads_direct(self, cls, name):
        info = self.idx.get(cls)
        if not info:
            return []
        return [(max(o[0], info["since"]), o[1], o[2], o[3], cls) for o in info["members"].get(name, [])]

    def check_call(self, flag, off, cls, member, args, what):
        over = [o for o in self.overloads(cls, member) if o[1] in ("ctor", "static", "method")]
        if member == "<init>":
            over = [o for o in over if o[4] == cls]
        if not over:
            return
        fit = [o for o in over if self.fits(o[2], args)]
        if not fit:
            fit = [o for o in over if len(o[2]) == len(args)] or over
        flag(off, what, min(o[0] for o in fit))

    def check_field(self, flag, off, cls, member):
        over = self.overloads(cls, member)
        fields = [o for o in over if o[1] in ("sfield", "field")]
        if fields:
            if any(o[3] for o in fields):
                return  # a compile-time constant: inlined
            flag(off, f"{cls}.{member}", min(o[0] for o in fields))
            return
        getters = [o for g in ("get" + member[:1].upper() + member[1:], "is" + member[:1].upper() + member[1:])
                   for o in self.overloads(cls, g) if not o[2]]
        if getters:
            flag(off, f"{cls}.{member}", min(o[0] for o in getters))
        elif over:
            flag(off, f"{cls}.{member}", min(o[0] for o in over))


def split_args(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{<":
            depth += 1 if ch != "<" else 0
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def kotlin_files(paths):
    for p in paths:
        if os.path.isdir(p):
            for d, _, fs in sorted(os.walk(p)):
                for f in sorted(fs):
                    if f.endswith(".kt"):
                        yield os.path.join(d, f)
        else:
            yield p


def main(argv):
    decls, min_sdk, self_test, paths = None, None, None, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--decls":
            decls = argv[i + 1]
            i += 2
        elif a == "--min-sdk":
            min_sdk = int(argv[i + 1])
            i += 2
        elif a == "--self-test":
            self_test = argv[i + 1]
            i += 2
        else:
            paths.append(a)
            i += 1
    if not decls:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    checker = Checker(load_index(decls), min_sdk or 26)
    if self_test:
        return run_self_test(checker, self_test)
    findings = []
    count = 0
    for f in kotlin_files(paths):
        count += 1
        findings += checker.check_file(f, os.path.relpath(f))
    for path, ln, level, what in findings:
        print(f"android-api-check: {path}:{ln}: {what} needs API {level} (minSdk {checker.min}): "
              f"guard it with Build.VERSION.SDK_INT >= {level}, or use what API {checker.min} has")
    if count == 0:
        print("android-api-check: no Kotlin file found", file=sys.stderr)
        return 1
    if findings:
        return 1
    print(f"android-api-check: {count} files, {checker.checked} uses of Android and Java APIs checked: "
          f"none above API {checker.min} unguarded")
    return 0


def run_self_test(checker, fixtures):
    failures = 0
    files = sorted(kotlin_files([fixtures]))
    for f in files:
        expected = {}
        with open(f, encoding="utf-8") as fh:
            for no, line in enumerate(fh, 1):
                m = re.search(r"// expect-api: (\d+)", line)
                if m:
                    expected[no] = int(m.group(1))
        got = {}
        for _, ln, level, what in checker.check_file(f, os.path.relpath(f)):
            got.setdefault(ln, (level, what))
        name = os.path.basename(f)
        for ln, level in sorted(expected.items()):
            if ln not in got:
                print(f"FAIL {name}:{ln}: not flagged (expected API {level})")
                failures += 1
            elif got[ln][0] != level:
                print(f"FAIL {name}:{ln}: flagged as API {got[ln][0]} ({got[ln][1]}), expected {level}")
                failures += 1
            else:
                print(f"ok   {name}:{ln}: {got[ln][1]} needs API {level}")
        for ln in sorted(set(got) - set(expected)):
            print(f"FAIL {name}:{ln}: flagged but not expected: {got[ln][1]} needs API {got[ln][0]}")
            failures += 1
    if not files:
        print("FAIL no fixtures")
        failures += 1
    print(f"android-api-check self-test: {'passed' if not failures else f'{failures} failed'} ({len(files)} fixtures)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
