# One full host scrape (all host collectors on this machine's /proc and
# /sys), plus each collector alone.
add_executable(host_bench ${CMAKE_CURRENT_LIST_DIR}/host_bench.cc)
target_link_libraries(host_bench PRIVATE propmon_exporter_lib benchmark::benchmark)
