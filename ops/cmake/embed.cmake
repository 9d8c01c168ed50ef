# jk_embed_sql(<target> <file.sql>...): compiles each SQL file into the target as a C string
# `jk_sql_<basename>`, so programs load their SQL from the .sql files kept beside the code that
# owns them, wherever the binary runs from.
function(jk_embed_sql target)
  foreach(sql IN LISTS ARGN)
    get_filename_component(name ${sql} NAME_WE)
    get_filename_component(abs ${sql} ABSOLUTE)
    set(out ${CMAKE_CURRENT_BINARY_DIR}/sql_${name}.c)
    add_custom_command(
      OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -DIN=${abs} -DOUT=${out} -DNAME=${name}
              -P ${PROJECT_SOURCE_DIR}/ops/cmake/embed_one.cmake
      DEPENDS ${abs} ${PROJECT_SOURCE_DIR}/ops/cmake/embed_one.cmake
      COMMENT "Embedding ${name}.sql")
    target_sources(${target} PRIVATE ${out})
  endforeach()
endfunction()
