#!/usr/bin/env python3
"""Static checks of the Android app, for a machine without the Android SDK (no aapt2, no
Gradle): what would make the build or the install fail, or what Ferry's app must declare.

    check-android.py [PROJECT_DIR]     # default: android/
    check-android.py --self-test       # builds a small project and broken variants in a temp dir

Checks, each failure printed as `check-android: FILE[:LINE]: message`, exit status 1 if any:
  * app/src/main/AndroidManifest.xml parses and asks for the permissions Ferry needs;
  * an exported activity takes SEND and SEND_MULTIPLE of */* (which covers text/plain) with the
    DEFAULT category, and an exported activity is the launcher (MAIN + LAUNCHER);
  * a service whose foregroundServiceType has dataSync, not exported;
  * every component with an intent filter says android:exported (required from Android 12);
  * every class named in the manifest is declared in app/src/main/{java,kotlin} in a file of its
    package (names starting with '.' resolve against the manifest's package, else the namespace
    of app/build.gradle.kts); classes of androidx/android/com.google are taken as libraries';
  * every @string/@drawable/@mipmap/@xml/@style/... reference in the manifest and res/xml/*.xml,
    and every R.string/R.drawable/R.mipmap/R.xml/R.plurals/... in the app's Kotlin, resolves to a
    resource of app/src/main/res (styles of AppCompat, Material and SplashScreen are libraries');
  * every res/values*/*.xml and res/xml/*.xml is well-formed; strings have no unescaped
    apostrophe and no several non-positional substitutions without formatted="false" (both
    aapt2 errors); no resource is defined twice in one values folder.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

A = "{http://schemas.android.com/apk/res/android}"
REQUIRED_PERMISSIONS = [
    "INTERNET",
    "ACCESS_NETWORK_STATE",
    "ACCESS_WIFI_STATE",
    "CHANGE_WIFI_MULTICAST_STATE",
    "POST_NOTIFICATIONS",
    "FOREGROUND_SERVICE",
    "FOREGROUND_SERVICE_DATA_SYNC",
    "FOREGROUND_SERVICE_SPECIAL_USE",
    "WAKE_LOCK",
    "ACCESS_LOCAL_NETWORK",
]
SEND = "android.intent.action.SEND"
SEND_MULTIPLE = "android.intent.action.SEND_MULTIPLE"
MAIN = "android.intent.action.MAIN"
DEFAULT = "android.intent.category.DEFAULT"
LAUNCHER = "android.intent.category.LAUNCHER"
COMPONENTS = ("activity", "activity-alias", "service", "receiver", "provider")
LIBRARY_CLASS_PREFIXES = ("android.", "androidx.", "com.google.", "kotlin.", "kotlinx.")
LIBRARY_STYLE_PREFIXES = (
    "Theme.AppCompat", "Theme.MaterialComponents", "Theme.Material3", "Theme.Design",
    "Theme.SplashScreen", "ThemeOverlay.", "Widget.", "TextAppearance.", "Base.", "Platform.",
)
# Resource types whose references are checked (ids and attrs are left alone).
CHECKED_TYPES = {
    "string", "plurals", "drawable", "mipmap", "xml", "style", "color", "dimen", "raw", "font",
    "layout", "array", "bool", "integer", "menu", "anim", "animator",
}
FILE_TYPES = {"drawable", "mipmap", "xml", "raw", "font", "layout", "menu", "anim", "animator", "color"}
VALUE_TAGS = {
    "string": "string", "plurals": "plurals", "style": "style", "color": "color",
    "dimen": "dimen", "bool": "bool", "integer": "integer", "string-array": "array",
    "integer-array": "array", "array": "array", "drawable": "drawable", "fraction": "fraction",
    "attr": "attr", "declare-styleable": "styleable",
}
XML_REF = re.compile(r"^@\+?(?:([\w.]+):)?(\w+)/([\w.]+)$")
KOTLIN_R_REF = re.compile(r"(?<![\w.])((?:[A-Za-z_]\w*\.)*)R\.(\w+)\.(\w+)")


class Checker:
    def __init__(self, root):
        self.root = root
        self.app = os.path.join(root, "app")
        self.main = os.path.join(self.app, "src", "main")
        self.res = os.path.join(self.main, "res")
        self.problems = []
        self.resources = {}  # type -> set of R field names ('.' as '_')
        self.defined_in = {}  # (values folder, type, R name) -> file, for duplicates

    def problem(self, path, msg, line=None):
        where = f"{path}:{line}" if line else path
        self.problems.append(f"{where}: {msg}")

    # ---------------------------------------------------------------- resources
    def index_resources(self):
        if not os.path.isdir(self.res):
            self.problem(self.res, "no resource folder")
            return
        for d in sorted(os.listdir(self.res)):
            path = os.path.join(self.res, d)
            if not os.path.isdir(path):
                continue
            kind = d.split("-")[0]
            for f in sorted(os.listdir(path)):
                fp = os.path.join(path, f)
                if not os.path.isfile(fp) or f.startswith("."):
                    continue
                if kind == "values":
                    if f.endswith(".xml"):
                        self.index_values(fp)
                elif kind in FILE_TYPES:
                    self.add_resource(kind, f.split(".")[0])
                    if kind == "xml" and f.endswith(".xml"):
                        self.parse(fp)

    def add_resource(self, kind, name):
        self.resources.setdefault(kind, set()).add(name.replace(".", "_"))

    def parse(self, path):
        try:
            return ET.parse(path)
        except ET.ParseError as e:
            self.problem(path, f"not well-formed XML: {e}")
        except OSError as e:
            self.problem(path, f"cannot read: {e}")
        return None

    def index_values(self, path):
        tree = self.parse(path)
        if tree is None:
            return
        folder = os.path.dirname(path)
        for el in tree.getroot():
            if not isinstance(el.tag, str):
                continue
            kind = el.get("type") if el.tag == "item" else VALUE_TAGS.get(el.tag)
            name = el.get("name")
            if not kind or not name:
                continue
            self.add_resource(kind, name)
            key = (folder, kind, name.replace(".", "_"))
            if kind not in ("attr", "id") and key in self.defined_in:
                self.problem(path, f"{kind} '{name}' is defined twice in {os.path.basename(folder)}/ "
                                   f"(also in {os.path.basename(self.defined_in[key])})")
            self.defined_in[key] = path
            if el.tag == "string":
                self.check_string(path, name, el, formatted=el.get("formatted", "true") != "false"
                                  and el.get("translatable", "true") != "false")
            elif el.tag in ("plurals", "string-array"):
                for item in el.findall("item"):
                    self.check_string(path, name, item, formatted=False)

    def check_string(self, path, name, el, formatted):
        text = "".join(el.itertext())
        quoted, i, out = False, 0, []
        while i < len(text):
            c = text[i]
            if c == "\\":
                out.append(text[i:i + 2])
                i += 2
                continue
            if c == '"':
                quoted = not quoted
            elif c == "'" and not quoted:
                self.problem(path, f"string '{name}': unescaped apostrophe (write \\' ; &apos; is "
                                   f"not enough): {text.strip()[:60]!r}")
                return
            else:
                out.append(c)
            i += 1
        if formatted and not java_format_ok("".join(out)):
            self.problem(path, f"string '{name}': several substitutions of which some are not "
                               f"positional (use %1$s, %2$d, or formatted=\"false\")")

    def has_resource(self, kind, name):
        if kind == "style" and name.replace("_", ".").startswith(LIBRARY_STYLE_PREFIXES):
            return True
        return name.replace(".", "_") in self.resources.get(kind, ())

    def check_xml_refs(self, path, tree):
        for el in tree.iter():
            for attr, value in el.attrib.items():
                m = XML_REF.match(value.strip())
                if not m:
                    continue
                pkg, kind, name = m.groups()
                if pkg or kind not in CHECKED_TYPES:
                    continue
                if not self.has_resource(kind, name):
                    tag = el.tag if isinstance(el.tag, str) else "?"
                    self.problem(path, f"<{tag.split('}')[-1]} {short(attr)}=\"{value}\">: "
                                       f"no {kind} resource '{name}' in app/src/main/res")

    # ---------------------------------------------------------------- Kotlin
    def kotlin_files(self):
        for base in ("java", "kotlin"):
            top = os.path.join(self.main, base)
            for dirpath, dirnames, filenames in os.walk(top):
                dirnames.sort()
                for f in sorted(filenames):
                    if f.endswith((".kt", ".java")):
                        yield os.path.join(dirpath, f)

    def index_classes(self):
        classes = set()  # fully qualified, nested with '$'
        self.sources = []
        for path in self.kotlin_files():
            try:
                with open(path, encoding="utf-8") as fh:
                    text = strip_comments(fh.read())
            except (OSError, UnicodeDecodeError) as e:
                self.problem(path, f"cannot read: {e}")
                continue
            self.sources.append((path, text))
            m = re.search(r"^\s*package\s+([\w.`]+)", text, re.M)
            pkg = m.group(1).replace("`", "") if m else ""
            names = re.findall(r"(?<!::)\bclass[ \t]+`?(\w+)", text)
            for n in names:
                classes.add(f"{pkg}.{n}" if pkg else n)
            # Nested classes (Outer$Inner in a manifest): accept any pair declared in the file.
            for outer in names:
                for inner in names:
                    if outer != inner:
                        classes.add(f"{pkg}.{outer}${inner}" if pkg else f"{outer}${inner}")
        return classes

    def check_kotlin_refs(self, namespace):
        for path, text in self.sources:
            plain_r_is_android = re.search(r"^\s*import\s+android\.R\s*$", text, re.M) is not None
            for m in KOTLIN_R_REF.finditer(text):
                prefix, kind, name = m.groups()
                if kind not in CHECKED_TYPES:
                    continue
                if prefix == "" and plain_r_is_android:
                    continue
                if prefix and prefix.rstrip(".") != namespace:
                    continue  # android.R, a library's R
                if not self.has_resource(kind, name):
                    line = text.count("\n", 0, m.start()) + 1
                    self.problem(path, f"R.{kind}.{name}: no such {kind} resource in app/src/main/res",
                                 line)

    # ---------------------------------------------------------------- manifest
    def namespace(self, manifest_root):
        pkg = manifest_root.get("package")
        if pkg:
            return pkg
        for name, pattern in (("build.gradle.kts", r'\bnamespace\s*=\s*"([^"]+)"'),
                              ("build.gradle", r"""\bnamespace\s*=?\s*['"]([^'"]+)['"]""")):
            p = os.path.join(self.app, name)
            if os.path.isfile(p):
                with open(p, encoding="utf-8") as fh:
                    m = re.search(pattern, fh.read())
                if m:
                    return m.group(1)
        return None

    def check_manifest(self, path, root, classes, namespace):
        if root.tag != "manifest":
            self.problem(path, f"root element is <{root.tag}>, not <manifest>")
            return
        perms = {e.get(A + "name") for e in root if e.tag in ("uses-permission", "uses-permission-sdk-23")}
        for p in REQUIRED_PERMISSIONS:
            if "android.permission." + p not in perms:
                self.problem(path, f'missing <uses-permission android:name="android.permission.{p}"/>')

        app = root.find("application")
        if app is None:
            self.problem(path, "no <application>")
            return
        components = [c for c in app if c.tag in COMPONENTS]

        def filters(c):
            out = []
            for f in c.findall("intent-filter"):
                out.append((
                    {a.get(A + "name") for a in f.findall("action")},
                    {a.get(A + "name") for a in f.findall("category")},
                    {d.get(A + "mimeType") for d in f.findall("data") if d.get(A + "mimeType")},
                ))
            return out

        def label(c):
            return f"<{c.tag} android:name=\"{c.get(A + 'name')}\">"

        for c in components:
            if c.findall("intent-filter") and c.get(A + "exported") is None:
                self.problem(path, f"{label(c)} has intent filters but no android:exported "
                                   f"(required from Android 12)")

        activities = [c for c in components if c.tag in ("activity", "activity-alias")]

        def shares(c, action):
            return any(action in acts and DEFAULT in cats and "*/*" in mimes
                       for acts, cats, mimes in filters(c))

        share = [c for c in activities if shares(c, SEND) and shares(c, SEND_MULTIPLE)]
        if not share:
            for action in (SEND, SEND_MULTIPLE):
                if not any(shares(c, action) for c in activities):
                    self.problem(path, f"no activity has an intent filter with action {action}, "
                                       f"category {DEFAULT} and mimeType */*")
            if all(any(shares(c, a) for c in activities) for a in (SEND, SEND_MULTIPLE)):
                self.problem(path, f"no single activity takes both {SEND} and {SEND_MULTIPLE} of */*")
        elif not any(c.get(A + "exported") == "true" for c in share):
            self.problem(path, f"{label(share[0])} takes shared files but is not android:exported=\"true\"")

        launchers = [c for c in activities
                     if any(MAIN in acts and LAUNCHER in cats for acts, cats, _ in filters(c))]
        if not launchers:
            self.problem(path, f"no launcher activity (intent filter with {MAIN} and {LAUNCHER})")
        elif not any(c.get(A + "exported") == "true" for c in launchers):
            self.problem(path, f"{label(launchers[0])} is the launcher but not android:exported=\"true\"")

        services = [c for c in components if c.tag == "service"]
        data_sync = [s for s in services
                     if "dataSync" in (s.get(A + "foregroundServiceType") or "").split("|")]
        if not data_sync:
            self.problem(path, 'no <service> with android:foregroundServiceType="dataSync"')
        for s in data_sync:
            if s.get(A + "exported") == "true":
                self.problem(path, f"{label(s)} (the dataSync foreground service) must not be exported")

        named = [app] + components
        for el in named:
            for attr in ("name", "targetActivity"):
                raw = el.get(A + attr)
                if not raw or (el.tag == "activity-alias" and attr == "name"):
                    continue
                if raw.startswith(".") or "." not in raw:
                    if not namespace:
                        self.problem(path, f"<{el.tag} android:{attr}=\"{raw}\">: relative class name "
                                           f"but no package in the manifest nor namespace in app/build.gradle.kts")
                        continue
                    fq = namespace + (raw if raw.startswith(".") else "." + raw)
                else:
                    fq = raw
                if fq in classes or fq.startswith(LIBRARY_CLASS_PREFIXES):
                    continue
                self.problem(path, f"<{el.tag} android:{attr}=\"{raw}\">: no class {fq} declared in "
                                   f"app/src/main/java or app/src/main/kotlin")

    # ---------------------------------------------------------------- all
    def run(self):
        if not os.path.isdir(self.root):
            self.problem(self.root, "no Android project here")
            return self.problems
        manifest = os.path.join(self.main, "AndroidManifest.xml")
        self.index_resources()
        classes = self.index_classes()
        if not os.path.isfile(manifest):
            self.problem(manifest, "missing")
            tree = None
        else:
            tree = self.parse(manifest)
        namespace = self.namespace(tree.getroot()) if tree is not None else self.namespace(ET.Element("x"))
        if tree is not None:
            self.check_manifest(manifest, tree.getroot(), classes, namespace)
            self.check_xml_refs(manifest, tree)
        xml_dir = os.path.join(self.res, "xml")
        if os.path.isdir(xml_dir):
            for f in sorted(os.listdir(xml_dir)):
                if f.endswith(".xml"):
                    t = self.parse_quiet(os.path.join(xml_dir, f))
                    if t is not None:
                        self.check_xml_refs(os.path.join(xml_dir, f), t)
        self.check_kotlin_refs(namespace)
        return self.problems

    def parse_quiet(self, path):
        try:
            return ET.parse(path)
        except (ET.ParseError, OSError):
            return None  # already reported by index_resources


def short(attr):
    return "android:" + attr[len(A):] if attr.startswith(A) else attr


def java_format_ok(s):
    """aapt2's VerifyJavaStringFormat: False when there are several substitutions and some are
    not positional (translators may reorder them)."""
    i, n, args, nonpositional = 0, len(s), 0, False
    while i < n:
        if s[i] == "%" and i + 1 < n:
            i += 1
            if s[i] in "%n":
                i += 1
                continue
            args += 1
            j = i
            while j < n and s[j].isdigit():
                j += 1
            if j > i:
                i = j
                if i < n and s[i] != "$":
                    nonpositional = True
            elif s[i] == "<":
                nonpositional = True
                i += 1
                if i < n and s[i] == "$":
                    i += 1
            else:
                nonpositional = True
            while i < n and (s[i] in "-#+ ,(" or s[i].isdigit()):
                i += 1
            if i < n and s[i] in "DFKMWZkmwyz":
                return True  # a Time.format() pattern
        if i < n:
            i += 1
    return not (args > 1 and nonpositional)


def strip_comments(text):
    """Kotlin/Java text with comments and the literal parts of strings blanked (newlines kept,
    so line numbers hold); the code inside `${...}` templates is kept."""
    out, n = [], len(text)

    def blank(a, b):
        out.append(re.sub(r"[^\n]", " ", text[a:b]))

    def code(i, in_template):
        depth = 0
        while i < n:
            c = text[i]
            if text.startswith("//", i):
                j = text.find("\n", i)
                j = n if j < 0 else j
                blank(i, j)
                i = j
            elif text.startswith("/*", i):
                level, j = 1, i + 2
                while j < n and level:
                    if text.startswith("/*", j):
                        level, j = level + 1, j + 2
                    elif text.startswith("*/", j):
                        level, j = level - 1, j + 2
                    else:
                        j += 1
                blank(i, j)
                i = j
            elif text.startswith('"""', i):
                out.append('"""')
                i = string(i + 3, '"""')
            elif c == '"':
                out.append(c)
                i = string(i + 1, '"')
            elif c == "'":  # a char literal
                j = i + 1
                while j < n and text[j] not in "'\n":
                    j += 2 if text[j] == "\\" else 1
                j = min(j + 1, n)
                out.append("'")
                blank(i + 1, j - 1)
                out.append(text[j - 1:j] if j - 1 > i else "")
                i = j
            else:
                if in_template:
                    if c == "{":
                        depth += 1
                    elif c == "}":
                        if depth == 0:
                            out.append(c)
                            return i + 1
                        depth -= 1
                out.append(c)
                i += 1
        return i

    def string(i, close):
        while i < n:
            if text.startswith(close, i):
                j = i + len(close)
                while close == '"""' and j < n and text[j] == '"':
                    j += 1  # """a"""" ends with the last three quotes
                blank(i, j - len(close))
                out.append(close)
                return j
            if text.startswith("${", i):
                out.append("${")
                i = code(i + 2, True)
            elif text[i] == "\\" and close == '"':
                blank(i, min(i + 2, n))
                i += 2
            elif text[i] == "\n" and close == '"':
                return i  # unterminated: stop at the end of the line
            else:
                blank(i, i + 1)
                i += 1
        return i

    code(0, False)
    return "".join(out)


