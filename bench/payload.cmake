# Payload codec benchmarks (common/payload.h): decode and encode costs on the
# bridge's and exporter's hot paths, with nlohmann-json baselines.
add_executable(payload_bench ${CMAKE_CURRENT_LIST_DIR}/payload_bench.cc)
target_link_libraries(payload_bench PRIVATE propmon_common benchmark::benchmark)
