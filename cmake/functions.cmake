# qjit_embed_files(OUT <cpp> ROOT <dir> FILES <abs paths...>)
# Writes a C++ source defining qjit::embedded_templates(): every file under ROOT as
# {relative path, content}. Run at build time, so an edited template rebuilds the table.
function(qjit_embed_files)
  cmake_parse_arguments(E "" "OUT;ROOT" "FILES" ${ARGN})
  add_custom_command(
    OUTPUT ${E_OUT}
    COMMAND ${CMAKE_COMMAND} -DOUT=${E_OUT} -DROOT=${E_ROOT} -P ${PROJECT_SOURCE_DIR}/cmake/embed_run.cmake
    DEPENDS ${E_FILES} ${PROJECT_SOURCE_DIR}/cmake/embed_run.cmake
    COMMENT "Embedding kernel templates"
    VERBATIM)
endfunction()

# qjit_add_layer(<folder> <deps...>): the static library qjit_<folder> from every .cpp in the
# folder (recursively), including from the project root, linking its lower layers.
function(qjit_add_layer folder)
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${folder}/*.cpp)
  if(srcs)
    add_library(qjit_${folder} STATIC ${srcs})
    target_include_directories(qjit_${folder} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(qjit_${folder} PUBLIC ${ARGN})
  else()  # a layer with headers only (so far)
    add_library(qjit_${folder} INTERFACE)
    target_include_directories(qjit_${folder} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(qjit_${folder} INTERFACE ${ARGN})
  endif()
endfunction()
