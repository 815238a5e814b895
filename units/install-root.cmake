# install-root.cmake: at install time, builds the service's RootDirectory= skeleton and the drop-in that binds into it
# the installed binary and exactly the shared libraries ldd lists (RUNBOOK.md "systemd", "Private root").
#
# Bind mounts rather than copies: a library security update reaches the service at its next restart, exactly as
# for an unconfined service; copies would go stale silently. The skeleton pre-creates every mount point so that
# systemd never has to write under /usr when it sets the namespace up.
#
# Inputs (set by units/CMakeLists.txt through install(CODE)): ECHO_BINARY (installed path, without DESTDIR),
# ECHO_ROOT_DIR, ECHO_UNIT_DIR (absolute, without DESTDIR). Honours $ENV{DESTDIR}.
cmake_minimum_required(VERSION 3.25)

set(destdir "$ENV{DESTDIR}")
set(binary "${destdir}${ECHO_BINARY}")
if(NOT EXISTS "${binary}")
  message(FATAL_ERROR "install-root: ${binary} is not installed; install the echo-hardened target first")
endif()

execute_process(COMMAND ldd "${binary}" OUTPUT_VARIABLE ldd_out ERROR_VARIABLE ldd_err RESULT_VARIABLE ldd_rc)
if(NOT ldd_rc EQUAL 0)
  message(FATAL_ERROR "install-root: ldd ${binary} failed (${ldd_rc}): ${ldd_err}")
endif()

# ldd lines: "libfmt.so.9 => /lib/x86_64-linux-gnu/libfmt.so.9 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)",
# and "linux-vdso.so.1 (0x...)" (no file: skipped). "not found" means the service could never start.
string(REPLACE "\n" ";" ldd_lines "${ldd_out}")
set(libraries "")
foreach(line IN LISTS ldd_lines)
  if(line MATCHES "not found")
    message(FATAL_ERROR "install-root: ldd ${binary}: ${line}")
  elseif(line MATCHES "=> (/[^ ]+) \\(")
    list(APPEND libraries "${CMAKE_MATCH_1}")
  elseif(line MATCHES "^[ \t]*(/[^ ]+) \\(")
    list(APPEND libraries "${CMAKE_MATCH_1}")
  endif()
endforeach()
if(NOT libraries)
  message(FATAL_ERROR "install-root: ldd ${binary} listed no libraries:\n${ldd_out}")
endif()

# The private root has no ld.so.cache, so the loader searches only its built-in directories; any library found
# elsewhere (a local build under /usr/local/lib, say) needs LD_LIBRARY_PATH inside the root.
set(loader_dirs /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib /usr/lib /lib64 /usr/lib64)
set(extra_dirs "")
foreach(lib IN LISTS libraries)
  get_filename_component(dir "${lib}" DIRECTORY)
  if(NOT dir IN_LIST loader_dirs AND NOT lib MATCHES "/ld-linux")
    list(APPEND extra_dirs "${dir}")
  endif()
endforeach()
list(REMOVE_DUPLICATES extra_dirs)

# The skeleton: what systemd would otherwise create under /usr at the first start (mount points of the API file
# systems, /etc, /root, the /bin symlink of its base file system) and one empty file per bind mount.
set(root "${destdir}${ECHO_ROOT_DIR}")
set(installed "")
foreach(dir dev proc sys run tmp var/tmp usr/bin etc)
  file(MAKE_DIRECTORY "${root}/${dir}")
endforeach()
file(MAKE_DIRECTORY "${root}/root")
file(CHMOD "${root}/root" DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE)
if(NOT EXISTS "${root}/bin" AND NOT IS_SYMLINK "${root}/bin")
  file(CREATE_LINK usr/bin "${root}/bin" SYMBOLIC)
endif()
foreach(target /usr/bin/echo-hardened ${libraries})
  get_filename_component(dir "${root}${target}" DIRECTORY)
  file(MAKE_DIRECTORY "${dir}")
  file(TOUCH "${root}${target}")
  list(APPEND installed "${root}${target}")
endforeach()

set(dropin_dir "${destdir}${ECHO_UNIT_DIR}/echo-hardened.service.d")
set(dropin "${dropin_dir}/root.conf")
set(text "# root.conf: written by \"cmake --install\" (units/install-root.cmake) from \"ldd ${ECHO_BINARY}\"; reinstall, do not edit.\n")
string(APPEND text "[Service]\nRootDirectory=${ECHO_ROOT_DIR}\n")
string(APPEND text "BindReadOnlyPaths=${ECHO_BINARY}:/usr/bin/echo-hardened\n")
foreach(lib IN LISTS libraries)
  string(APPEND text "BindReadOnlyPaths=${lib}\n")
endforeach()
if(extra_dirs)
  string(REPLACE ";" ":" path "${extra_dirs}")
  string(APPEND text "Environment=LD_LIBRARY_PATH=${path}\n")
endif()
file(MAKE_DIRECTORY "${dropin_dir}")
file(WRITE "${dropin}" "${text}")
list(APPEND installed "${dropin}")

list(LENGTH libraries count)
message(STATUS "Installing: ${root} (mount points for the binary and ${count} libraries)")
message(STATUS "Installing: ${dropin}")
# So that install_manifest.txt (and an uninstall from it) knows these files too.
list(APPEND CMAKE_INSTALL_MANIFEST_FILES ${installed})
