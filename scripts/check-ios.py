#!/usr/bin/env python3
"""Checks the iOS project where no Xcode exists: the XcodeGen spec, the Info.plists and
entitlements, and that the logic package stays free of UI frameworks and has tests.

    check-ios.py [ios-dir]      exit 1 with one line per problem
    check-ios.py --self-test    proves each check fails on a broken copy
"""
import copy
import plistlib
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

APP_GROUP = "group.app.ferry"
UI_IMPORTS = re.compile(r"^\s*(@testable\s+)?import\s+(SwiftUI|UIKit|AppKit|Photos|PhotosUI|QuickLook)\b", re.M)


def load_plist(path, problems):
    try:
        with open(path, "rb") as f:
            return plistlib.load(f)
    except FileNotFoundError:
        problems.append(f"{path}: missing")
    except Exception as e:  # plistlib raises several kinds
        problems.append(f"{path}: not a valid plist: {e}")
    return None


def target_settings(t) -> dict:
    """A target's build settings: XcodeGen takes a flat map or one with `base` (and configs)."""
    settings = t.get("settings") or {}
    return {**{k: v for k, v in settings.items() if k not in ("base", "configs", "groups")}, **(settings.get("base") or {})}


def check(root: Path) -> list:
    p = []
    spec_path = root / "project.yml"
    try:
        spec = yaml.safe_load(spec_path.read_text())
    except FileNotFoundError:
        return [f"{spec_path}: missing"]
    except yaml.YAMLError as e:
        return [f"{spec_path}: not valid YAML: {e}"]
    targets = (spec or {}).get("targets") or {}
    app, ext = targets.get("Ferry"), targets.get("FerryShare")
    if not app or app.get("type") != "application":
        p.append("project.yml: no application target 'Ferry'")
    if not ext or ext.get("type") != "app-extension":
        p.append("project.yml: no app-extension target 'FerryShare'")
    for name, t in (("Ferry", app), ("FerryShare", ext)):
        if not t:
            continue
        sources = t.get("sources") or []
        for s in sources:
            path = s if isinstance(s, str) else (s or {}).get("path")
            if path and not (root / path).exists():
                p.append(f"project.yml: {name}: source {path} does not exist")
        settings = target_settings(t)
        info = (t.get("info") or {}).get("path") or settings.get("INFOPLIST_FILE")
        ent = (t.get("entitlements") or {}).get("path") or settings.get("CODE_SIGN_ENTITLEMENTS")
        for what, path in (("Info.plist", info), ("entitlements", ent)):
            if not path:
                p.append(f"project.yml: {name}: no {what}")
            elif not (root / path).is_file():
                p.append(f"project.yml: {name}: {what} {path} does not exist")
        deps = [d.get("package") for d in (t.get("dependencies") or []) if isinstance(d, dict)]
        if "FerryKit" not in deps:
            p.append(f"project.yml: {name}: does not depend on the FerryKit package")
    if ext:
        base = target_settings(ext)
        if str(base.get("APPLICATION_EXTENSION_API_ONLY", "")).upper() not in ("YES", "TRUE"):
            p.append("project.yml: FerryShare: APPLICATION_EXTENSION_API_ONLY is not YES")
        flags = base.get("OTHER_LDFLAGS", [])
        flags = flags if isinstance(flags, list) else str(flags).split()
        if not any("-application_extension" in f for f in flags):
            p.append("project.yml: FerryShare: the Rust library is not linked with -application_extension (OTHER_LDFLAGS)")
    if app:
        deps = [d.get("target") for d in (app.get("dependencies") or []) if isinstance(d, dict)]
        if "FerryShare" not in deps:
            p.append("project.yml: Ferry does not embed the FerryShare extension")
    pkgs = (spec or {}).get("packages") or {}
    kit = pkgs.get("FerryKit") or {}
    if not kit.get("path") or not (root / kit["path"] / "Package.swift").is_file():
        p.append("project.yml: package FerryKit has no Package.swift at its path")

    info = load_plist(root / "Ferry/Info.plist", p)
    if info is not None:
        for key in ("NSLocalNetworkUsageDescription", "NSPhotoLibraryAddUsageDescription"):
            if not str(info.get(key, "")).strip():
                p.append(f"Ferry/Info.plist: {key} is missing or empty")
        for key in ("UIFileSharingEnabled", "LSSupportsOpeningDocumentsInPlace"):
            if info.get(key) is not True:
                p.append(f"Ferry/Info.plist: {key} is not true (received files must show in Files)")
        schemes = [s for t in info.get("CFBundleURLTypes", []) for s in t.get("CFBundleURLSchemes", [])]
        if "ferry" not in schemes:
            p.append("Ferry/Info.plist: no 'ferry' URL scheme for the share extension's hand-off")
    ent = load_plist(root / "Ferry/Ferry.entitlements", p)
    if ent is not None:
        if ent.get("com.apple.developer.networking.multicast") is not True:
            p.append("Ferry/Ferry.entitlements: com.apple.developer.networking.multicast is not true")
        if APP_GROUP not in ent.get("com.apple.security.application-groups", []):
            p.append(f"Ferry/Ferry.entitlements: not in the App Group {APP_GROUP}")
    einfo = load_plist(root / "FerryShare/Info.plist", p)
    if einfo is not None:
        nsx = einfo.get("NSExtension") or {}
        if nsx.get("NSExtensionPointIdentifier") != "com.apple.share-services":
            p.append("FerryShare/Info.plist: NSExtensionPointIdentifier is not com.apple.share-services")
        if not (nsx.get("NSExtensionPrincipalClass") or nsx.get("NSExtensionMainStoryboard")):
            p.append("FerryShare/Info.plist: no NSExtensionPrincipalClass")
        rule = (nsx.get("NSExtensionAttributes") or {}).get("NSExtensionActivationRule")
        if not isinstance(rule, dict):
            p.append("FerryShare/Info.plist: NSExtensionActivationRule is not a dictionary of supported types")
        else:
            for kind in ("File", "Image", "Movie", "WebURL"):
                n = rule.get(f"NSExtensionActivationSupports{kind}WithMaxCount", 0)
                if not isinstance(n, int) or n < 1:
                    p.append(f"FerryShare/Info.plist: NSExtensionActivationSupports{kind}WithMaxCount is not at least 1")
            if rule.get("NSExtensionActivationSupportsText") is not True:
                p.append("FerryShare/Info.plist: NSExtensionActivationSupportsText is not true")
    eent = load_plist(root / "FerryShare/FerryShare.entitlements", p)
    if eent is not None and APP_GROUP not in eent.get("com.apple.security.application-groups", []):
        p.append(f"FerryShare/FerryShare.entitlements: not in the App Group {APP_GROUP}")

    kit_dir = root / "FerryKit"
    sources = sorted((kit_dir / "Sources").rglob("*.swift"))
    if not sources:
        p.append("FerryKit: no sources")
    for f in sources:
        m = UI_IMPORTS.search(f.read_text())
        if m:
            p.append(f"{f.relative_to(root)}: the logic package imports {m.group(2)} (it must stay free of UI frameworks)")
    tests = sorted((kit_dir / "Tests").rglob("*.swift"))
    if not any("import XCTest" in t.read_text() and re.search(r"func test\w*\(", t.read_text()) for t in tests):
        p.append("FerryKit: no XCTest tests")
    pkg = kit_dir / "Package.swift"
    if pkg.is_file():
        text = pkg.read_text()
        if ".testTarget(" not in text:
            p.append("FerryKit/Package.swift: no test target")
        if "bindings/swift" not in text:
            p.append("FerryKit/Package.swift: does not use the generated bindings package (bindings/swift)")
    return p


