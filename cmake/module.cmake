# quiver_module(NAME DIR DEPS ...): one static library per folder under src/.
# Sources are globbed so that adding a file needs no CMake edit.
set(QUIVER_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wno-unused-parameter
    # GCC 12 reports false positives inside nlohmann::json and std::variant templates.
    -Wno-maybe-uninitialized)
if(QUIVER_WERROR)
  list(APPEND QUIVER_WARNINGS -Werror)
endif()

function(quiver_module name dir)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${dir}/*.cc)
  if(NOT srcs)
    set(srcs ${PROJECT_SOURCE_DIR}/cmake/empty.cc)
  endif()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${QUIVER_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# quiver_unit_tests(MODULE): tests/unit/MODULE/*_test.cc -> quiver_MODULE_tests.
function(quiver_unit_tests module)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${module}/*_test.cc)
  if(NOT srcs)
    return()
  endif()
  set(exe quiver_${module}_tests)
  add_executable(${exe} ${srcs})
  target_compile_options(${exe} PRIVATE ${QUIVER_WARNINGS})
  target_include_directories(${exe} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${exe} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  # The environment list is escaped so both variables reach every discovered test.
  gtest_discover_tests(${exe} DISCOVERY_TIMEOUT 60 PROPERTIES ENVIRONMENT
    "QUIVER_SOURCE_DIR=${PROJECT_SOURCE_DIR}\\;QUIVER_BINARY_DIR=${PROJECT_BINARY_DIR}")
endfunction()
