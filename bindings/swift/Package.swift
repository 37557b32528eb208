// swift-tools-version:5.9
// FerryCore for iOS: the generated Swift bindings over the Rust library, which comes as an
// XCFramework (`make ios-xcframework` on a Mac writes FerryCoreFFI.xcframework next to this file).
import PackageDescription

let package = Package(
    name: "FerryCore",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [.library(name: "FerryCore", targets: ["FerryCore"])],
    targets: [
        .binaryTarget(name: "FerryCoreFFI", path: "FerryCoreFFI.xcframework"),
        .target(name: "FerryCore", dependencies: ["FerryCoreFFI"], path: ".", sources: ["FerryCore.swift"]),
    ]
)
