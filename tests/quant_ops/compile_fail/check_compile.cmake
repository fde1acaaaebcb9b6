# Runs `COMPILER -std=c++20 -fsyntax-only -I INCLUDE -D CASE SOURCE` (cmake -P) and checks
# the outcome: with EXPECT empty the file must compile; otherwise the compile must fail and
# its output must match the regex EXPECT (the rule_spec_error function naming the problem),
# so a file that fails for another reason (a broken include) does not pass.
# Used by tests/CMakeLists.txt for the compile-time rule spelling (quant_ops/rule_spec.hpp).
foreach(var COMPILER SOURCE INCLUDE CASE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_compile.cmake: -D${var}=... is required")
  endif()
endforeach()
execute_process(
  COMMAND ${COMPILER} -std=c++20 -fsyntax-only -I${INCLUDE} -D${CASE} ${SOURCE}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if("${EXPECT}" STREQUAL "")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${COMPILER} rejected ${SOURCE} (${CASE}), which must compile:\n${out}")
  endif()
  message(STATUS "${COMPILER}: ${CASE} compiles")
else()
  if(rc EQUAL 0)
    message(FATAL_ERROR "${COMPILER} compiled ${SOURCE} (${CASE}), which must not compile")
  endif()
  if(NOT out MATCHES "${EXPECT}")
    message(FATAL_ERROR "${COMPILER} rejected ${SOURCE} (${CASE}), but its message lacks '${EXPECT}':\n${out}")
  endif()
  message(STATUS "${COMPILER}: ${CASE} fails as it must, naming ${EXPECT}")
endif()
