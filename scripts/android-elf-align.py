#!/usr/bin/env python3
"""16 KB page support of Android native libraries: every PT_LOAD segment of each ELF shared
library is aligned to at least 16384 bytes (Google Play requires it for apps targeting Android 15+
on 16 KB page devices), and in an APK every uncompressed lib/*.so starts at a 16 KB boundary of
the file (what `zipalign -c -P 16 -v 4` checks).

    android-elf-align.py PATH...      # .so files, folders of them (jniLibs/), or .apk files
    android-elf-align.py --self-test  # links two small libraries with gcc (4 KB and 16 KB pages)

Prints one line per library and exits 1 when any is not aligned. The same by hand, with the
Android SDK: `zipalign -c -P 16 -v 4 app.apk` and `llvm-readelf -l lib.so` (LOAD lines, Align
0x4000 or more).
"""
import os
import struct
import subprocess
import sys
import tempfile
import zipfile

PAGE = 16384
PT_LOAD = 1


def load_alignments(data):
    """The p_align of each PT_LOAD segment of an ELF image (bytes). Raises ValueError if not ELF."""
    if data[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    cls, endian = data[4], data[5]
    if cls not in (1, 2) or endian not in (1, 2):
        raise ValueError("unknown ELF class or byte order")
    e = "<" if endian == 1 else ">"
    if cls == 2:  # ELF64
        phoff, = struct.unpack_from(e + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(e + "HH", data, 0x36)
        fmt, align_at = e + "I", 0x30
        align_fmt = e + "Q"
    else:  # ELF32
        phoff, = struct.unpack_from(e + "I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(e + "HH", data, 0x2A)
        fmt, align_at = e + "I", 0x1C
        align_fmt = e + "I"
    if phnum == 0 or phoff + phnum * phentsize > len(data):
        raise ValueError("no program headers")
    out = []
    for i in range(phnum):
        at = phoff + i * phentsize
        p_type, = struct.unpack_from(fmt, data, at)
        if p_type == PT_LOAD:
            out.append(struct.unpack_from(align_fmt, data, at + align_at)[0])
    return out


def check_elf(name, data):
    """Problems of one library (empty: fine)."""
    try:
        aligns = load_alignments(data)
    except (ValueError, struct.error) as e:
        return [f"{name}: {e}"]
    if not aligns:
        return [f"{name}: no LOAD segment"]
    bad = [a for a in aligns if a < PAGE]
    if bad:
        return [f"{name}: LOAD segments aligned to {', '.join(hex(a) for a in bad)}, not 16 KB (0x4000): "
                "link with NDK r28+ or -Wl,-z,max-page-size=16384"]
    return []


def check_apk(path):
    problems, count = [], 0
    with open(path, "rb") as raw, zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if not (info.filename.startswith("lib/") and info.filename.endswith(".so")):
                continue
            count += 1
            name = f"{path}!{info.filename}"
            problems += check_elf(name, z.read(info))
            if info.compress_type == zipfile.ZIP_STORED:
                # The data starts after the local header (30 bytes), the name and the local extra field.
                raw.seek(info.header_offset + 26)
                n, m = struct.unpack("<HH", raw.read(4))
                start = info.header_offset + 30 + n + m
                if start % PAGE:
                    problems.append(f"{name}: stored at offset {start}, not on a 16 KB boundary (zipalign -P 16)")
    return count, problems


def check_paths(paths):
    problems, count = [], 0
    for p in paths:
        if os.path.isdir(p):
            files = sorted(os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs if f.endswith(".so"))
        else:
            files = [p]
        for f in files:
            if f.endswith(".apk"):
                c, pr = check_apk(f)
                count += c
                problems += pr
            else:
                count += 1
                with open(f, "rb") as fh:
                    problems += check_elf(f, fh.read())
    return count, problems


def self_test():
    cc = "gcc"
    failures = 0
    with tempfile.TemporaryDirectory(prefix="elf-align-") as tmp:
        src = os.path.join(tmp, "x.c")
        with open(src, "w") as fh:
            fh.write("int ferry_answer(void) { return 42; }\n")
        built = {}
        for page in (4096, 16384):
            out = os.path.join(tmp, f"lib{page}.so")
            subprocess.run([cc, "-shared", "-fPIC", f"-Wl,-z,max-page-size={page}", "-o", out, src], check=True)
            built[page] = out
        cases = [
            ("16 KB pages pass", [built[16384]], False),
            ("4 KB pages fail", [built[4096]], True),
            ("not an ELF fails", [src], True),
        ]
        # An APK with the good library stored at an unaligned offset, and one aligned.
        for aligned in (False, True):
            apk = os.path.join(tmp, f"app-{aligned}.apk")
            with zipfile.ZipFile(apk, "w") as z:
                z.writestr("AndroidManifest.xml", b"x")
                info = zipfile.ZipInfo("lib/x86_64/libferry_ffi.so")
                info.compress_type = zipfile.ZIP_STORED
                name_len = len(info.filename)
                if aligned:
                    # Pad the local extra field so that the data lands on a 16 KB boundary.
                    here = z.fp.tell()
                    pad = (-(here + 30 + name_len + 4)) % PAGE
                    info.extra = struct.pack("<HH", 0xD935, pad) + b"\0" * pad
                with open(built[16384], "rb") as fh:
                    z.writestr(info, fh.read())
            cases.append((f"apk {'aligned' if aligned else 'unaligned'}", [apk], not aligned))
        for name, paths, should_fail in cases:
            count, problems = check_paths(paths)
            failed = bool(problems) or count == 0
            ok = failed == should_fail
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}: {'; '.join(problems) or 'aligned'}")
    print(f"android-elf-align self-test: {'passed' if not failures else f'{failures} failed'}")
    return 1 if failures else 0


def main(argv):
    if argv == ["--self-test"]:
        return self_test()
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    count, problems = check_paths(argv)
    for p in problems:
        print(f"android-elf-align: {p}")
    if count == 0:
        print("android-elf-align: no .so file found", file=sys.stderr)
        return 1
    if problems:
        return 1
    print(f"android-elf-align: {count} libraries aligned for 16 KB pages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
