#!/bin/sh
# Entrypoint of the compose Mosquitto: (re)writes the two service users of the password file
# from the compose secrets, keeps every device user already in it, then runs the broker.
set -eu
passwd=/mosquitto/data/passwd
touch "$passwd"
chmod 0600 "$passwd"
mosquitto_passwd -b "$passwd" sensorguard-bridge "$(cat /run/secrets/mqtt_bridge_password)"
mosquitto_passwd -b "$passwd" sensorguard-sim "$(cat /run/secrets/mqtt_sim_password)"
# The broker drops to user mosquitto: it must still read the password file and write its data.
chown -R mosquitto:mosquitto /mosquitto/data
exec mosquitto -c /mosquitto/config/mosquitto.conf