GOOD_SPEC = {
    "name": "Ferry",
    "packages": {"FerryKit": {"path": "FerryKit"}},
    "targets": {
        "Ferry": {"type": "application", "platform": "iOS", "sources": ["Ferry"],
                  "info": {"path": "Ferry/Info.plist"}, "entitlements": {"path": "Ferry/Ferry.entitlements"},
                  "dependencies": [{"package": "FerryKit"}, {"target": "FerryShare"}]},
        "FerryShare": {"type": "app-extension", "platform": "iOS", "sources": ["FerryShare"],
                       "info": {"path": "FerryShare/Info.plist"}, "entitlements": {"path": "FerryShare/FerryShare.entitlements"},
                       "dependencies": [{"package": "FerryKit"}],
                       "settings": {"base": {"APPLICATION_EXTENSION_API_ONLY": "YES", "OTHER_LDFLAGS": ["-Wl,-application_extension"]}}},
    },
}
GOOD_INFO = {"NSLocalNetworkUsageDescription": "x", "NSPhotoLibraryAddUsageDescription": "x", "UIFileSharingEnabled": True,
             "LSSupportsOpeningDocumentsInPlace": True, "CFBundleURLTypes": [{"CFBundleURLSchemes": ["ferry"]}]}
GOOD_ENT = {"com.apple.developer.networking.multicast": True, "com.apple.security.application-groups": [APP_GROUP]}
GOOD_EXT = {"NSExtension": {"NSExtensionPointIdentifier": "com.apple.share-services", "NSExtensionPrincipalClass": "X",
            "NSExtensionAttributes": {"NSExtensionActivationRule": {
                "NSExtensionActivationSupportsFileWithMaxCount": 100, "NSExtensionActivationSupportsImageWithMaxCount": 100,
                "NSExtensionActivationSupportsMovieWithMaxCount": 100, "NSExtensionActivationSupportsWebURLWithMaxCount": 1,
                "NSExtensionActivationSupportsText": True}}}}


