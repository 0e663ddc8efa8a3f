# Compiler settings of the library's Swift modules: the same flags as the
# swiftSettings in Package.swift, so SwiftPM and CMake build the same code.
# The kernels' per-variant target flags are in ScseKernelVariants.cmake.
#
#   scse_swift_module(<target>)

function(scse_swift_module target)
  set_target_properties(${target} PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    # With CMP0157 NEW (CMake >= 3.29); older CMake adds -wmo to the
    # optimised configurations itself.
    Swift_COMPILATION_MODE "$<IF:$<CONFIG:Debug>,incremental,wholemodule>")
  target_compile_options(${target} PRIVATE
    "$<$<NOT:$<CONFIG:Debug>>:-O>"
    # Dynamic exclusivity checks cost time in the hot loops and guard
    # nothing the core relies on: it validates its C buffers itself.
    -enforce-exclusivity=unchecked
    # The language mode of Package.swift's tools version.
    "SHELL:-swift-version 6"
    # `package` declarations are shared by the modules of one package (SwiftPM
    # passes its package name the same way).
    "SHELL:-package-name scse")
endfunction()
