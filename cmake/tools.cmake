# Tools and documentation that ship with the library: the xalloc-run
# wrapper, the man page, and a relocatable pkg-config file. Included from the
# top-level CMakeLists.txt; the order relative to the rest does not matter.
include(GNUInstallDirs)

set(_xa_root ${CMAKE_CURRENT_LIST_DIR}/..)

# ---- xalloc-run ------------------------------------------------------------
# configure_file cannot set permissions before CMake 3.20, so configure into
# a staging folder and copy from there with the execute bits. The build-tree
# copy, ${PROJECT_BINARY_DIR}/tools/xalloc-run, is what tests/tools runs
# (with XALLOC_LIB set to the built library).
set(XALLOC_LIBDIR ${CMAKE_INSTALL_FULL_LIBDIR})
configure_file(${_xa_root}/tools/xalloc-run.in
  ${PROJECT_BINARY_DIR}/CMakeFiles/xalloc-run-staging/xalloc-run @ONLY)
file(COPY ${PROJECT_BINARY_DIR}/CMakeFiles/xalloc-run-staging/xalloc-run
  DESTINATION ${PROJECT_BINARY_DIR}/tools
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
                   GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

install(PROGRAMS ${PROJECT_BINARY_DIR}/tools/xalloc-run
  DESTINATION ${CMAKE_INSTALL_BINDIR})

# ---- man page ----------------------------------------------------------------
install(FILES ${_xa_root}/docs/xalloc.3 DESTINATION ${CMAKE_INSTALL_MANDIR}/man3)

# ---- pkg-config ----------------------------------------------------------------
# xalloc.pc locates itself through ${pcfiledir}, so `cmake --install build
# --prefix DIR` (and moving the installed tree) gives a working .pc file.
# With an absolute CMAKE_INSTALL_LIBDIR the prefix stays absolute. This
# writes the same output as the configure_file() in the top-level
# CMakeLists.txt, whichever runs last wins, and both see these variables
# once they are set; so either include order gives the relocatable file.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(XALLOC_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(XALLOC_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH _xa_up "/x/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/x")
  string(REGEX REPLACE "/$" "" _xa_up "${_xa_up}")
  set(XALLOC_PC_PREFIX "\${pcfiledir}/${_xa_up}")
  set(XALLOC_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(XALLOC_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(XALLOC_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${_xa_root}/cmake/xalloc.pc.in ${PROJECT_BINARY_DIR}/xalloc.pc @ONLY)
