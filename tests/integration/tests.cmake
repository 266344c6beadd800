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

# The web config (TLS, mutual TLS, basic auth, headers, rate limit, reload)
# and the HTTP limits (slow clients, SSE cap, CVE-2025-55763 guard, write
# API) on the real daemons.
if(TARGET propmon-bridge)
  add_test(NAME web_security
    COMMAND ${PROPMON_PYTHON3_STACK} ${CMAKE_CURRENT_LIST_DIR}/web_security_test.py
            ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(web_security PROPERTIES TIMEOUT 300
    LABELS "integration;timing")
endif()

# Least privilege (docs/security.md): the real exporter as a non-root uid with
# only CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (ambient, and as the file
# capabilities of deploy/Dockerfile.exporter), and without them. Needs root
# to switch uids: skipped (77) otherwise.
if(TARGET propmon-exporter)
  find_program(PROPMON_PYTHON3 python3 REQUIRED)
  add_test(NAME exporter_least_privilege
    COMMAND ${PROPMON_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/least_privilege_test.py
            $<TARGET_FILE:propmon-exporter> ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(exporter_least_privilege PROPERTIES TIMEOUT 180
    SKIP_RETURN_CODE 77 LABELS "integration")
endif()

# No silent loss across broker restarts with the shipped deploy/mosquitto
# files and the bridge's default session: 10 restarts (two with SIGKILL)
# while 20 tasks publish every second; every sample reaches the bridge or is
# counted.
if(TARGET propmon-bridge)
  add_test(NAME broker_restarts
    COMMAND ${PROPMON_PYTHON3_STACK} ${CMAKE_CURRENT_LIST_DIR}/broker_restart_test.py
            ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(broker_restarts PROPERTIES TIMEOUT 300
    LABELS "integration;timing")
endif()

# Faults of the daemons themselves on the shipped files (daemon_faults_test.py):
# the bridge killed and restarted (the broker's backlog arrives), the
# exporter stopped while its buffer holds messages (published or counted),
# SIGTERM under full load (exit within 5 s), a fork-and-exit churn (no error
# but process_vanished, no counter decreasing).
if(TARGET propmon-bridge)
  foreach(scenario bridge_kill exporter_sigterm shutdown_load fork_churn)
    add_test(NAME daemon_faults_${scenario}
      COMMAND ${PROPMON_PYTHON3_STACK} ${CMAKE_CURRENT_LIST_DIR}/daemon_faults_test.py
              ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR} ${scenario})
    set_tests_properties(daemon_faults_${scenario} PROPERTIES TIMEOUT 240
      LABELS "integration")
  endforeach()
  # Exit within 5 s is a bound on wall time.
  set_tests_properties(daemon_faults_shutdown_load daemon_faults_exporter_sigterm
    PROPERTIES LABELS "integration;timing")
endif()

# Soak, one minute (scripts/soak.sh MINUTES runs it longer): 10 000
# short-lived tasks a minute through discovery and the API, a 5 000 msg/s
# flood into the bridge; no series of an ended task past its grace period.
if(TARGET propmon-bridge)
  add_test(NAME soak_1min
    COMMAND ${PROPMON_PYTHON3_STACK} ${CMAKE_CURRENT_LIST_DIR}/soak_test.py
            ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR} 1)
  set_tests_properties(soak_1min PROPERTIES TIMEOUT 300 LABELS "integration;timing")
endif()

# The shipped daemons run on jemalloc with propmon's options (kJemallocConf,
# common/malloc_arenas.h): jemalloc confirms each option it read from the
# binary's `malloc_conf`.
if(PROPMON_USE_JEMALLOC)
  foreach(_daemon propmon-exporter propmon-bridge)
    if(TARGET ${_daemon})
      add_test(NAME ${_daemon}_uses_jemalloc
        COMMAND sh -c "MALLOC_CONF=confirm_conf:true \"$0\" --version 2>&1 | grep -q 'variable malloc_conf.*narenas:1'"
                $<TARGET_FILE:${_daemon}>)
      set_tests_properties(${_daemon}_uses_jemalloc PROPERTIES LABELS "integration")
    endif()
  endforeach()
endif()
