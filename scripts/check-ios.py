#!/usr/bin/env python3
"""Checks the iOS project where no Xcode exists: the XcodeGen spec, the Info.plists and
entitlements, the privacy manifests (PrivacyInfo.xcprivacy, valid, with a reason for every
required-reason API Ferry uses, and built into each target as a resource), that the share
extension links FerryOutbox only (not the Ferry library), and that the logic package stays free
of UI frameworks and has tests.

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
OUTBOX_IMPORTS = re.compile(r"^\s*(@testable\s+)?(@_exported\s+)?import\s+(FerryCore|FerryKit)\b", re.M)
# Required-reason API categories Ferry uses, and the reasons that may be given for them.
PRIVACY_REASONS = {"NSPrivacyAccessedAPICategoryFileTimestamp": {"DDA9.1", "C617.1", "3B52.1", "0A2A.1"}}
SHEET = re.compile(r"\.(sheet|fullScreenCover)\(|\bRequestSheet\(")
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
        deps = [d for d in (t.get("dependencies") or []) if isinstance(d, dict) and d.get("package") == "FerryKit"]
        products = {d.get("product") or "FerryKit" for d in deps}
        if not deps:
            p.append(f"project.yml: {name}: does not depend on the FerryKit package")
        elif name == "FerryShare" and products != {"FerryOutbox"}:
            p.append(f"project.yml: FerryShare: links {sorted(products)} of the FerryKit package: FerryOutbox only, not the Ferry library")
        # The privacy manifest: a valid plist with a known reason for each API category, built as a resource.
        manifest = f"{name}/PrivacyInfo.xcprivacy"
        resources = [s for s in sources if isinstance(s, dict) and s.get("path") == manifest and s.get("buildPhase") == "resources"]
        if not resources:
            p.append(f"project.yml: {name}: {manifest} is not a source with buildPhase: resources")
        privacy = load_plist(root / manifest, p)
        if privacy is not None:
            if privacy.get("NSPrivacyTracking") is not False:
                p.append(f"{manifest}: NSPrivacyTracking is not false")
            used = {}
            for entry in privacy.get("NSPrivacyAccessedAPITypes") or []:
                used[entry.get("NSPrivacyAccessedAPIType")] = set(entry.get("NSPrivacyAccessedAPITypeReasons") or [])
            for category, allowed in PRIVACY_REASONS.items():
                if not used.get(category):
                    p.append(f"{manifest}: no reason given for {category}")
                elif not used[category] <= allowed:
                    p.append(f"{manifest}: unknown reasons for {category}: {sorted(used[category] - allowed)}")
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
        for key in ("NSLocalNetworkUsageDescription", "NSPhotoLibraryAddUsageDescription", "NSCameraUsageDescription"):
            if not str(info.get(key, "")).strip():
                p.append(f"Ferry/Info.plist: {key} is missing or empty")
        for key in ("UIFileSharingEnabled", "LSSupportsOpeningDocumentsInPlace"):
            if info.get(key) is not True:
                p.append(f"Ferry/Info.plist: {key} is not true (received files must show in Files)")
        schemes = [s for t in info.get("CFBundleURLTypes", []) for s in t.get("CFBundleURLSchemes", [])]
        if "ferry" not in schemes:
            p.append("Ferry/Info.plist: no 'ferry' URL scheme (the share extension's hand-off, pairing codes)")
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

    # Sheets come from one place (the root view, driven by FerryKit's Presentation): a sheet
    # attached to another sheet goes away with it, and a request with it.
    for f in sorted((root / "Ferry").glob("*.swift")):
        if f.name == "ContentView.swift":
            continue
        m = SHEET.search(f.read_text())
        if m:
            p.append(f"{f.relative_to(root)}: presents a sheet ({m.group(0)}): sheets come from ContentView only (Presentation)")

    # VisionKit's scanner only where it runs (a camera, and iOS allowing it); the camera is
    # explained in Info.plist (checked above).
    app_sources = {f: f.read_text() for f in sorted((root / "Ferry").glob("*.swift"))}
    if any("DataScannerViewController(" in t for t in app_sources.values()):
        everything = "\n".join(app_sources.values())
        for guard in ("DataScannerViewController.isSupported", "DataScannerViewController.isAvailable"):
            if guard not in everything:
                p.append(f"Ferry: DataScannerViewController is used without checking {guard}")

    kit_dir = root / "FerryKit"
    sources = sorted((kit_dir / "Sources").rglob("*.swift"))
    if not sources:
        p.append("FerryKit: no sources")
    for f in sources:
        m = UI_IMPORTS.search(f.read_text())
        if m:
            p.append(f"{f.relative_to(root)}: the logic package imports {m.group(2)} (it must stay free of UI frameworks)")
    for f in sorted((kit_dir / "Sources/FerryOutbox").rglob("*.swift")):
        m = OUTBOX_IMPORTS.search(f.read_text())
        if m:
            p.append(f"{f.relative_to(root)}: FerryOutbox imports {m.group(3)} (the share extension must not link the Ferry library)")
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
        "Ferry": {"type": "application", "platform": "iOS",
                  "sources": ["Ferry", {"path": "Ferry/PrivacyInfo.xcprivacy", "buildPhase": "resources"}],
                  "info": {"path": "Ferry/Info.plist"}, "entitlements": {"path": "Ferry/Ferry.entitlements"},
                  "dependencies": [{"package": "FerryKit"}, {"target": "FerryShare"}]},
        "FerryShare": {"type": "app-extension", "platform": "iOS",
                       "sources": ["FerryShare", {"path": "FerryShare/PrivacyInfo.xcprivacy", "buildPhase": "resources"}],
                       "info": {"path": "FerryShare/Info.plist"}, "entitlements": {"path": "FerryShare/FerryShare.entitlements"},
                       "dependencies": [{"package": "FerryKit", "product": "FerryOutbox"}],
                       "settings": {"base": {"APPLICATION_EXTENSION_API_ONLY": "YES", "OTHER_LDFLAGS": ["-Wl,-application_extension"]}}},
    },
}
GOOD_INFO = {"NSLocalNetworkUsageDescription": "x", "NSPhotoLibraryAddUsageDescription": "x", "NSCameraUsageDescription": "x",
             "UIFileSharingEnabled": True,
             "LSSupportsOpeningDocumentsInPlace": True, "CFBundleURLTypes": [{"CFBundleURLSchemes": ["ferry"]}]}
GOOD_ENT = {"com.apple.developer.networking.multicast": True, "com.apple.security.application-groups": [APP_GROUP]}
GOOD_EXT = {"NSExtension": {"NSExtensionPointIdentifier": "com.apple.share-services", "NSExtensionPrincipalClass": "X",
            "NSExtensionAttributes": {"NSExtensionActivationRule": {
                "NSExtensionActivationSupportsFileWithMaxCount": 100, "NSExtensionActivationSupportsImageWithMaxCount": 100,
                "NSExtensionActivationSupportsMovieWithMaxCount": 100, "NSExtensionActivationSupportsWebURLWithMaxCount": 1,
                "NSExtensionActivationSupportsText": True}}}}


GOOD_PRIVACY = {"NSPrivacyTracking": False, "NSPrivacyTrackingDomains": [], "NSPrivacyCollectedDataTypes": [],
                "NSPrivacyAccessedAPITypes": [{"NSPrivacyAccessedAPIType": "NSPrivacyAccessedAPICategoryFileTimestamp",
                                               "NSPrivacyAccessedAPITypeReasons": ["C617.1"]}]}


def make(root: Path, spec=None, info=None, ent=None, ext=None, ext_ent=None, kit_source="import Foundation\nimport Observation\n",
         privacy=None, ext_privacy=GOOD_PRIVACY, outbox_source="import Foundation\n", view_source=None):
    for d in ("Ferry", "FerryShare", "FerryKit/Sources/FerryKit", "FerryKit/Sources/FerryOutbox", "FerryKit/Tests/FerryKitTests"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "Ferry/PrivacyInfo.xcprivacy").write_bytes(plistlib.dumps(privacy or GOOD_PRIVACY))
    if ext_privacy is not None:
        (root / "FerryShare/PrivacyInfo.xcprivacy").write_bytes(
            ext_privacy if isinstance(ext_privacy, bytes) else plistlib.dumps(ext_privacy))
    (root / "FerryKit/Sources/FerryOutbox/SharedOutbox.swift").write_text(outbox_source)
    (root / "Ferry/ContentView.swift").write_text(".sheet(item: $presentation.sheet) { _ in RequestSheet(request: r) }\n")
    (root / "Ferry/SendSheet.swift").write_text(view_source or "struct SendSheet {}\n")
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
        ("no camera text (QR pairing)", {"info": without(GOOD_INFO, "NSCameraUsageDescription")}, "NSCameraUsageDescription"),
        ("no multicast entitlement", {"ent": without(GOOD_ENT, "com.apple.developer.networking.multicast")}, "multicast"),
        ("extension outside the group", {"ext_ent": {"com.apple.security.application-groups": ["group.other"]}}, "FerryShare.entitlements"),
        ("no text activation", {"ext": without(GOOD_EXT, "NSExtension", "NSExtensionAttributes", "NSExtensionActivationRule",
                                               "NSExtensionActivationSupportsText")}, "SupportsText"),
        ("no -application_extension", {"spec": without(GOOD_SPEC, "targets", "FerryShare", "settings", "base", "OTHER_LDFLAGS")}, "-application_extension"),
        ("no extension target", {"spec": without(GOOD_SPEC, "targets", "FerryShare")}, "app-extension"),
        ("UI in the logic", {"kit_source": "import SwiftUI\n"}, "SwiftUI"),
        ("files not in Files", {"info": without(GOOD_INFO, "UIFileSharingEnabled")}, "UIFileSharingEnabled"),
        ("no privacy manifest in the extension", {"ext_privacy": None}, "FerryShare/PrivacyInfo.xcprivacy: missing"),
        ("a privacy manifest that is no plist", {"ext_privacy": b"<plist><dict><key>x</dict>"}, "not a valid plist"),
        ("no file timestamp reason", {"privacy": without(GOOD_PRIVACY, "NSPrivacyAccessedAPITypes")}, "FileTimestamp"),
        ("a made-up reason", {"privacy": {**GOOD_PRIVACY, "NSPrivacyAccessedAPITypes": [
            {"NSPrivacyAccessedAPIType": "NSPrivacyAccessedAPICategoryFileTimestamp", "NSPrivacyAccessedAPITypeReasons": ["X000.1"]}]}},
         "unknown reasons"),
        ("privacy manifest not a resource", {"spec": {**GOOD_SPEC, "targets": {**GOOD_SPEC["targets"], "Ferry": {
            **GOOD_SPEC["targets"]["Ferry"], "sources": ["Ferry"]}}}}, "buildPhase: resources"),
        ("the extension links FerryKit", {"spec": {**GOOD_SPEC, "targets": {**GOOD_SPEC["targets"], "FerryShare": {
            **GOOD_SPEC["targets"]["FerryShare"], "dependencies": [{"package": "FerryKit"}]}}}}, "FerryOutbox only"),
        ("a sheet on a sheet", {"view_source": "x.sheet(item: $r) { RequestSheet(request: $0) }\n"}, "sheets come from ContentView only"),
        ("a scanner without its checks", {"view_source": "let s = DataScannerViewController(recognizedDataTypes: [])\n"},
         "without checking DataScannerViewController.isSupported"),
        ("a scanner with its checks", {"view_source": "DataScannerViewController.isSupported && DataScannerViewController.isAvailable\n"
                                                      "let s = DataScannerViewController(recognizedDataTypes: [])\n"}, None),
        ("the outbox imports the library", {"outbox_source": "import Foundation\nimport FerryCore\n"}, "FerryOutbox imports FerryCore"),
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
