# Shared build settings: warnings, sanitizers, and helpers that let each folder declare its own
# libraries and tests without touching the top-level file.

add_library(praetor_warnings INTERFACE)
target_compile_options(praetor_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
if(PRAETOR_WERROR)
  target_compile_options(praetor_warnings INTERFACE -Werror)
endif()

if(PRAETOR_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()

# praetor_library(<name> SOURCES ... DEPS ...): a static library rooted at the repo top, so
# includes read "core/base/result.hpp".
function(praetor_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE praetor_warnings)
endfunction()

# praetor_test(<name> LABELS l1 [l2] SOURCES ... DEPS ... [TIMEOUT s]): one GoogleTest binary,
# registered with ctest under the given labels (unit, property, sim, integration, fuzz-regression).
function(praetor_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "LABELS;SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock
    praetor_warnings)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${name} --gtest_brief=1)
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endfunction()
