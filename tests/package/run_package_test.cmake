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

# The codec alone, with every dependency but msgpack made unfindable.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${ZPIPE_SOURCE_DIR}/tests/package/codec_consumer -B ${WORK_DIR}/codec_build
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_DISABLE_FIND_PACKAGE_cppzmq=ON
                        -DCMAKE_DISABLE_FIND_PACKAGE_cxxopts=ON -DCMAKE_DISABLE_FIND_PACKAGE_spdlog=ON
                        -DCMAKE_DISABLE_FIND_PACKAGE_ZeroMQ=ON
                RESULT_VARIABLE failed)
if(failed)
  message(FATAL_ERROR "find_package(zpipe COMPONENTS codec) needed more than msgpack")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/codec_build RESULT_VARIABLE failed)
if(failed)
  message(FATAL_ERROR "the codec-only project did not build against the installed package")
endif()
execute_process(COMMAND ${WORK_DIR}/codec_build/codec_consumer RESULT_VARIABLE failed OUTPUT_VARIABLE output)
if(failed OR NOT output MATCHES "codec round trip ok")
  message(FATAL_ERROR "the codec-only program failed: ${output}")
endif()
message(STATUS "${output}")
