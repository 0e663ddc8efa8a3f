// swift-tools-version:6.0
//
// The benchmark's Swift driver: a SwiftPM package that depends on scse the
// way a Swift user's package does (a path dependency on this checkout, built
// with `swift build -c release`, no flags of its own), and times the Swift
// API's buffer-pointer forward/backward. bench/run.py drives it over the
// same stdin protocol as the C driver (bench/native/scse_bench.c), so its
// samples interleave with the CMake-built library's. `make bench-swift`.
import PackageDescription

let package = Package(
  name: "scse-bench-swift",
  dependencies: [
    // name: keeps the identity "scse" whatever the checkout's directory is called.
    .package(name: "scse", path: "../.."),
  ],
  targets: [
    .executableTarget(
      name: "scse-bench-swift",
      dependencies: [.product(name: "Scse", package: "scse")]
    ),
  ]
)
