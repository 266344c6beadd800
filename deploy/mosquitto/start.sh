#!/bin/sh
# Starts mosquitto for compose.yaml: writes the password file from the
# environment (nothing secret is kept in the repository), then runs the broker
# with mosquitto.conf. Needs PROPMON_MQTT_EXPORTER_KEY.
set -eu
: "${PROPMON_MQTT_EXPORTER_KEY:?PROPMON_MQTT_EXPORTER_KEY must be set}"
conf_dir=${PROPMON_MOSQUITTO_CONFIG_DIR:-/mosquitto/config}
passwd=${PROPMON_MOSQUITTO_PASSWD:-/mosquitto/data/passwd}
umask 077
rm -f "$passwd"
mosquitto_passwd -c -b "$passwd" propmon-exporter "$PROPMON_MQTT_EXPORTER_KEY"
if id mosquitto >/dev/null 2>&1; then
  chown mosquitto:mosquitto "$passwd" 2>/dev/null || true
fi
exec mosquitto -c "${PROPMON_MOSQUITTO_CONF:-$conf_dir/mosquitto.conf}"
