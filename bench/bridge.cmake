# propmon-bridge benchmarks: CPU per message, saturation throughput, memory
# per series, /metrics render and scrape at 10k/100k/300k series.
if(TARGET propmon_bridge_lib)
  add_executable(bridge_bench ${CMAKE_CURRENT_LIST_DIR}/bridge_bench.cc)
  target_link_libraries(bridge_bench PRIVATE propmon_bridge_lib benchmark::benchmark)
endif()
