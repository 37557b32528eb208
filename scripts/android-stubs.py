#!/usr/bin/env python3
"""Java stub sources of the android.* classes some Kotlin files use, generated from the
declarations of @nativescript/types-android (the same index as android-api-check.py), so that
kotlinc can type-check those files without the Android SDK:

    android-stubs.py --decls FILE.d.ts --out DIR KOTLIN_FILE...

Which classes: those the files import or name (with the nested classes they reach, as
`Outer.Nested`), with every member, their supertypes likewise, and the classes their members'
signatures mention as empty shells (so that a call on one of those shows up as an error, not as
a guess). Bodies throw; nothing runs.

What the declarations lose, and how the stubs make up for it (limits of the type check):
  * `number` is every Java number type: a parameter is `int` or `long` in overloads of every
    combination (Kotlin passes an Int or a Long as written); a return is what the name says
    (getLongExtra: long, …Float: float), else `long` for names of times and sizes (…Millis,
    …Time, getWhen, …Size, …Length, …Bytes), else `int`;
  * generics are mostly erased (`any`): such values are Object;
  * abstract classes are open classes with open methods, and interface methods have default
    bodies (an override that the real type forces is not checked); shells implement only
    android.* interfaces.
"""
import importlib.util
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("api_check", os.path.join(HERE, "android-api-check.py"))
api = importlib.util.module_from_spec(spec)
spec.loader.exec_module(api)

JAVA_KEYWORDS = {"default", "package", "class", "interface", "new", "native", "final", "switch", "case", "char", "int",
                 "long", "short", "byte", "float", "double", "boolean", "public", "private", "protected", "static",
                 "abstract", "synchronized", "transient", "volatile", "throw", "throws", "try", "catch", "finally",
                 "return", "this", "super", "import", "void", "while", "do", "for", "if", "else", "goto", "const",
                 "enum", "assert", "continue", "break", "instanceof", "extends", "implements", "strictfp"}
# Java annotations (the declarations show them as interfaces): their one element.
ANNOTATIONS = {"android.annotation.SuppressLint": "String[] value();", "android.annotation.TargetApi": "int value();"}
# java.lang.Object's final methods, which the declarations repeat in some classes.
OBJECT_FINAL = {("notify", 0), ("notifyAll", 0), ("wait", 0), ("wait", 1), ("wait", 2), ("getClass", 0)}
LONG_RETURN = re.compile(r"(Millis|Time|When|Size|Length|Bytes|Timeout|Duration)$")
STUB_PREFIXES = ("android.",)