def make(root: Path, spec=None, info=None, ent=None, ext=None, ext_ent=None, kit_source="import Foundation\nimport Observation\n"):
    for d in ("Ferry", "FerryShare", "FerryKit/Sources/FerryKit", "FerryKit/Tests/FerryKitTests"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "project.yml").write_text(yaml.safe_dump(spec if spec is not None else GOOD_SPEC))
    for path, value in (("Ferry/Info.plist", info or GOOD_INFO), ("Ferry/Ferry.entitlements", ent or GOOD_ENT),
                        ("FerryShare/Info.plist", ext or GOOD_EXT),
                        ("FerryShare/FerryShare.entitlements", ext_ent or {"com.apple.security.application-groups": [APP_GROUP]})):
        with open(root / path, "wb") as f:
            plistlib.dump(value, f)
    (root / "FerryKit/Package.swift").write_text('.package(path: "../../bindings/swift")\n.testTarget(name: "T")\n')
    (root / "FerryKit/Sources/FerryKit/Model.swift").write_text(kit_source)
    (root / "FerryKit/Tests/FerryKitTests/T.swift").write_text("import XCTest\nfinal class T: XCTestCase { func testX() {} }\n")


def flat_settings(spec):
    spec = copy.deepcopy(spec)
    for t in spec["targets"].values():
        settings = t.setdefault("settings", {}).pop("base", {})
        settings["INFOPLIST_FILE"] = t.pop("info")["path"]
        settings["CODE_SIGN_ENTITLEMENTS"] = t.pop("entitlements")["path"]
        t["settings"].update(settings)
    return spec


def self_test() -> int:
    def without(d, *path):
        d = copy.deepcopy(d)
        cur = d
        for k in path[:-1]:
            cur = cur[k]
        del cur[path[-1]]
        return d

    cases = [
        ("good", {}, None),
        ("good, flat settings", {"spec": flat_settings(GOOD_SPEC)}, None),
        ("no local network text", {"info": without(GOOD_INFO, "NSLocalNetworkUsageDescription")}, "NSLocalNetworkUsageDescription"),
        ("no multicast entitlement", {"ent": without(GOOD_ENT, "com.apple.developer.networking.multicast")}, "multicast"),
        ("extension outside the group", {"ext_ent": {"com.apple.security.application-groups": ["group.other"]}}, "FerryShare.entitlements"),
        ("no text activation", {"ext": without(GOOD_EXT, "NSExtension", "NSExtensionAttributes", "NSExtensionActivationRule",
                                               "NSExtensionActivationSupportsText")}, "SupportsText"),
        ("no -application_extension", {"spec": without(GOOD_SPEC, "targets", "FerryShare", "settings", "base", "OTHER_LDFLAGS")}, "-application_extension"),
        ("no extension target", {"spec": without(GOOD_SPEC, "targets", "FerryShare")}, "app-extension"),
        ("UI in the logic", {"kit_source": "import SwiftUI\n"}, "SwiftUI"),
        ("files not in Files", {"info": without(GOOD_INFO, "UIFileSharingEnabled")}, "UIFileSharingEnabled"),
    ]
    failed = 0
    for name, kwargs, expect in cases:
        with tempfile.TemporaryDirectory() as t:
            make(Path(t), **kwargs)
            problems = check(Path(t))
        ok = (not problems) if expect is None else any(expect in x for x in problems)
        print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {problems}"))
        failed += not ok
    print(f"check-ios self-test: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv):
    if argv[1:2] == ["--self-test"]:
        return self_test()
    root = Path(argv[1] if len(argv) > 1 else "ios")
    problems = check(root)
    for x in problems:
        print(f"check-ios: {x}")
    if not problems:
        print(f"check-ios: {root} OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
