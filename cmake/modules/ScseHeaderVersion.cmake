# Reads the library version from include/scse.h so that the header stays the
# single source of truth for it.
#
#   scse_read_header_version(<header> <out-var>)
#
# Sets <out-var> to "MAJOR.MINOR.PATCH" from the SCSE_VERSION_MAJOR/MINOR/PATCH
# macros, or stops with an error naming the macro that could not be parsed.
function(scse_read_header_version header out_var)
  file(READ "${header}" _text)
  set(_parts "")
  foreach(_part MAJOR MINOR PATCH)
    if(NOT _text MATCHES "#define[ \t]+SCSE_VERSION_${_part}[ \t]+([0-9]+)")
      message(FATAL_ERROR "Cannot read SCSE_VERSION_${_part} from ${header}")
    endif()
    list(APPEND _parts "${CMAKE_MATCH_1}")
  endforeach()
  list(JOIN _parts "." _version)
  set(${out_var} "${_version}" PARENT_SCOPE)
endfunction()
