# Whole-stack test on real components (mosquitto, exporter, bridge,
# prometheus): the exporter -> MQTT -> bridge -> Prometheus path, results
# counters, and every dashboard query against live data.
if(TARGET propmon-bridge)
  find_program(PROPMON_PYTHON3_STACK python3 REQUIRED)
  add_test(NAME stack_end_to_end
    COMMAND ${PROPMON_PYTHON3_STACK} ${CMAKE_CURRENT_LIST_DIR}/stack_test.py
            ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(stack_end_to_end PROPERTIES TIMEOUT 300 LABELS "integration")
endif()