def check(root):
    return Checker(root).run()


def main(argv):
    if argv[1:2] == ["--self-test"]:
        return self_test()
    if len(argv) > 2 or argv[1:2] and argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = argv[1] if len(argv) > 1 else "android"
    problems = check(root)
    for p in problems:
        print(f"check-android: {p}", file=sys.stderr)
    if problems:
        print(f"check-android: {len(problems)} problem(s) in {root}", file=sys.stderr)
        return 1
    print(f"check-android: {root} OK")
    return 0


# -------------------------------------------------------------------- self-test
GOOD = {
    "app/build.gradle.kts": 'android {\n    namespace = "app.ferry.android"\n    compileSdk = 36\n}\n',
    "app/src/main/AndroidManifest.xml": """<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android">
    <uses-permission android:name="android.permission.INTERNET" />
    <uses-permission android:name="android.permission.ACCESS_NETWORK_STATE" />
    <uses-permission android:name="android.permission.ACCESS_WIFI_STATE" />
    <uses-permission android:name="android.permission.CHANGE_WIFI_MULTICAST_STATE" />
    <uses-permission android:name="android.permission.POST_NOTIFICATIONS" />
    <uses-permission android:name="android.permission.FOREGROUND_SERVICE" />
    <uses-permission android:name="android.permission.FOREGROUND_SERVICE_DATA_SYNC" />
    <uses-permission android:name="android.permission.FOREGROUND_SERVICE_SPECIAL_USE" />
    <uses-permission android:name="android.permission.WAKE_LOCK" />
    <uses-permission android:name="android.permission.ACCESS_LOCAL_NETWORK" />
    <application
        android:name=".FerryApp"
        android:label="@string/app_name"
        android:icon="@mipmap/ic_launcher"
        android:theme="@style/Theme.Ferry"
        android:networkSecurityConfig="@xml/network_security_config">
        <activity android:name=".MainActivity" android:exported="true">
            <intent-filter>
                <action android:name="android.intent.action.MAIN" />
                <category android:name="android.intent.category.LAUNCHER" />
            </intent-filter>
            <intent-filter>
                <action android:name="android.intent.action.SEND" />
                <action android:name="android.intent.action.SEND_MULTIPLE" />
                <category android:name="android.intent.category.DEFAULT" />
                <data android:mimeType="*/*" />
            </intent-filter>
        </activity>
        <service
            android:name=".transfer.TransferService"
            android:exported="false"
            android:foregroundServiceType="dataSync|connectedDevice" />
        <provider
            android:name="androidx.core.content.FileProvider"
            android:authorities="app.ferry.android.files"
            android:exported="false" />
    </application>
</manifest>
""",
    "app/src/main/java/app/ferry/android/FerryApp.kt":
        "package app.ferry.android\n\nimport android.app.Application\n\nclass FerryApp : Application()\n",
    "app/src/main/java/app/ferry/android/MainActivity.kt": """package app.ferry.android

import androidx.activity.ComponentActivity
import android.os.Bundle

// R.string.not_a_resource in a comment is ignored
class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        title = getString(R.string.app_name) + "// R.string.in_a_string ${getString(R.string.app_name)}"
        val c = '"'
        val raw = \"\"\" R.string.in_a_raw_string ${R.drawable.ic_notification} \"\"\"
        val n = resources.getQuantityString(R.plurals.files, 2, 2)
        val ok = getString(android.R.string.ok)
        setTheme(R.style.Theme_Ferry)
        val icon = R.drawable.ic_notification
    }
}
""",
    "app/src/main/java/app/ferry/android/transfer/TransferService.kt": """package app.ferry.android.transfer

import android.app.Service

class TransferService : Service() {
    override fun onBind(intent: android.content.Intent?) = null
    private fun label() = getString(app.ferry.android.R.string.sending, 3, "x")
}
""",
    "app/src/main/res/values/strings.xml": """<?xml version="1.0" encoding="utf-8"?>
<resources xmlns:xliff="urn:oasis:names:tc:xliff:document:1.2">
    <string name="app_name">Ferry</string>
    <string name="sending">Sending %1$d files to %2$s</string>
    <string name="cant_connect">Can\\'t connect</string>
    <string name="quoted">"Don't panic"</string>
    <string name="percent">%d%% done</string>
    <string name="free" formatted="false">%s and %s</string>
    <string name="span">Hello <xliff:g id="name">%1$s</xliff:g>, it\\'s ready</string>
    <plurals name="files">
        <item quantity="one">%d file</item>
        <item quantity="other">%d files</item>
    </plurals>
</resources>
""",
    "app/src/main/res/values-de/strings.xml": """<?xml version="1.0" encoding="utf-8"?>
<resources>
    <string name="app_name">Ferry</string>
</resources>
""",
    "app/src/main/res/values/themes.xml": """<?xml version="1.0" encoding="utf-8"?>
<resources>
    <style name="Theme.Ferry" parent="android:Theme.Material.Light.NoActionBar" />
</resources>
""",
    "app/src/main/res/xml/network_security_config.xml": """<?xml version="1.0" encoding="utf-8"?>
<network-security-config>
    <base-config cleartextTrafficPermitted="true" />
</network-security-config>
""",
    "app/src/main/res/xml/shortcuts.xml": """<?xml version="1.0" encoding="utf-8"?>
<shortcuts xmlns:android="http://schemas.android.com/apk/res/android">
    <shortcut android:shortcutId="receive" android:icon="@drawable/ic_notification"
        android:shortcutShortLabel="@string/app_name" />
</shortcuts>
""",
    "app/src/main/res/drawable/ic_notification.xml": "<vector/>\n",
    "app/src/main/res/mipmap-anydpi-v26/ic_launcher.xml": "<adaptive-icon/>\n",
    "app/src/main/res/mipmap-hdpi/ic_launcher.png": "",
}

