# Install rules for libscse.

if(SKBUILD)
  # Inside the wheel the library sits next to the extension module in the
  # package directory, which finds it through its $ORIGIN rpath. Only the
  # SONAME file is needed at run time; the namelink is for linking.
  install(TARGETS scse
    LIBRARY DESTINATION scse NAMELINK_SKIP)
  return()
endif()

install(TARGETS scse
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES "${PROJECT_SOURCE_DIR}/include/scse.h"
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# The CMake package configuration (scseConfig.cmake with an exported scse
# target) and the pkg-config file scse.pc belong here.
