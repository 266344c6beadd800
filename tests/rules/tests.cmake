# Manager-side tests: alerting/recording rules, Alertmanager, mosquitto ACL,
# compose.yaml, dashboards. Included from tests/CMakeLists.txt. The tools come
# from scripts/install-deps.sh (Debian packages prometheus,
# prometheus-alertmanager, mosquitto, mosquitto-clients, docker-compose,
# python3, python3-yaml).
find_program(PROPMON_PROMTOOL promtool REQUIRED)
find_program(PROPMON_PROMETHEUS prometheus REQUIRED)
find_program(PROPMON_AMTOOL amtool REQUIRED)
find_program(PROPMON_ALERTMANAGER NAMES prometheus-alertmanager alertmanager REQUIRED)
find_program(PROPMON_DOCKER_COMPOSE docker-compose REQUIRED)
find_program(PROPMON_MOSQUITTO mosquitto PATHS /usr/sbin /usr/local/sbin REQUIRED)
find_program(PROPMON_MOSQUITTO_PUB mosquitto_pub REQUIRED)
find_program(PROPMON_MOSQUITTO_SUB mosquitto_sub REQUIRED)
find_program(PROPMON_PYTHON3 python3 REQUIRED)

set(_src ${PROJECT_SOURCE_DIR})
file(GLOB _rule_files CONFIGURE_DEPENDS ${_src}/rules/*.yml)
file(GLOB _rule_tests CONFIGURE_DEPENDS ${_src}/rules/tests/*.yml)

# Rules: syntax, unit tests (every alert fires and stays silent), conventions.
add_test(NAME rules_check COMMAND ${PROPMON_PROMTOOL} check rules ${_rule_files})
add_test(NAME rules_unit_tests COMMAND ${PROPMON_PROMTOOL} test rules ${_rule_tests})
add_test(NAME rules_conventions
  COMMAND ${PROPMON_PYTHON3} ${_src}/tests/rules/check_rules.py
          ${_src}/rules ${_src}/rules/tests ${_src}/docs/runbooks.md)

# Prometheus config of compose.yaml.
add_test(NAME prometheus_config_check
  COMMAND ${PROPMON_PROMTOOL} check config ${_src}/deploy/prometheus/prometheus.yml)

# Alertmanager: syntax of both configs, routing by severity, and a real
# Alertmanager checking inhibition and delivery to the webhook.
add_test(NAME alertmanager_check_config
  COMMAND ${PROPMON_AMTOOL} check-config ${_src}/alertmanager/alertmanager.yml
          ${_src}/deploy/alertmanager/alertmanager.yml)
foreach(_sev critical warning info)
  add_test(NAME alertmanager_route_${_sev}
    COMMAND ${PROPMON_AMTOOL} config routes test
            --config.file=${_src}/alertmanager/alertmanager.yml
            --verify.receivers=${_sev} severity=${_sev} alertname=PropmonTest)
endforeach()
add_test(NAME alertmanager_route_default
  COMMAND ${PROPMON_AMTOOL} config routes test
          --config.file=${_src}/alertmanager/alertmanager.yml
          --verify.receivers=default alertname=PropmonTest)
add_test(NAME alertmanager_live
  COMMAND ${PROPMON_PYTHON3} ${_src}/tests/rules/check_alertmanager.py
          ${PROPMON_ALERTMANAGER} ${_src}/alertmanager/alertmanager.yml
          ${_src}/deploy/alertmanager/alertmanager.yml ${_src}/deploy/webhook/alert_log.py)

# Mosquitto config and ACL of compose.yaml in a real broker.
add_test(NAME mosquitto_acl
  COMMAND ${PROPMON_PYTHON3} ${_src}/tests/rules/check_mosquitto_acl.py
          ${PROPMON_MOSQUITTO} ${PROPMON_MOSQUITTO_PUB} ${PROPMON_MOSQUITTO_SUB}
          ${_src}/deploy/mosquitto)

# compose.yaml: accepted by Debian's docker-compose 1.29, and wired together.
add_test(NAME compose_config
  COMMAND ${PROPMON_DOCKER_COMPOSE} -f ${_src}/compose.yaml config -q)
add_test(NAME compose_wiring
  COMMAND ${PROPMON_PYTHON3} ${_src}/tests/rules/check_compose.py
          ${PROPMON_DOCKER_COMPOSE} ${_src})

# Dashboards: static checks (uids, datasource, targets, every metric name in
# docs/metrics.md), and every query against a real Prometheus fed with
# fixtures and evaluating rules/. The live-stack query check (real exporter
# and bridge) runs tests/dashboards/check_queries.py from the integration test.
add_test(NAME dashboards_static
  COMMAND ${PROPMON_PYTHON3} ${_src}/tests/dashboards/check_dashboards.py)
add_test(NAME dashboards_fixture_queries
  COMMAND ${PROPMON_PYTHON3} ${_src}/tests/dashboards/check_fixture_queries.py
          ${PROPMON_PROMETHEUS})

set_tests_properties(
  rules_check rules_unit_tests rules_conventions prometheus_config_check
  alertmanager_check_config alertmanager_route_critical alertmanager_route_warning
  alertmanager_route_info alertmanager_route_default alertmanager_live
  mosquitto_acl compose_config compose_wiring dashboards_static
  dashboards_fixture_queries
  PROPERTIES LABELS manager TIMEOUT 180 WORKING_DIRECTORY ${_src})
