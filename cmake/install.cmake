# `cmake --install` provides the CMake package zpipe with the targets
# zpipe::codec (messages and msgpack codec), zpipe::runtime, zpipe::worker
# (the worker role, to write workers with task kinds of your own), and
# zpipe::ventilator and zpipe::sink (the other two roles, to submit a job and
# collect its results from a program of your own).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The codec has an export of its own, so that find_package(zpipe COMPONENTS
# codec) loads it without the others' dependencies.
install(TARGETS zpipe_codec EXPORT zpipeCodecTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS zpipe_runtime zpipe_worker zpipe_ventilator zpipe_sink EXPORT zpipeTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS zpipe-ventilator zpipe-worker zpipe-sink zpipe-keygen zpipe-status RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/shared/include/zpipe ${PROJECT_SOURCE_DIR}/worker/include/zpipe
                  ${PROJECT_SOURCE_DIR}/ventilator/include/zpipe ${PROJECT_SOURCE_DIR}/sink/include/zpipe
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/shared/include/zpipe/version.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/zpipe)
install(FILES ${PROJECT_SOURCE_DIR}/shared/PROTOCOL.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(zpipe_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/zpipe)
install(EXPORT zpipeCodecTargets NAMESPACE zpipe:: DESTINATION ${zpipe_cmake_dir})
install(EXPORT zpipeTargets NAMESPACE zpipe:: DESTINATION ${zpipe_cmake_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/zpipeConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/zpipeConfig.cmake INSTALL_DESTINATION ${zpipe_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/zpipeConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/zpipeConfig.cmake ${PROJECT_BINARY_DIR}/zpipeConfigVersion.cmake
        DESTINATION ${zpipe_cmake_dir})