class Generator:
    def __init__(self, index):
        self.idx = index
        self.full = set()
        self.shallow = set()

    def is_stubbed(self, cls):
        return cls.startswith(STUB_PREFIXES) and cls in self.idx

    def add_full(self, cls):
        if cls in self.full or not self.is_stubbed(cls):
            return
        self.full.add(cls)
        self.shallow.discard(cls)
        for s in self.idx[cls]["supers"]:
            self.add_full(s)
        self.add_outer(cls)

    def add_outer(self, cls):
        outer = cls.rsplit(".", 1)[0]
        if outer in self.idx and outer not in self.full:
            self.add_shallow(outer)

    def add_shallow(self, cls):
        if cls in self.full or cls in self.shallow or not self.is_stubbed(cls):
            return
        self.shallow.add(cls)
        for s in self.idx[cls]["supers"]:
            self.add_shallow(s)
        self.add_outer(cls)

    def types_in(self, t):
        return re.findall(r"(?:android|java|javax)\.[\w.]+", t or "")

    def close(self):
        # What a call on a used class returns is used too: those classes get their members
        # (one level: what their members return are shells).
        for cls in list(self.full):
            for overloads in self.idx[cls]["members"].values():
                for o in overloads:
                    if o[1] in ("method", "static", "field", "sfield"):
                        for name in self.types_in(o[4]):
                            self.add_full(name)
        for cls in list(self.full):
            for overloads in self.idx[cls]["members"].values():
                for o in overloads:
                    for t in o[2] + [o[4] or ""]:
                        for name in self.types_in(t):
                            self.add_shallow(name)

    # --- Java ----------------------------------------------------------------------------------

    def jtype(self, t, ret=False, name="", number="int"):
        t = (t or "void").strip()
        t = re.sub(r"\s*\|\s*null$", "", t)
        m = re.fullmatch(r"androidNative\.Array<(.*)>", t)
        if m:
            return self.jtype(m.group(1), number=number) + "[]"
        base = re.sub(r"<.*>$", "", t)
        if base == "string":
            return "String"
        if base == "boolean":
            return "boolean"
        if base == "void":
            return "void"
        if base == "number":
            if ret:
                for word, jt in (("Long", "long"), ("Float", "float"), ("Double", "double"), ("Int", "int")):
                    if word in name:
                        return jt
                return "long" if LONG_RETURN.search(name) else "int"
            return number
        if base.startswith(("java.", "javax.")):
            m = re.fullmatch(r"(java\.util\.(?:List|Set|Collection|Map|ArrayList|HashMap|HashSet))<(.*)>", t)
            if m:
                args = [self.jtype(a, number="Integer") for a in split_top(m.group(2))]
                if all(a != "Object" for a in args):
                    return f"{m.group(1)}<{', '.join(box(a) for a in args)}>"
            return base if "$" not in base else "Object"
        if base.startswith("android."):
            return base if (base in self.full or base in self.shallow) else "Object"
        return "Object"

    def java_name(self, cls):
        return cls

    def class_source(self, cls, indent, nested_of):
        info = self.idx[cls]
        simple = cls.rsplit(".", 1)[1]
        full = cls in self.full
        iface = info["kind"] == "interface"
        supers = [s for s in info["supers"] if s != "java.lang.Object" and (s in self.full or s in self.shallow or
                                                                          (full and s.startswith("java.")))]
        ifaces = [s for s in supers if self.idx.get(s, {}).get("kind") == "interface"]
        klass = [s for s in supers if s not in ifaces]
        static = "static " if nested_of else ""
        pad = "    " * indent
        out = []
        if cls in ANNOTATIONS:
            return [f"{pad}public @interface {simple} {{ {ANNOTATIONS[cls]} }}"]
        if iface:
            ext = f" extends {', '.join(ifaces)}" if ifaces else ""
            out.append(f"{pad}public {static}interface {simple}{ext} {{")
        else:
            ext = f" extends {klass[0]}" if klass else ""
            imp = f" implements {', '.join(ifaces)}" if ifaces else ""
            out.append(f"{pad}public {static}class {simple}{ext}{imp} {{")
            no_arg = any(not o[2] for o in info["members"].get("<init>", [])) and full
            out.append(f"{pad}    {'public' if no_arg else 'protected'} {simple}() {{ {'super(); ' if not klass else ''}}}")
        seen = set()
        if full:
            for name, overloads in sorted(info["members"].items()):
                for o in overloads:
                    _, kind, params, const, typ = o
                    if kind in ("sfield", "field"):
                        if name in seen or not re.fullmatch(r"[A-Za-z_]\w*", name) or name in JAVA_KEYWORDS:
                            continue
                        seen.add(name)
                        st = "static " if kind == "sfield" else ""
                        if const:
                            if typ.startswith('"'):
                                out.append(f"{pad}    public static final String {name} = {typ};")
                            elif typ in ("true", "false"):
                                out.append(f"{pad}    public static final boolean {name} = {typ};")
                            else:
                                n = int(float(typ)) if re.fullmatch(r"-?\d+(\.0+)?", typ) else None
                                if n is None:
                                    out.append(f"{pad}    public static final double {name} = {typ};")
                                elif -2**31 <= n < 2**31:
                                    out.append(f"{pad}    public static final int {name} = {n};")
                                else:
                                    out.append(f"{pad}    public static final long {name} = {n}L;")
                        else:
                            jt = self.jtype(typ, ret=True, name=name)
                            if iface and kind == "sfield":
                                out.append(f"{pad}    public static final {jt} {name} = {default_value(jt)};")
                            elif iface:
                                continue
                            else:
                                out.append(f"{pad}    public {st}{jt} {name};")
                        continue
                    if name != "<init>" and (name in JAVA_KEYWORDS or not re.fullmatch(r"[A-Za-z_$][\w$]*", name)):
                        continue
                    if (name, len(params)) in OBJECT_FINAL or iface and name in ("equals", "hashCode", "toString"):
                        continue
                    # Each `number` parameter as int or long: every combination up to 3 of them, else all int or all long.
                    numbers = [i for i, p in enumerate(params) if p.strip() == "number"]
                    if not numbers:
                        variants = [{}]
                    elif len(numbers) <= 3:
                        variants = [{i: ("long" if bits >> k & 1 else "int") for k, i in enumerate(numbers)} for bits in range(2 ** len(numbers))]
                    else:
                        variants = [{i: "int" for i in numbers}, {i: "long" for i in numbers}]
                    # `(Class<any>): any` is `<T> T (Class<T>)` (getSystemService and the like), erased by the declarations.
                    generic = typ == "any" and any(p.strip() == "java.lang.Class<any>" for p in params)
                    for number in variants:
                        ps = [f"{self.jtype(p, number=number.get(i, 'int'))} p{i}" for i, p in enumerate(params)]
                        if generic:
                            ps = [f"java.lang.Class<T> p{i}" if p.strip() == "java.lang.Class<any>" else q for i, (p, q) in enumerate(zip(params, ps))]
                        if ps and ps[-1].split(" ")[0].endswith("[]") and params[-1].strip().startswith("androidNative.Array<"):
                            # Varargs or an array: the declarations do not tell; varargs accepts both calls.
                            t, n = ps[-1].rsplit(" ", 1)
                            ps[-1] = f"{t[:-2]}... {n}"
                        sig = (name, tuple(p.split(" ")[0].replace("...", "[]") for p in ps))
                        if sig in seen:
                            continue
                        seen.add(sig)
                        if kind == "ctor":
                            if iface or not ps:
                                continue
                            out.append(f"{pad}    public {simple}({', '.join(ps)}) {{ {'super(); ' if not klass else ''}throw new RuntimeException(); }}")
                            continue
                        rt = self.jtype(typ, ret=True, name=name)
                        st = "static " if kind == "static" else ""
                        if generic:
                            st += "<T> "
                            rt = "T"
                        if iface and kind != "static":
                            # default, not abstract: the shells that implement it need not.
                            out.append(f"{pad}    default {rt} {name}({', '.join(ps)}) {{ throw new RuntimeException(); }}")
                        else:
                            out.append(f"{pad}    public {st}{rt} {name}({', '.join(ps)}) {{ throw new RuntimeException(); }}")
        for child in sorted(self.full | self.shallow):
            if child.rsplit(".", 1)[0] == cls:
                out += self.class_source(child, indent + 1, cls)
        out.append(f"{pad}}}")
        return out

    def write(self, out_dir):
        count = 0
        for cls in sorted(self.full | self.shallow):
            outer = cls.rsplit(".", 1)[0]
            if outer in self.full or outer in self.shallow:
                continue  # written inside its outer class
            pkg, simple = cls.rsplit(".", 1)
            path = os.path.join(out_dir, *pkg.split("."), simple + ".java")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as fh:
                fh.write(f"// Generated by scripts/android-stubs.py from @nativescript/types-android: a stub, not the real class.\n")
                fh.write(f"package {pkg};\n\n")
                fh.write("\n".join(self.class_source(cls, 0, None)) + "\n")
            count += 1
        return count


