# Install rules and the package config of the embedded API, so a project can
# `find_package(marionette)` and link `marionette::marionette` (and
# `marionette::recorder`). Everything is in the `marionette_embed` install
# component: `cmake --install <build> --component marionette_embed`.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS marionette_embed marionette_recorder marionette_control_client EXPORT marionetteTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT marionette_embed
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT marionette_embed
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT marionette_embed
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# The public headers, and the simulator headers they include, all under
# include/marionette/: the simulator's keep their sim/... paths below it, and
# include/marionette is an include directory of the installed targets, so
# `#include "sim/time.hpp"` resolves the same way installed.
install(FILES
  ${PROJECT_SOURCE_DIR}/include/marionette/world.hpp
  ${PROJECT_SOURCE_DIR}/include/marionette/run.hpp
  ${PROJECT_SOURCE_DIR}/include/marionette/testing.hpp
  ${PROJECT_SOURCE_DIR}/include/marionette/recorder.hpp
  ${PROJECT_SOURCE_DIR}/include/marionette/recorder.h
  ${PROJECT_SOURCE_DIR}/include/marionette/control.hpp
  ${PROJECT_SOURCE_DIR}/include/marionette/control_protocol.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/marionette COMPONENT marionette_embed)
install(FILES
  ${PROJECT_SOURCE_DIR}/sim/time.hpp ${PROJECT_SOURCE_DIR}/sim/random.hpp ${PROJECT_SOURCE_DIR}/sim/rate.hpp
  ${PROJECT_SOURCE_DIR}/sim/trace.hpp ${PROJECT_SOURCE_DIR}/sim/event_queue.hpp ${PROJECT_SOURCE_DIR}/sim/seed.hpp
  ${PROJECT_SOURCE_DIR}/sim/buggify.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/marionette/sim COMPONENT marionette_embed)
install(FILES
  ${PROJECT_SOURCE_DIR}/sim/disk/disk.hpp ${PROJECT_SOURCE_DIR}/sim/disk/store.hpp
  ${PROJECT_SOURCE_DIR}/sim/disk/interval_set.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/marionette/sim/disk COMPONENT marionette_embed)
install(FILES ${PROJECT_SOURCE_DIR}/sim/net/address.hpp ${PROJECT_SOURCE_DIR}/sim/net/options.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/marionette/sim/net COMPONENT marionette_embed)

set(marionette_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/marionette)
install(EXPORT marionetteTargets NAMESPACE marionette:: DESTINATION ${marionette_cmake_dir}
  COMPONENT marionette_embed)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/marionetteConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/marionetteConfig.cmake INSTALL_DESTINATION ${marionette_cmake_dir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/marionetteConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/marionetteConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/marionetteConfigVersion.cmake
  DESTINATION ${marionette_cmake_dir} COMPONENT marionette_embed)
