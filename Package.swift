// swift-tools-version:6.0
//
// SwiftPM build of scse. Modules, from the bottom up:
//   CScse        include/scse.h, the C ABI (the single source of truth for it)
//   ScseCore     plan, tiling, threads, validation, status texts (`package` API)
//   ScseKernels  the passes over the tensors; no global state
//   ScseDispatch validates a call once and runs the kernels
//   Scse         the Swift API (the library product)
//   ScseCABI     the C entry points of scse.h, linked into libscse.so
// The shipped libscse.so is built by CMake (CMakeLists.txt in each
// Sources/<module> directory) from the same sources with the same flags.
import PackageDescription

/// Flags every Swift module of the library gets, as in the CMake build
/// (cmake/modules/ScseSwiftModule.cmake): dynamic exclusivity checks cost
/// time in the hot loops and guard nothing the core relies on.
let swiftSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

func module(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
  .target(name: name, dependencies: dependencies, exclude: ["CMakeLists.txt"],
          swiftSettings: swiftSettings)
}

let package = Package(
  name: "scse",
  products: [
    .library(name: "Scse", targets: ["Scse"]),
  ],
  targets: [
    .systemLibrary(name: "CScse", path: "include"),
    module("ScseCore", ["CScse"]),
    module("ScseKernels", ["ScseCore"]),
    module("ScseDispatch", ["ScseCore", "ScseKernels"]),
    module("Scse", ["CScse", "ScseCore", "ScseDispatch"]),
    module("ScseCABI", ["CScse", "ScseCore", "ScseDispatch"]),
    .testTarget(
      name: "ScseTests",
      dependencies: ["Scse", "ScseCABI", "CScse"]
    ),
  ]
)