MANIFEST = "app/src/main/AndroidManifest.xml"
STRINGS = "app/src/main/res/values/strings.xml"
MAIN_KT = "app/src/main/java/app/ferry/android/MainActivity.kt"


def edit(path, old, new):
    def apply(files):
        assert old in files[path], (path, old)
        files[path] = files[path].replace(old, new)
    return apply


def delete(path):
    def apply(files):
        del files[path]
    return apply


# name, change to the good project, text every expected problem contains
VARIANTS = [
    ("missing permission",
     edit(MANIFEST, '    <uses-permission android:name="android.permission.ACCESS_LOCAL_NETWORK" />\n', ""),
     "android.permission.ACCESS_LOCAL_NETWORK"),
    ("service without dataSync",
     edit(MANIFEST, 'android:foregroundServiceType="dataSync|connectedDevice"',
          'android:foregroundServiceType="connectedDevice"'),
     'foregroundServiceType="dataSync"'),
    ("exported service",
     edit(MANIFEST, 'android:name=".transfer.TransferService"\n            android:exported="false"',
          'android:name=".transfer.TransferService"\n            android:exported="true"'),
     "must not be exported"),
    ("missing string (manifest)",
     edit(MANIFEST, "@string/app_name", "@string/ferry_name"), "no string resource 'ferry_name'"),
    ("missing string (Kotlin)",
     edit(MAIN_KT, "R.plurals.files", "R.plurals.folders"), "R.plurals.folders"),
    ("missing string (Kotlin string template)",
     edit(MAIN_KT, "${getString(R.string.app_name)}", "${getString(R.string.nope)}"), "R.string.nope"),
    ("missing drawable (res/xml)",
     edit("app/src/main/res/xml/shortcuts.xml", "@drawable/ic_notification", "@drawable/ic_receive"),
     "no drawable resource 'ic_receive'"),
    ("missing style",
     delete("app/src/main/res/values/themes.xml"), "Theme"),
    ("missing mipmap",
     edit(MANIFEST, "@mipmap/ic_launcher", "@mipmap/ic_ferry"), "no mipmap resource 'ic_ferry'"),
    ("missing xml",
     delete("app/src/main/res/xml/network_security_config.xml"), "network_security_config"),
    ("no SEND_MULTIPLE",
     edit(MANIFEST, '<action android:name="android.intent.action.SEND_MULTIPLE" />', ""),
     "SEND_MULTIPLE"),
    ("share filter not */*",
     edit(MANIFEST, 'android:mimeType="*/*"', 'android:mimeType="image/*"'), "mimeType */*"),
    ("share activity not exported",
     edit(MANIFEST, '<activity android:name=".MainActivity" android:exported="true">',
          '<activity android:name=".MainActivity" android:exported="false">'),
     'not android:exported="true"'),
    ("no launcher",
     edit(MANIFEST, '<category android:name="android.intent.category.LAUNCHER" />', ""),
     "no launcher activity"),
    ("intent filter without exported",
     edit(MANIFEST, '<activity android:name=".MainActivity" android:exported="true">',
          '<activity android:name=".MainActivity">'),
     "android:exported"),
    ("missing class",
     edit(MANIFEST, 'android:name=".transfer.TransferService"', 'android:name=".TransferService"'),
     "no class app.ferry.android.TransferService"),
    ("class in the wrong package",
     edit("app/src/main/java/app/ferry/android/transfer/TransferService.kt",
          "package app.ferry.android.transfer", "package app.ferry.android.net"),
     "no class app.ferry.android.transfer.TransferService"),
    ("unescaped apostrophe",
     edit(STRINGS, "Can\\'t connect", "Can't connect"), "unescaped apostrophe"),
    ("&apos; is not an escape for aapt2",
     edit(STRINGS, "Can\\'t connect", "Can&apos;t connect"), "unescaped apostrophe"),
    ("non-positional substitutions",
     edit(STRINGS, "Sending %1$d files to %2$s", "Sending %d files to %s"), "not positional"),
    ("malformed strings.xml",
     edit(STRINGS, "<string name=\"app_name\">Ferry</string>", "<string name=\"app_name\">Ferry</strin>"),
     "not well-formed"),
    ("duplicate string",
     edit(STRINGS, "</resources>", '    <string name="app_name">Ferry 2</string>\n</resources>'),
     "defined twice"),
    ("malformed manifest",
     edit(MANIFEST, "</manifest>", "</manifes>"), "not well-formed"),
    ("no namespace for relative names",
     edit("app/build.gradle.kts", 'namespace = "app.ferry.android"', ""), "relative class name"),
]


