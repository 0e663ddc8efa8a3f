// swift-tools-version:6.0
//
// SwiftPM build of scse. Modules, from the bottom up:
//   CScse         include/scse.h, the C ABI (the single source of truth for it)
//   CScseCPU      CPU feature detection, processor count, spin hint (C)
//   CScseSIMD     partial-vector loads and stores for loop tails (C, header
//                 only: each kernel variant compiles it with its own flags)
//   ScseCore      plan, tiling, threads, validation, status texts, the choice
//                 of kernel variant (`package` API; all process-wide state)
//   ScseKernels*  the passes over the tensors, once per instruction set
//   ScseDispatch  validates a call once and runs the chosen kernels
//   Scse          the Swift API (the library product)
//   ScseCABI      the C entry points of scse.h, linked into libscse.so
// The shipped libscse.so is built by CMake (a CMakeLists.txt in each
// Sources/<module> directory) from the same sources with the same flags.
import PackageDescription

/// Flags every Swift module of the library gets, as in the CMake build
/// (cmake/modules/ScseSwiftModule.cmake): dynamic exclusivity checks cost
/// time in the hot loops and guard nothing the core relies on. SwiftPM's
/// release configuration adds -O and whole-module optimisation, as CMake's
/// Release does.
let commonFlags: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

/// The compiled variants of the kernels (module name, source directory,
/// target flags): the one place where this manifest depends on the
/// architecture, mirroring cmake/modules/ScseKernelVariants.cmake. The
/// sources are those of Sources/ScseKernels (Sources/ScseKernelsAVX2 is a
/// symbolic link to it). SCSE_FMA fuses multiply-adds, only where FMA is in
/// hardware. The aarch64 variant is untested (no aarch64 toolchain here).
#if arch(x86_64)
let kernelVariants: [(name: String, path: String, settings: [SwiftSetting])] = [
  ("ScseKernelsBaseline", "Sources/ScseKernels", [.unsafeFlags(["-Xcc", "-march=x86-64"])]),
  ("ScseKernelsAVX2", "Sources/ScseKernelsAVX2",
   [.unsafeFlags(["-Xcc", "-march=x86-64-v3"]), .define("SCSE_FMA")]),
]
#elseif arch(arm64)
let kernelVariants: [(name: String, path: String, settings: [SwiftSetting])] = [
  ("ScseKernelsBaseline", "Sources/ScseKernels", [.define("SCSE_FMA")]),
]
#else
let kernelVariants: [(name: String, path: String, settings: [SwiftSetting])] = [
  ("ScseKernelsBaseline", "Sources/ScseKernels", []),
]
#endif

/// A Swift module of the library; all but the Swift API have a CMakeLists.txt.
func module(_ name: String, _ dependencies: [Target.Dependency], path: String? = nil,
            settings: [SwiftSetting] = [], inCMake: Bool = true) -> Target {
  .target(name: name, dependencies: dependencies, path: path,
          exclude: inCMake ? ["CMakeLists.txt"] : [], swiftSettings: commonFlags + settings)
}

let package = Package(
  name: "scse",
  products: [
    .library(name: "Scse", targets: ["Scse"]),
  ],
  targets: [
    .systemLibrary(name: "CScse", path: "include"),
    .target(name: "CScseCPU", exclude: ["CMakeLists.txt"]),
    // Header-only: each kernel variant compiles it with its own flags.
    .systemLibrary(name: "CScseSIMD", path: "Sources/CScseSIMD"),
    module("ScseCore", ["CScse", "CScseCPU"]),
  ] + kernelVariants.map {
    module($0.name, ["ScseCore", "CScseSIMD"], path: $0.path, settings: $0.settings)
  } + [
    module("ScseDispatch", ["ScseCore"] + kernelVariants.map { .target(name: $0.name) }),
    module("Scse", ["CScse", "ScseCore", "ScseDispatch"], inCMake: false),
    module("ScseCABI", ["CScse", "ScseCore", "ScseDispatch"]),
    .testTarget(
      name: "ScseTests",
      dependencies: ["Scse", "ScseCABI", "CScse"]
    ),
  ]
)
