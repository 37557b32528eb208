// swift-tools-version: 6.0
// FerryKit: the app's logic over FerryCore (the generated bindings in bindings/swift), in Swift 6
// language mode (complete concurrency checking). No UI imports: Foundation, Observation and
// FerryCore only, so that `swift test` runs it on a Mac (after `make ios-xcframework`, which also
// builds the macOS slices the tests link against) and on Linux (`make test-swift`).
//
// FerryOutbox, the hand-off folder shared with the share extension, is a module of its own with
// no dependency: the extension links it alone, not the Ferry library.
import PackageDescription

let package = Package(
    name: "FerryKit",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "FerryKit", targets: ["FerryKit"]),
        .library(name: "FerryOutbox", targets: ["FerryOutbox"]),
    ],
    dependencies: [
        // A local package's identity is its folder's name: "swift".
        .package(path: "../../bindings/swift"),
    ],
    targets: [
        .target(
            name: "FerryOutbox",
            path: "Sources/FerryOutbox"
        ),
        .target(
            name: "FerryKit",
            dependencies: ["FerryOutbox", .product(name: "FerryCore", package: "swift")],
            path: "Sources/FerryKit"
        ),
        .testTarget(
            name: "FerryOutboxTests",
            dependencies: ["FerryOutbox"],
            path: "Tests/FerryOutboxTests"
        ),
        .testTarget(
            name: "FerryKitTests",
            dependencies: ["FerryKit"],
            path: "Tests/FerryKitTests"
        ),
    ]
)
