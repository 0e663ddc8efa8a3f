# Compares the dynamic symbols libscse.so defines with the functions
# include/scse.h declares with SCSE_API. Both sets must be equal.
# Usage: cmake -DNM=<nm> -DLIBRARY=<libscse.so> -DHEADER=<scse.h> -P check_exports.cmake

foreach(_var NM LIBRARY HEADER)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "${_var} is not set")
  endif()
endforeach()

file(READ "${HEADER}" _header)
string(REGEX MATCHALL "SCSE_API[^;(\n]*[ *](scse_[a-z0-9_]+)[ \t]*\\(" _decls "${_header}")
set(_declared "")
foreach(_decl IN LISTS _decls)
  string(REGEX MATCH "(scse_[a-z0-9_]+)[ \t]*\\($" _ "${_decl}")
  list(APPEND _declared "${CMAKE_MATCH_1}")
endforeach()
list(SORT _declared)
if(NOT _declared)
  message(FATAL_ERROR "found no SCSE_API declarations in ${HEADER}")
endif()

execute_process(COMMAND "${NM}" -D --defined-only "${LIBRARY}"
  OUTPUT_VARIABLE _nm RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${LIBRARY}")
endif()
string(REPLACE "\n" ";" _lines "${_nm}")
set(_exported "")
foreach(_line IN LISTS _lines)
  # "<address> <type> <name>[@version]". A lower-case type is a local
  # symbol, which the linker may keep in .dynsym (e.g. for TLS) without
  # exporting it.
  if(_line MATCHES "^[0-9a-fA-F]* +[A-Z] +([^@ ]+)")
    list(APPEND _exported "${CMAKE_MATCH_1}")
  endif()
endforeach()
list(SORT _exported)

if(NOT _exported STREQUAL _declared)
  set(_extra ${_exported})
  list(REMOVE_ITEM _extra ${_declared})
  set(_missing ${_declared})
  list(REMOVE_ITEM _missing ${_exported})
  message(FATAL_ERROR "exported symbols differ from the header:\n"
    "  exported but not declared: ${_extra}\n"
    "  declared but not exported: ${_missing}")
endif()
list(LENGTH _declared _n)
message(STATUS "libscse exports exactly the ${_n} functions of scse.h")
