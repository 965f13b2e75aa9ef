# Man pages (from each program's --help, by help2man), the systemd units,
# and `cpack -G DEB`: zpipe_<version>_amd64.deb with the programs, headers,
# CMake package, man pages, units, PROTOCOL.md and the Python package (zpipe, with its engine). Its runtime dependencies
# come from dpkg-shlibdeps; what building against the CMake package needs
# is recommended.
include(GNUInstallDirs)

find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(zpipe_man_pages)
  set(zpipe-ventilator_summary "deal a zpipe job's tasks to workers")
  set(zpipe-worker_summary "run zpipe tasks and send their results to the sink")
  set(zpipe-sink_summary "collect a zpipe job's results, each task once")
  set(zpipe-keygen_summary "write a CURVE key pair for zpipe")
  set(zpipe-status_summary "show how a running zpipe job stands")
  foreach(program zpipe-ventilator zpipe-worker zpipe-sink zpipe-keygen zpipe-status)
    set(page ${PROJECT_BINARY_DIR}/man/${program}.1)
    add_custom_command(OUTPUT ${page}
                       COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
                       COMMAND ${HELP2MAN} --no-info --section=1 --source=zpipe
                               "--name=${${program}_summary}" --output=${page} $<TARGET_FILE:${program}>
                       DEPENDS ${program} VERBATIM)
    list(APPEND zpipe_man_pages ${page})
  endforeach()
  add_custom_target(zpipe_man_pages ALL DEPENDS ${zpipe_man_pages})
  install(FILES ${zpipe_man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(STATUS "help2man not found: no man pages (apt-get install help2man)")
endif()

# /lib/systemd/system is where Debian 12's packages put units.
install(FILES ${PROJECT_SOURCE_DIR}/packaging/systemd/zpipe-worker@.service
              ${PROJECT_SOURCE_DIR}/packaging/systemd/zpipe-sink@.service
              ${PROJECT_SOURCE_DIR}/packaging/systemd/zpipe-ventilator@.service
        DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/examples/worker-example.conf DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

set(CPACK_PACKAGE_NAME zpipe)
set(CPACK_PACKAGE_VENDOR "zpipe")
set(CPACK_PACKAGE_CONTACT "zpipe maintainers <zpipe@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "task pipeline on ZeroMQ: ventilator, workers and sink")
set(CPACK_PACKAGE_DESCRIPTION "A ventilator deals a job's tasks to workers on any number of hosts, and a sink prints every result once. Includes the programs, their man pages and systemd units, and the C++ libraries with a CMake package.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # zpipe_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libmsgpack-cxx-dev, cppzmq-dev, libcxxopts-dev, libspdlog-dev, python3-zmq, python3-msgpack")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
