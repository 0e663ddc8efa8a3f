# Compiler settings of the library's Swift modules: the same flags as the
# swiftSettings in Package.swift, so SwiftPM and CMake build the same code.
#
#   scse_swift_module(<target>)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(_scse_default_arch_flags "-Xcc -march=x86-64-v3")
else()
  set(_scse_default_arch_flags "")
endif()
set(SCSE_SWIFT_ARCH_FLAGS "${_scse_default_arch_flags}" CACHE STRING
  "Target-CPU flags for the Swift compiler (the clang importer's -march also \
sets Swift's code generation target); empty for the toolchain's baseline")

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
    # `package` declarations are shared by the modules of one package (SwiftPM
    # passes its package name the same way).
    "SHELL:-package-name scse")
  if(NOT SCSE_SWIFT_ARCH_FLAGS STREQUAL "")
    target_compile_options(${target} PRIVATE "SHELL:${SCSE_SWIFT_ARCH_FLAGS}")
  endif()
endfunction()