def split_top(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return out + [cur.strip()]


def box(t):
    return {"int": "Integer", "long": "Long", "boolean": "Boolean", "double": "Double"}.get(t, t)


def default_value(jt):
    return {"int": "0", "long": "0L", "boolean": "false", "double": "0.0"}.get(jt, "null")


def referenced(index, files):
    """android.* classes the Kotlin files import or name, with the nested ones they reach."""
    out = set()
    for f in files:
        with open(f, encoding="utf-8") as fh:
            code = api.strip_code(fh.read())
        names = {}
        for line in code.split("\n"):
            m = api.IMPORT.match(line)
            if m and m.group(1) in index:
                names[m.group(2) or m.group(1).rsplit(".", 1)[1]] = m.group(1)
            elif m:
                # `import android.provider.Settings.Global` style or a member import: the longest class prefix.
                parts = m.group(1).split(".")
                for k in range(len(parts) - 1, 0, -1):
                    if ".".join(parts[:k]) in index:
                        out.add(".".join(parts[:k]))
                        break
        out.update(names.values())
        for m in re.finditer(r"(?<![\w.])([A-Z]\w*)((?:\.[A-Za-z]\w*)+)", code):
            cls = names.get(m.group(1))
            if not cls:
                continue
            for part in m.group(2).split(".")[1:]:
                if cls + "." + part in index:
                    cls = cls + "." + part
                    out.add(cls)
                else:
                    break
        for m in api.FQN.finditer(code):
            parts = m.group(1).split(".")
            for k in range(len(parts), 0, -1):
                if ".".join(parts[:k]) in index:
                    out.add(".".join(parts[:k]))
                    break
    return {c for c in out if c.startswith(STUB_PREFIXES)}


def main(argv):
    decls = out = None
    files = []
    i = 0
    while i < len(argv):
        if argv[i] == "--decls":
            decls = argv[i + 1]
            i += 2
        elif argv[i] == "--out":
            out = argv[i + 1]
            i += 2
        else:
            files.append(argv[i])
            i += 1
    if not decls or not out or not files:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    index = api.load_index(decls)
    gen = Generator(index)
    for c in referenced(index, files):
        gen.add_full(c)
    gen.close()
    n = gen.write(out)
    print(f"android-stubs: {len(gen.full)} classes with their members, {len(gen.shallow)} as shells, in {n} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