def write_project(root, files):
    for rel, text in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as fh:
            fh.write(text)


def self_test():
    passed = failed = 0

    def result(ok, name, detail):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok   {name}: {detail}")
        else:
            failed += 1
            print(f"FAIL {name}: {detail}")

    tmp = tempfile.mkdtemp(prefix="check-android-")
    try:
        good = os.path.join(tmp, "good")
        write_project(good, GOOD)
        problems = check(good)
        result(not problems, "good project", "no problems" if not problems else "; ".join(problems))
        # The command line: exit 0 on the good project, 1 on a broken one.
        rc = subprocess.run([sys.executable, __file__, good], capture_output=True).returncode
        result(rc == 0, "exit status (good)", f"{rc}")
        for i, (name, change, expected) in enumerate(VARIANTS):
            files = dict(GOOD)
            change(files)
            root = os.path.join(tmp, f"variant{i}")
            write_project(root, files)
            problems = check(root)
            hit = [p for p in problems if expected in p]
            result(bool(hit), name, hit[0].replace(root + os.sep, "") if hit else
                   f"expected a problem containing {expected!r}, got {problems}")
            if i == 0:
                rc = subprocess.run([sys.executable, __file__, root], capture_output=True).returncode
                result(rc == 1, "exit status (broken)", f"{rc}")
        rc = subprocess.run([sys.executable, __file__, os.path.join(tmp, "nothing")],
                            capture_output=True).returncode
        result(rc == 1, "exit status (no project)", f"{rc}")
    finally:
        shutil.rmtree(tmp)
    print(f"check-android self-test: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
