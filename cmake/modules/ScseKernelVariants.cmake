# The compiled variants of the kernels: the one place where the CMake build
# depends on the target architecture (Package.swift mirrors it). Each
# variant is the sources of Sources/ScseKernels/ compiled as its own module,
# ScseKernels<Variant>; Sources/ScseDispatch/ picks one at run time.
#
#   x86-64:  Baseline (x86-64: SSE2, any x86-64 CPU) and
#            AVX2 (x86-64-v3: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE)
#   aarch64: Baseline (NEON, with FMA); untested, no aarch64 toolchain here
#   other:   Baseline (the compiler's default target)
#
# SCSE_FMA makes multiply-adds fused (Sources/ScseKernels/Vector.swift): only
# where FMA is in hardware, since a fused multiply-add without it is a libm
# call per lane.
#
#   scse_add_kernel_variants(<source>...)   defines the targets and sets
#                                           SCSE_KERNEL_TARGETS (parent scope)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(SCSE_KERNEL_VARIANTS Baseline AVX2)
  set(_scse_variant_flags_Baseline "-Xcc -march=x86-64")
  set(_scse_variant_flags_AVX2 "-Xcc -march=x86-64-v3 -DSCSE_FMA")
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(SCSE_KERNEL_VARIANTS Baseline)
  set(_scse_variant_flags_Baseline "-DSCSE_FMA")
else()
  set(SCSE_KERNEL_VARIANTS Baseline)
  set(_scse_variant_flags_Baseline "")
endif()

function(scse_add_kernel_variants)
  set(_targets "")
  foreach(_variant IN LISTS SCSE_KERNEL_VARIANTS)
    set(_target ScseKernels${_variant})
    add_library(${_target} STATIC ${ARGN})
    scse_swift_module(${_target})
    if(NOT _scse_variant_flags_${_variant} STREQUAL "")
      target_compile_options(${_target} PRIVATE "SHELL:${_scse_variant_flags_${_variant}}")
    endif()
    target_link_libraries(${_target} PRIVATE ScseCore)
    # The header-only module CScseSIMD, compiled with the variant's flags
    # (PUBLIC: importers of a kernel module load the modules it imports).
    target_include_directories(${_target} PUBLIC "${PROJECT_SOURCE_DIR}/Sources/CScseSIMD")
    list(APPEND _targets ${_target})
  endforeach()
  set(SCSE_KERNEL_TARGETS ${_targets} PARENT_SCOPE)
endfunction()
