# Exporter benchmarks.
add_executable(task_collection_bench ${CMAKE_CURRENT_LIST_DIR}/task_collection_bench.cc)
target_link_libraries(task_collection_bench PRIVATE propmon_exporter_lib benchmark::benchmark)
target_compile_definitions(task_collection_bench PRIVATE
  PROPMON_WORKLOAD="${PROJECT_BINARY_DIR}/tests/workload")

# The bare cost of the same /proc reads, in plain C.
add_executable(bare_proc_read ${CMAKE_CURRENT_LIST_DIR}/bare_proc_read.c)
