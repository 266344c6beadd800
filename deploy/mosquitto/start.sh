#!/bin/sh
# Starts mosquitto for compose.yaml: writes the password file from the
# environment (nothing secret is kept in the repository), then runs the broker
# with mosquitto.conf. The ACL (acl) lets an account publish only under the
# domain that is its name (docs/security.md).
#   PROPMON_MQTT_EXPORTER_KEY    password of the exporter's account (required)
#   PROPMON_MQTT_EXPORTER_USER   its name = the domain it publishes under
#                                (default: propmon)
#   PROPMON_MQTT_BRIDGE_KEY      optional: password of the read-only account
#                                propmon-bridge (see acl for why the bridge
#                                logs in)
#   PROPMON_MQTT_ACCOUNTS_FILE   optional: more accounts, one "domain:password"
#                                a line (# comments and blank lines skipped),
#                                e.g. a mounted secret, for proplets of other
#                                domains
# Account names are limited to [A-Za-z0-9._-]: in the ACL's patterns a name
# is a topic level, so '/', '+' or '#' in it would widen what it may publish.
set -eu
: "${PROPMON_MQTT_EXPORTER_KEY:?PROPMON_MQTT_EXPORTER_KEY must be set}"
user=${PROPMON_MQTT_EXPORTER_USER:-propmon}
conf_dir=${PROPMON_MOSQUITTO_CONFIG_DIR:-/mosquitto/config}
passwd=${PROPMON_MOSQUITTO_PASSWD:-/mosquitto/data/passwd}

add_account() {
  case $1 in
    '' | *[!A-Za-z0-9._-]*)
      echo "start.sh: account name '$1' must be made of A-Z a-z 0-9 . _ -" >&2
      exit 1 ;;
  esac
  if [ -z "$2" ]; then
    echo "start.sh: account '$1' has an empty password" >&2
    exit 1
  fi
  mosquitto_passwd -b "$passwd" "$1" "$2"
}

umask 077
rm -f "$passwd"
: >"$passwd"
add_account "$user" "$PROPMON_MQTT_EXPORTER_KEY"
if [ -n "${PROPMON_MQTT_BRIDGE_KEY:-}" ]; then
  if [ "$user" = propmon-bridge ]; then
    echo "start.sh: propmon-bridge is the bridge's account, not a domain" >&2
    exit 1
  fi
  add_account propmon-bridge "$PROPMON_MQTT_BRIDGE_KEY"
fi
if [ -n "${PROPMON_MQTT_ACCOUNTS_FILE:-}" ]; then
  while IFS=: read -r name key || [ -n "$name" ]; do
    case $name in '' | '#'*) continue ;; esac
    add_account "$name" "${key:-}"
  done <"$PROPMON_MQTT_ACCOUNTS_FILE"
fi
if id mosquitto >/dev/null 2>&1; then
  chown mosquitto:mosquitto "$passwd" 2>/dev/null || true
fi
exec mosquitto -c "${PROPMON_MOSQUITTO_CONF:-$conf_dir/mosquitto.conf}"
