# Installs the embedded API's component into a fresh prefix, then configures,
# builds and runs examples/wal_kv as a separate project against it with
# find_package(marionette): the proof that a user can copy an example out of
# the tree. Run by CTest as `cmake -P install_test.cmake` with BUILD_DIR,
# SOURCE_DIR, WORK_DIR, GENERATOR and CXX_COMPILER set.
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_test.cmake needs -D${var}=...")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --component marionette_embed
  COMMAND_ERROR_IS_FATAL ANY)
foreach(installed include/marionette/world.hpp include/marionette/recorder.h include/marionette/sim/trace.hpp
        include/marionette/control.hpp
        lib/cmake/marionette/marionetteConfig.cmake)
  if(NOT EXISTS ${prefix}/${installed})
    message(FATAL_ERROR "not installed: ${installed}")
  endif()
endforeach()

# The consumer: examples/wal_kv, copied out of the tree so nothing of the
# source tree's include paths can leak into it.
file(COPY ${SOURCE_DIR}/examples/wal_kv DESTINATION ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${WORK_DIR}/wal_kv -B ${WORK_DIR}/build -G ${GENERATOR}
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release
  COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build -j 2 COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${WORK_DIR}/build/wal_kv_test RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "the example built against the installed package failed: ${result}")
endif()
# The installed control client (marionette::control): a program that
# includes control.hpp and links the library; connecting to a socket that
# does not exist must throw ControlError with the connection code.
file(MAKE_DIRECTORY ${WORK_DIR}/control_client)
file(WRITE ${WORK_DIR}/control_client/CMakeLists.txt [=[
cmake_minimum_required(VERSION 3.25)
project(control_client CXX)
find_package(marionette REQUIRED)
add_executable(control_client main.cpp)
target_link_libraries(control_client PRIVATE marionette::control)
]=])
file(WRITE ${WORK_DIR}/control_client/main.cpp [=[
#include "marionette/control.hpp"
int main() {
    try {
        marionette::ControlClient::connect("/nonexistent/run.sock");
    } catch (const marionette::ControlError& e) {
        return e.code() == marionette::ErrorCode::connection ? 0 : 2;
    }
    return 1;
}
]=])
execute_process(COMMAND ${CMAKE_COMMAND} -S ${WORK_DIR}/control_client -B ${WORK_DIR}/control_build -G ${GENERATOR}
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix} COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/control_build COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${WORK_DIR}/control_build/control_client RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "the control client built against the installed package failed: ${result}")
endif()

file(REMOVE_RECURSE ${WORK_DIR})
message(STATUS "installed package: wal_kv and a control client built and passed against ${prefix}")
