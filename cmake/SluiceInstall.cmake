# What `cmake --install` adds beyond the targets' own install() rules: the
# CMake package (find_package(sluice) -> sluice::producer and
# sluice::producer_static), the pkg-config files and the man pages.
#
# Everything is installed under relative destinations and refers to its
# neighbours relative to itself (${_IMPORT_PREFIX} in the exported targets,
# ${pcfiledir} in the .pc files), so an installed tree keeps working after
# it is moved or unpacked elsewhere (--prefix at install time, a package
# relocated by its user). Include this after the targets exist.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/sluice)
set(SL_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# --- CMake package --------------------------------------------------------
install(EXPORT sluiceTargets NAMESPACE sluice:: DESTINATION ${SL_CMAKE_DIR}
  FILE sluiceTargets.cmake)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/sluiceConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/sluiceConfig.cmake
  INSTALL_DESTINATION ${SL_CMAKE_DIR})
# The shared library's SONAME carries only the major version, which promises
# ABI compatibility within it; the package version rule says the same.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/sluiceConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/sluiceConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/sluiceConfigVersion.cmake DESTINATION ${SL_CMAKE_DIR})

# --- pkg-config -----------------------------------------------------------
# prefix is found from the .pc file's own directory, so the tree relocates.
# A LIBDIR or INCLUDEDIR given as an absolute path is kept absolute (then
# that part does not move, which is what such a setting asks for).
file(RELATIVE_PATH SL_PC_PREFIX_REL /sl-root/${SL_PC_DIR} /sl-root)
string(REGEX REPLACE "/$" "" SL_PC_PREFIX_REL "${SL_PC_PREFIX_REL}")
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    set(SL_PC_${d} "${CMAKE_INSTALL_${d}}")
  else()
    set(SL_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
  endif()
endforeach()
# What the static library needs from the system (the shared one records it).
if(WIN32)
  set(SL_PC_SYSLIBS "-ladvapi32 -lshell32 -lbcrypt")
else()
  set(SL_PC_SYSLIBS "-pthread")
endif()
string(APPEND SL_PC_SYSLIBS "${SL_CODEC_PC_LIBS}")
# Two files, because pkg-config's --static changes only the libraries, never
# the compiler flags: a static consumer needs -DSLUICE_STATIC (on Windows the
# header would otherwise declare every function dllimport) and the archive
# by its file name (on ELF systems -lsluice-producer picks the .so).
# configure_file fills @VARS@, then file(GENERATE) the archive's file name.
foreach(pc sluice-producer sluice-producer-static)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/${pc}.pc.in
    ${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc.gen @ONLY)
  file(GENERATE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc
    INPUT ${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc.gen)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/${pc}.pc DESTINATION ${SL_PC_DIR})
endforeach()

# --- man pages ------------------------------------------------------------
install(FILES
  ${PROJECT_SOURCE_DIR}/docs/man/sluice-collector.1
  ${PROJECT_SOURCE_DIR}/docs/man/sluice-producer.1
  ${PROJECT_SOURCE_DIR}/docs/man/sluice-dump.1
  ${PROJECT_SOURCE_DIR}/docs/man/sluice-bench.1
  ${PROJECT_SOURCE_DIR}/docs/man/sluice-pull.1
  ${PROJECT_SOURCE_DIR}/docs/man/sluice-ctl.1
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
