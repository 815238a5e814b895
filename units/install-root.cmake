# install-root.cmake: at install time, installs units/update-root with this install's paths and, unless the
# package's maintainer scripts do it on the target (ECHO_ROOT_AT_INSTALL off), runs it: the service's
# RootDirectory= skeleton and the drop-in binding the installed binary and exactly the libraries ldd lists
# (RUNBOOK.md "systemd", "Private root"; why a script: docs/ARCHITECTURE.md "The unit's private root").
#
# Inputs (set by units/CMakeLists.txt through install(CODE)): ECHO_BINARY (installed path, without DESTDIR),
# ECHO_ROOT_DIR, ECHO_UNIT_DIR, ECHO_LIBEXEC_DIR (absolute, without DESTDIR), ECHO_LIBRARY_ARCH (the multiarch
# triplet), ECHO_ROOT_AT_INSTALL, ECHO_SOURCE_DIR. Honours $ENV{DESTDIR}.
cmake_minimum_required(VERSION 3.25)

set(destdir "$ENV{DESTDIR}")
set(ECHO_UPDATE_ROOT "${ECHO_LIBEXEC_DIR}/update-root")
set(script "${destdir}${ECHO_UPDATE_ROOT}")
configure_file("${ECHO_SOURCE_DIR}/update-root.in" "${script}" @ONLY
               FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
message(STATUS "Installing: ${script}")
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${script}")

if(NOT ECHO_ROOT_AT_INSTALL)
  message(STATUS "Not writing the private root: the package's postinst runs ${ECHO_UPDATE_ROOT} on the target")
  return()
endif()
if(NOT EXISTS "${destdir}${ECHO_BINARY}")
  message(FATAL_ERROR "install-root: ${destdir}${ECHO_BINARY} is not installed; install the echo-hardened target first")
endif()
set(args --manifest)
if(destdir)
  list(APPEND args --destdir "${destdir}")
endif()
execute_process(COMMAND "${script}" ${args} OUTPUT_VARIABLE written ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install-root: ${script} failed (${rc}): ${err}")
endif()
string(STRIP "${written}" written)
string(REPLACE "\n" ";" written "${written}")
list(LENGTH written count)
math(EXPR count "${count} - 2")
message(STATUS "Installing: ${destdir}${ECHO_ROOT_DIR} (a copy of the binary, mount points for ${count} libraries)")
message(STATUS "Installing: ${destdir}${ECHO_UNIT_DIR}/echo-hardened.service.d/root.conf")
# So that install_manifest.txt (and an uninstall from it) knows these files too.
list(APPEND CMAKE_INSTALL_MANIFEST_FILES ${written})
