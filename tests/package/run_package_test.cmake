# Installs the built project into a scratch prefix, then configures, builds
# and runs a small outside project that finds it with find_package(zpipe).
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${ZPIPE_BINARY_DIR} --prefix ${WORK_DIR}/prefix
                RESULT_VARIABLE failed)
if(failed)
  message(FATAL_ERROR "cmake --install failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${ZPIPE_SOURCE_DIR}/tests/package/consumer -B ${WORK_DIR}/build
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix RESULT_VARIABLE failed)
if(failed)
  message(FATAL_ERROR "the outside project did not configure against the installed package")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE failed)
if(failed)
  message(FATAL_ERROR "the outside project did not build against the installed package")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer RESULT_VARIABLE failed OUTPUT_VARIABLE output)
if(failed OR NOT output MATCHES "round trip ok")
  message(FATAL_ERROR "the outside program failed: ${output}")
endif()
message(STATUS "${output}")
