// swift-tools-version:6.0
//
// SwiftPM build of scse: the Swift core (`Scse`), which implements the C ABI
// declared in include/scse.h, and its tests. The shipped libscse.so is built
// by the top-level CMakeLists.txt from the same sources.
import PackageDescription

let package = Package(
  name: "scse",
  products: [
    .library(name: "Scse", targets: ["Scse"]),
  ],
  targets: [
    // The hand-written C header; the single source of truth for the ABI.
    .systemLibrary(name: "CScse", path: "include"),
    .target(
      name: "Scse",
      dependencies: ["CScse"],
      exclude: ["CMakeLists.txt"]
    ),
    .testTarget(
      name: "ScseTests",
      dependencies: ["Scse", "CScse"]
    ),
  ]
)
