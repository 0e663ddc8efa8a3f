# The Swift sources of libscse are listed explicitly in
# Sources/Scse/CMakeLists.txt, between the "BEGIN swift sources" and
# "END swift sources" lines. This file keeps that list honest.
#
# Included from CMake: provides scse_check_swift_sources(<target> <dir>),
# which fails the configure step when the target's list and the .swift files
# under <dir> differ (re-checked on every build, so a file added later is
# noticed too).
#
# Run as a script, it rewrites the list from the files on disk:
#   cmake -P cmake/modules/ScseSwiftSources.cmake      (or: make sync-sources)

set(_scse_swift_dir_default "${CMAKE_CURRENT_LIST_DIR}/../../Sources/Scse")
set(_scse_sync_hint "run `make sync-sources` (cmake -P cmake/modules/ScseSwiftSources.cmake)")

# Sorted paths of the .swift files under <dir>, relative to <dir>.
function(scse_glob_swift_sources dir out_var)
  if(CMAKE_SCRIPT_MODE_FILE)
    file(GLOB_RECURSE _files RELATIVE "${dir}" "${dir}/*.swift")
  else()
    file(GLOB_RECURSE _files RELATIVE "${dir}" CONFIGURE_DEPENDS "${dir}/*.swift")
  endif()
  list(SORT _files)
  set(${out_var} "${_files}" PARENT_SCOPE)
endfunction()

function(scse_check_swift_sources target dir)
  scse_glob_swift_sources("${dir}" _on_disk)
  get_target_property(_listed ${target} SOURCES)
  list(FILTER _listed INCLUDE REGEX "\\.swift$")
  set(_missing ${_on_disk})
  list(REMOVE_ITEM _missing ${_listed})
  set(_stale ${_listed})
  list(REMOVE_ITEM _stale ${_on_disk})
  if(_missing OR _stale)
    list(JOIN _missing " " _missing)
    list(JOIN _stale " " _stale)
    message(FATAL_ERROR
      "The Swift source list of target '${target}' is out of date.\n"
      "  on disk but not listed: ${_missing}\n"
      "  listed but not on disk: ${_stale}\n"
      "To fix, ${_scse_sync_hint}.")
  endif()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  if(NOT DEFINED SCSE_SWIFT_DIR)
    set(SCSE_SWIFT_DIR "${_scse_swift_dir_default}")
  endif()
  get_filename_component(SCSE_SWIFT_DIR "${SCSE_SWIFT_DIR}" ABSOLUTE)
  set(_lists "${SCSE_SWIFT_DIR}/CMakeLists.txt")
  scse_glob_swift_sources("${SCSE_SWIFT_DIR}" _files)
  if(NOT _files)
    message(FATAL_ERROR "No .swift files under ${SCSE_SWIFT_DIR}")
  endif()

  file(READ "${_lists}" _text)
  string(FIND "${_text}" "# BEGIN swift sources" _begin)
  string(FIND "${_text}" "# END swift sources" _end)
  if(_begin EQUAL -1 OR _end EQUAL -1 OR _end LESS _begin)
    message(FATAL_ERROR "${_lists} lacks the BEGIN/END swift sources markers")
  endif()
  # Keep everything up to the end of the BEGIN line and from the start of the
  # END line byte for byte; only the lines between them are regenerated.
  string(SUBSTRING "${_text}" ${_begin} -1 _rest)
  string(FIND "${_rest}" "\n" _eol)
  math(EXPR _head_len "${_begin} + ${_eol} + 1")
  string(SUBSTRING "${_text}" 0 ${_head_len} _head)
  string(SUBSTRING "${_text}" 0 ${_end} _upto_end)
  string(FIND "${_upto_end}" "\n" _end_line REVERSE)
  math(EXPR _tail_start "${_end_line} + 1")
  string(SUBSTRING "${_text}" ${_tail_start} -1 _tail)
  set(_block "")
  foreach(_f IN LISTS _files)
    string(APPEND _block "  ${_f}\n")
  endforeach()
  set(_new "${_head}${_block}${_tail}")
  if(_new STREQUAL _text)
    message(STATUS "Swift source list already up to date (${SCSE_SWIFT_DIR})")
  else()
    file(WRITE "${_lists}" "${_new}")
    list(LENGTH _files _n)
    message(STATUS "Rewrote the Swift source list in ${_lists} (${_n} files)")
  endif()
endif()
