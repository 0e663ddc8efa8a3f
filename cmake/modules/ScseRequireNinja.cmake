# The Swift sources are compiled as one whole module, which CMake supports only
# with the Ninja generators (and Xcode, which this project does not target).
# Fail early, before project() enables Swift and reports something less clear.
if(NOT CMAKE_GENERATOR MATCHES "^Ninja")
  message(FATAL_ERROR
    "scse must be configured with the Ninja generator (got \"${CMAKE_GENERATOR}\").\n"
    "Use: cmake -G Ninja -S <source> -B <build>\n"
    "(a build directory configured with another generator must be removed first)")
endif()
