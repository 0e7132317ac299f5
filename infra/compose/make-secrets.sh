#!/bin/sh
# Creates the secret files infra/docker-compose.yml mounts (compose `secrets:`), once: an
# existing file is never overwritten, so re-running it is safe. Random hex only, so that a
# password can also sit in a URL (MLflow's database URI) unescaped.
#   infra/compose/make-secrets.sh
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
# Private on the host; the files themselves stay readable because each container reads them
# as its own user (nobody, grafana, postgres, sensorguard), through a bind mount of the file.
chmod 0700 "$dir"
for name in api_key_pepper postgres_password mqtt_bridge_password mqtt_sim_password \
    grafana_admin_password; do
    [ -s "$dir/$name" ] || od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$dir/$name"
    chmod 0644 "$dir/$name"
done
# API keys exist only once SensorGuard runs; until you fill these two (README: Docker Compose)
# Prometheus's SensorGuard targets are down with 401 and Grafana's operators source refuses.
for name in prometheus_scrape_key grafana_operators_key; do
    [ -e "$dir/$name" ] || : > "$dir/$name"
    chmod 0644 "$dir/$name"
done
echo "secrets in $dir"
