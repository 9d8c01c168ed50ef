# jk_embed(<target> <prefix> <file>...): compiles each file into the target as a C string
# `jk_<prefix>_<basename>`, so programs load the SQL and data files kept beside the code that owns
# them, wherever the binary runs from. jk_embed_sql(<target> <file.sql>...) is jk_embed with "sql".
function(jk_embed target prefix)
  foreach(file IN LISTS ARGN)
    get_filename_component(name ${file} NAME_WE)
    get_filename_component(abs ${file} ABSOLUTE)
    set(out ${CMAKE_CURRENT_BINARY_DIR}/${prefix}_${name}.c)
    add_custom_command(
      OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -DIN=${abs} -DOUT=${out} -DNAME=${prefix}_${name}
              -P ${PROJECT_SOURCE_DIR}/ops/cmake/embed_one.cmake
      DEPENDS ${abs} ${PROJECT_SOURCE_DIR}/ops/cmake/embed_one.cmake
      COMMENT "Embedding ${name}")
    target_sources(${target} PRIVATE ${out})
  endforeach()
endfunction()

function(jk_embed_sql target)
  jk_embed(${target} sql ${ARGN})
endfunction()
