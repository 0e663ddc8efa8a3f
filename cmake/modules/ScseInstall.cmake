# Install rules for libscse.

if(SKBUILD)
  # Inside the wheel the library sits next to the extension module in the
  # package directory, which finds it through its $ORIGIN rpath. Only the
  # SONAME file is needed at run time; the namelink is for linking.
  install(TARGETS scse
    LIBRARY DESTINATION scse NAMELINK_SKIP)
  return()
endif()

include(CMakePackageConfigHelpers)

set(SCSE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/scse" CACHE STRING
  "Where the CMake package files of scse are installed (relative to the prefix)")

install(TARGETS scse EXPORT scse-targets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES "${PROJECT_SOURCE_DIR}/include/scse.h"
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# find_package(scse CONFIG): the generated export of a shared library carries
# only its location, SONAME and include directory, nothing of Swift, so C and
# C++ projects use scse::scse without enabling Swift (test-examples checks).
install(EXPORT scse-targets
  NAMESPACE scse::
  FILE scse-targets.cmake
  DESTINATION ${SCSE_INSTALL_CMAKEDIR})
configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/scse-config.cmake.in"
  "${PROJECT_BINARY_DIR}/scse-config.cmake"
  INSTALL_DESTINATION ${SCSE_INSTALL_CMAKEDIR}
  NO_SET_AND_CHECK_MACRO)
# The SONAME carries the major version, so that is the compatibility rule.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/scse-config-version.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/scse-config.cmake"
  "${PROJECT_BINARY_DIR}/scse-config-version.cmake"
  DESTINATION ${SCSE_INSTALL_CMAKEDIR})

# scse.pc for pkg-config. `cmake --install --prefix P` chooses the prefix only
# at install time, so the file is written then, with P as its prefix.
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(SCSE_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(SCSE_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
# Kept as a placeholder here, replaced at install time below.
set(SCSE_PC_PREFIX "@SCSE_PC_PREFIX@")
configure_file("${PROJECT_SOURCE_DIR}/cmake/scse.pc.in"
  "${PROJECT_BINARY_DIR}/scse.pc.in" @ONLY)
install(CODE "
  file(READ \"${PROJECT_BINARY_DIR}/scse.pc.in\" _scse_pc)
  string(REPLACE \"@SCSE_PC_PREFIX@\" \"\${CMAKE_INSTALL_PREFIX}\" _scse_pc \"\${_scse_pc}\")
  file(WRITE \"${PROJECT_BINARY_DIR}/scse.pc\" \"\${_scse_pc}\")
")
install(FILES "${PROJECT_BINARY_DIR}/scse.pc"
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
