// swift-tools-version: 5.10
// FerryKit: the app's logic over FerryCore (the generated bindings in bindings/swift), shared by
// the app and its share extension. No UI imports: Foundation, Observation and FerryCore only, so
// that `swift test` runs it on a Mac (after `make ios-xcframework`, which also builds the macOS
// slices the tests link against).
import PackageDescription

let package = Package(
    name: "FerryKit",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "FerryKit", targets: ["FerryKit"]),
    ],
    dependencies: [
        // A local package's identity is its folder's name: "swift".
        .package(path: "../../bindings/swift"),
    ],
    targets: [
        .target(
            name: "FerryKit",
            dependencies: [.product(name: "FerryCore", package: "swift")],
            path: "Sources/FerryKit"
        ),
        .testTarget(
            name: "FerryKitTests",
            dependencies: ["FerryKit"],
            path: "Tests/FerryKitTests"
        ),
    ]
)
