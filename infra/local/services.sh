#!/usr/bin/env bash
# SensorGuard local servers for dev and CI: Kafka (KRaft), Cassandra, Mosquitto, Prometheus,
# Alertmanager, all on 127.0.0.1, run as plain background processes we own (no Docker, no
# systemd).
#
#   infra/local/services.sh fetch              # download jars (Maven) / apt install; cached
#   infra/local/services.sh up [names...]      # start + wait until ready (default: all)
#   infra/local/services.sh down [names...]    # stop (TERM, wait, KILL)
#   infra/local/services.sh status [names...]  # exit 0 only if all named are ready
#
# Names: kafka cassandra mosquitto prometheus alertmanager. See infra/local/README.md for env vars.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${SENSORGUARD_SERVICES_CACHE:-$REPO/.services/cache}
RUN=${SENSORGUARD_SERVICES_DIR:-$REPO/.services/run}
FRESH=${SENSORGUARD_SERVICES_FRESH:-0}
KAFKA_VERSION=${SENSORGUARD_KAFKA_VERSION:-}          # empty = the version in kafka/pom.xml
CASSANDRA_VERSION=${SENSORGUARD_CASSANDRA_VERSION:-}  # empty = the version in cassandra/pom.xml
KAFKA_HEAP=${SENSORGUARD_KAFKA_HEAP:-"-Xms512m -Xmx1g"}
CASSANDRA_HEAP=${SENSORGUARD_CASSANDRA_HEAP:-1G}
# Ports, so a second instance (its own SENSORGUARD_SERVICES_DIR) can run beside the shared one;
# e.g. the fault tests (tests/resilience) kill and restart private servers on other ports.
declare -A DEFAULT_PORTS=([kafka]="9092 9093" [cassandra]="9042 7000" [mosquitto]=1883)
KAFKA_PORT=${SENSORGUARD_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${SENSORGUARD_KAFKA_CONTROLLER_PORT:-9093}
CASSANDRA_PORT=${SENSORGUARD_CASSANDRA_PORT:-9042}
CASSANDRA_STORAGE_PORT=${SENSORGUARD_CASSANDRA_STORAGE_PORT:-7000}
MOSQUITTO_PORT=${SENSORGUARD_MOSQUITTO_PORT:-1883}
PROMETHEUS_CONFIG=$REPO/infra/prometheus/prometheus.yml
ALERTMANAGER_CONFIG=$REPO/infra/alertmanager/alertmanager.yml

ALL_SERVICES=(kafka cassandra mosquitto prometheus alertmanager)
# Start order for `up`: Cassandra is by far the slowest, so it is launched first.
START_ORDER=(cassandra kafka mosquitto prometheus alertmanager)

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }
now() { echo "${EPOCHREALTIME/,/.}"; }  # bash 5: wall clock with microseconds
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------------------------
# Per-service facts
# ---------------------------------------------------------------------------------------------
svc_dir() { echo "$RUN/$1"; }
svc_log() { echo "$RUN/$1/logs/$1.log"; }
svc_pidfile() { echo "$RUN/$1/$1.pid"; }
svc_ports() {  # every TCP port the server binds; the first one is the client port
  case $1 in
    kafka) echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT" ;;
    cassandra) echo "$CASSANDRA_PORT $CASSANDRA_STORAGE_PORT" ;;
    mosquitto) echo "$MOSQUITTO_PORT" ;;
    prometheus) echo "9090" ;;
    # Not Alertmanager's usual 9093: Kafka's CONTROLLER listener holds that one. No cluster port
    # (--cluster.listen-address= is empty: one instance, no gossip).
    alertmanager) echo "9094" ;;
  esac
}
svc_timeout() {  # seconds to wait for readiness; SENSORGUARD_<NAME>_TIMEOUT overrides
  local var def
  var="SENSORGUARD_${1^^}_TIMEOUT"
  case $1 in
    kafka) def=120 ;; cassandra) def=240 ;; mosquitto) def=20 ;; prometheus) def=60 ;;
    alertmanager) def=30 ;;
  esac
  echo "${!var:-$def}"
}
svc_stop_timeout() {  # seconds between TERM and KILL (Cassandra drains, Kafka shuts down cleanly)
  case $1 in kafka | cassandra) echo 60 ;; *) echo 15 ;; esac
}
valid_name() { [[ " ${ALL_SERVICES[*]} " == *" $1 "* ]]; }

# ---------------------------------------------------------------------------------------------
# Java
# ---------------------------------------------------------------------------------------------
# JDK 17: Kafka 4.x needs >= 17 and Cassandra 5.0 accepts 11 or 17 only (the machine's other JDK,
# Temurin 25, is refused by Cassandra), so never trust whatever `java` is first on PATH.
find_java_home() {
  local c
  for c in "${SENSORGUARD_JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 \
    /usr/lib/jvm/java-17-openjdk-arm64 /usr/lib/jvm/java-17-openjdk "${JAVA_HOME:-}"; do
    if [[ -n $c && -x $c/bin/java ]]; then
      echo "$c"
      return 0
    fi
  done
  die "no JDK 17 found: install openjdk-17-jdk-headless or set SENSORGUARD_JAVA_HOME"
}
JAVA_HOME_17=""
JAVA=""
init_java() {  # sets JAVA_HOME_17 / JAVA once, in the current shell (not in a $(...) subshell)
  [[ -z $JAVA ]] || return 0
  JAVA_HOME_17=$(find_java_home)
  JAVA=$JAVA_HOME_17/bin/java
  if ! "$JAVA" -version 2>&1 | head -n 1 | grep -q '"17\.'; then
    log "WARNING: $JAVA is not JDK 17; Cassandra 5.0 only accepts 11 or 17"
  fi
}

# ---------------------------------------------------------------------------------------------
# fetch: Maven jars into $CACHE/<name>/lib, Debian packages via apt
# ---------------------------------------------------------------------------------------------
jars_key() {  # what the cached lib/ was built from: pom content + version override
  echo "$(sha256sum <"$HERE/$1/pom.xml" | cut -d' ' -f1) ${2:-pom-default}"
}
jars_cached() {
  local lib=$CACHE/$1/lib
  [[ -f $lib/.complete && "$(cat "$lib/.complete")" == "$(jars_key "$1" "$2")" ]]
}
# Runs mvn for one server. Each server gets its own Maven local repo so the two downloads can
# run in parallel (Maven 3.8 is not safe with two processes writing one local repo).
fetch_jars() {
  local name=$1 version=$2 dest=$CACHE/$1
  local -a args=(-B -q -f "$HERE/$name/pom.xml" "-Dmaven.repo.local=$dest/m2"
    dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$dest/lib.tmp")
  [[ -z $version ]] || args+=("-D$name.version=$version")
  rm -rf "$dest/lib.tmp"
  mkdir -p "$dest"
  # lib.tmp -> lib only when complete, so an interrupted download is never taken for a cache hit.
  JAVA_HOME=$JAVA_HOME_17 mvn "${args[@]}" >"$dest/mvn.log" 2>&1 || {
    tail -n 40 "$dest/mvn.log" >&2
    die "mvn failed for $name (full output: $dest/mvn.log)"
  }
  jars_key "$name" "$version" >"$dest/lib.tmp/.complete"
  rm -rf "${dest:?}/lib"
  mv "$dest/lib.tmp" "$dest/lib"
  log "$name: $(find "$dest/lib" -name '*.jar' | wc -l) jars in $dest/lib"
}

# apt packages: mosquitto (+ clients for tests), prometheus, alertmanager (+ amtool), and
# chromium, which the operators' page tests drive headless through playwright.
APT_PACKAGES=(mosquitto:mosquitto mosquitto-clients:mosquitto_pub prometheus:prometheus
  prometheus-alertmanager:prometheus-alertmanager prometheus-alertmanager:amtool
  chromium:chromium)
apt_missing() {
  local pair
  for pair in "${APT_PACKAGES[@]}"; do
    command -v "${pair#*:}" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v "${pair#*:}" \
      >/dev/null 2>&1 || echo "${pair%%:*}"
  done
}
fetch_apt() {
  local -a missing
  mapfile -t missing < <(apt_missing | sort -u)
  if ((${#missing[@]} == 0)); then
    log "apt packages present ($(printf '%s\n' "${APT_PACKAGES[@]%%:*}" | awk '!seen[$0]++' | paste -sd' '))"
    return 0
  fi
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root (or sudo) to apt-get install ${missing[*]}"
    sudo=sudo
  fi
  log "apt-get install ${missing[*]}"
  # Debian starts a package's service on install; we run our own instances, so forbid that with
  # a temporary policy-rc.d (exit 101 = "action forbidden") unless one already exists.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# temporary, from sensorguard infra/local/services.sh\nexit 101\n' |
      $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    made_policy=1
  fi
  local aptlog=$CACHE/apt.log rc=0
  mkdir -p "$CACHE"
  local -a install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q
    --no-install-recommends "${missing[@]}")
  [[ -z $sudo ]] || install=(sudo "${install[@]}")
  # `apt-get update` only when the install fails (fresh machines may have empty package lists).
  if ! "${install[@]}" >"$aptlog" 2>&1; then
    log "install failed; running apt-get update and retrying"
    { $sudo apt-get update -q && "${install[@]}"; } >>"$aptlog" 2>&1 || rc=$?
  fi
  ((made_policy == 0)) || $sudo rm -f "$policy"
  if ((rc != 0)); then
    tail -n 30 "$aptlog" >&2
    die "apt-get install ${missing[*]} failed (full output: $aptlog)"
  fi
  # On a systemd host the units were still enabled: disable them so they never hold our ports.
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    local pkg
    for pkg in "${missing[@]}"; do
      case $pkg in mosquitto | prometheus | prometheus-alertmanager)
        $sudo systemctl disable --now "$pkg" >/dev/null 2>&1 || true ;;
      esac
    done
  fi
}

cmd_fetch() {
  init_java
  local t0 pk="" pc="" rc=0
  t0=$(now)
  mkdir -p "$CACHE"
  # Both Maven downloads in the background while apt runs in the foreground.
  if jars_cached kafka "$KAFKA_VERSION"; then log "kafka jars cached ($CACHE/kafka/lib)"; else
    log "kafka: mvn dependency:copy-dependencies ..."
    fetch_jars kafka "$KAFKA_VERSION" &
    pk=$!
  fi
  if jars_cached cassandra "$CASSANDRA_VERSION"; then log "cassandra jars cached ($CACHE/cassandra/lib)"; else
    log "cassandra: mvn dependency:copy-dependencies ..."
    fetch_jars cassandra "$CASSANDRA_VERSION" &
    pc=$!
  fi
  fetch_apt || rc=1
  [[ -z $pk ]] || wait "$pk" || rc=1
  [[ -z $pc ]] || wait "$pc" || rc=1
  ((rc == 0)) || die "fetch failed"
  check_alertmanager_config
  log "fetch done in $(elapsed "$t0") s"
}

# `up` fetches only what the named servers need, so `up mosquitto` never runs mvn.
ensure_fetched() {
  local name=$1
  case $name in
    kafka) jars_cached kafka "$KAFKA_VERSION" || fetch_jars kafka "$KAFKA_VERSION" ;;
    cassandra) jars_cached cassandra "$CASSANDRA_VERSION" || fetch_jars cassandra "$CASSANDRA_VERSION" ;;
    mosquitto) command -v mosquitto >/dev/null || PATH=$PATH:/usr/sbin command -v mosquitto >/dev/null || fetch_apt ;;
    prometheus) command -v prometheus >/dev/null || fetch_apt ;;
    alertmanager) command -v prometheus-alertmanager >/dev/null && command -v amtool >/dev/null || fetch_apt ;;
  esac
}

# amtool parses the config exactly as Alertmanager will: a typo fails here, not at start-up.
check_alertmanager_config() {
  local out
  out=$(amtool check-config "$ALERTMANAGER_CONFIG" 2>&1) ||
    die "alertmanager: $ALERTMANAGER_CONFIG is not valid:
$out"
  log "alertmanager: $ALERTMANAGER_CONFIG is valid (amtool check-config)"
}

# ---------------------------------------------------------------------------------------------
# Processes: which ones are ours, who holds a port, stopping
# ---------------------------------------------------------------------------------------------
alive() {  # running and not a zombie
  local pid=$1 state
  [[ -n $pid && -r /proc/$pid/stat ]] || return 1
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}
cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

# A process is "ours" for service NAME if
#  - kafka/cassandra: a java process with the exact argument -Dsensorguard.service=NAME
#    (set by this script on every launch, whatever run dir or clone started it);
#  - mosquitto/prometheus/alertmanager: that binary (Debian's is `prometheus-alertmanager`),
#    reading a config file whose first lines carry the marker "sensorguard-managed" (our rendered
#    mosquitto.conf / infra/prometheus/prometheus.yml / infra/alertmanager/alertmanager.yml).
#    Tests that run an Alertmanager of their own use a config without the marker, so `down`
#    never touches them.
# Matching whole arguments, never substrings, keeps e.g. `grep sensorguard` shells out of it.
is_ours() {
  local pid=$1 name=$2 a f
  local -a args
  [[ -r /proc/$pid/cmdline ]] || return 1
  mapfile -d '' -t args <"/proc/$pid/cmdline" 2>/dev/null || return 1
  ((${#args[@]} > 0)) || return 1
  case $name in
    kafka | cassandra)
      [[ ${args[0]##*/} == java ]] || return 1
      for a in "${args[@]}"; do [[ $a == "-Dsensorguard.service=$name" ]] && return 0; done
      ;;
    mosquitto | prometheus | alertmanager)
      [[ ${args[0]##*/} == "$name" || ${args[0]##*/} == "prometheus-$name" ]] || return 1
      for a in "${args[@]:1}"; do
        f=${a#--config.file=}
        [[ $f == /* && -f $f ]] && head -n 3 "$f" 2>/dev/null | grep -q sensorguard-managed && return 0
      done
      ;;
  esac
  return 1
}
# The ports a process of ours was started for: kafka/cassandra carry them in the argument
# -Dsensorguard.ports=P1,P2 (set by this script; a JVM started before it existed used the
# defaults), mosquitto in its config's `listener` line; prometheus/alertmanager have fixed ports.
proc_ports() {
  local pid=$1 name=$2 a f i
  local -a args
  mapfile -d '' -t args <"/proc/$pid/cmdline" 2>/dev/null || return 0
  case $name in
    kafka | cassandra)
      for a in "${args[@]}"; do
        if [[ $a == -Dsensorguard.ports=* ]]; then
          echo "${a#-Dsensorguard.ports=}" | tr ',' ' '
          return 0
        fi
      done
      echo "${DEFAULT_PORTS[$name]}"
      ;;
    mosquitto)
      for ((i = 1; i < ${#args[@]}; i++)); do [[ ${args[i - 1]} == -c ]] && f=${args[i]}; done
      if [[ -n ${f:-} && -r $f ]]; then
        awk '$1 == "listener" { print $2 }' "$f" | paste -sd' '
      else
        echo "${DEFAULT_PORTS[$name]}"
      fi
      ;;
    *) svc_ports "$name" ;;
  esac
}
# Ours AND this instance's: started from this run dir, or for one of this instance's ports (a
# leftover of another run dir that would hold them). A second instance on other ports is
# someone else's: never stopped or adopted from here, and it never stops the default one.
is_mine() {
  local pid=$1 name=$2 p q
  is_ours "$pid" "$name" || return 1
  [[ "$(cmdline "$pid")" == *"$RUN/$name/"* ]] && return 0
  for p in $(proc_ports "$pid" "$name"); do
    for q in $(svc_ports "$name"); do [[ $p == "$q" ]] && return 0; done
  done
  return 1
}
port_pids() {  # pids listening on 127.0.0.1/any TCP port $1 (ss shows them to root)
  ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
}
port_open() {  # something accepts TCP connections on 127.0.0.1:$1
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}
# Every live process of ours for this service: the pid file, holders of its ports, and any
# other process with our marker for this instance (is_mine; e.g. a JVM still starting up whose
# pid file was deleted).
our_pids() {
  local name=$1 pid port p
  {
    pid=$(cat "$(svc_pidfile "$name")" 2>/dev/null || true)
    [[ -n $pid ]] && alive "$pid" && is_ours "$pid" "$name" && echo "$pid"
    for port in $(svc_ports "$name"); do
      for p in $(port_pids "$port"); do is_ours "$p" "$name" && echo "$p"; done
    done
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      [[ $p == "$$" ]] && continue
      if is_mine "$p" "$name" 2>/dev/null && alive "$p"; then echo "$p"; fi
    done
    true
  } | sort -un
}

stop_pids() {  # TERM, wait up to $2 s, then KILL
  local name=$1 grace=$2
  shift 2
  local pids=("$@") p deadline
  ((${#pids[@]})) || return 0
  log "$name: stopping pid ${pids[*]} (TERM, KILL after ${grace}s)"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  deadline=$((SECONDS + grace))
  while ((SECONDS < deadline)); do
    local left=0
    for p in "${pids[@]}"; do alive "$p" && left=1; done
    ((left)) || return 0
    sleep 0.3
  done
  log "$name: still running after ${grace}s, sending KILL"
  kill -KILL "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 50); do
    local left=0
    for p in "${pids[@]}"; do alive "$p" && left=1; done
    ((left)) || return 0
    sleep 0.1
  done
}
stop_service() {
  local name=$1 port p
  local -a pids
  mapfile -t pids < <(our_pids "$name")
  if ((${#pids[@]})); then
    stop_pids "$name" "$(svc_stop_timeout "$name")" "${pids[@]}"
    log "$name: stopped"
  else
    log "$name: not running"
  fi
  rm -f "$(svc_pidfile "$name")"
  for port in $(svc_ports "$name"); do
    for p in $(port_pids "$port"); do
      log "$name: WARNING port $port is held by pid $p, not ours, left alone: $(cmdline "$p")"
    done
  done
}

# Stop several servers concurrently: Kafka and Cassandra each take a few seconds to shut down.
stop_services() {
  local n rc=0
  local -a jobs=()
  for n in "$@"; do
    stop_service "$n" &
    jobs+=($!)
  done
  for n in "${jobs[@]}"; do wait "$n" || rc=1; done
  return $rc
}

# ---------------------------------------------------------------------------------------------
# Readiness probes (cheap, polled every 0.5 s)
# ---------------------------------------------------------------------------------------------
probe() {
  local name=$1 logf
  logf=$(svc_log "$name")
  case $name in
    # The log is rotated on each start, so these lines belong to the current process.
    kafka) grep -q 'Kafka Server started' "$logf" 2>/dev/null && port_open "$KAFKA_PORT" ;;
    cassandra) grep -q 'Starting listening for CQL clients' "$logf" 2>/dev/null && port_open "$CASSANDRA_PORT" ;;
    mosquitto) port_open "$MOSQUITTO_PORT" ;;
    prometheus) curl -fsS -m 2 -o /dev/null http://127.0.0.1:9090/-/ready 2>/dev/null ;;
    alertmanager) curl -fsS -m 2 -o /dev/null http://127.0.0.1:9094/-/ready 2>/dev/null ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Launching
# ---------------------------------------------------------------------------------------------
render() {  # render TEMPLATE DEST KEY=VALUE...   (@KEY@ -> VALUE)
  local src=$1 dst=$2 kv content
  shift 2
  content=$(<"$src")
  for kv in "$@"; do content=${content//@${kv%%=*}@/${kv#*=}}; done
  printf '%s\n' "$content" >"$dst"
}
# The templates name the default ports; another instance's are put in their place. Each
# replaced text must be there, so a template edit cannot silently leave a default port behind.
# With the default ports the rendered file is the template's, untouched.
set_ports() {  # set_ports FILE 'OLD=>NEW'...
  local f=$1 kv old new content
  shift
  content=$(<"$f")
  for kv in "$@"; do
    old=${kv%%=>*} new=${kv#*=>}
    [[ $old == "$new" ]] && continue
    [[ $content == *"$old"* ]] || die "$f: expected '$old' to put another port in its place"
    content=${content//"$old"/"$new"}
  done
  printf '%s\n' "$content" >"$f"
}
rotate_log() {
  local logf
  logf=$(svc_log "$1")
  mkdir -p "$(dirname "$logf")"
  [[ ! -s $logf ]] || mv -f "$logf" "$logf.1"
  : >"$logf"
}
# Start "$@" detached: own session (setsid) so Ctrl-C / the caller's process group does not
# reach it, stdin from /dev/null, output to the log, and fd 9 (our flock) closed so a running
# server never holds the lock. With job control off, setsid execs in place: $! is the server.
launch() {
  local name=$1
  shift
  setsid "$@" </dev/null >>"$(svc_log "$name")" 2>&1 9>&- &
  echo $! >"$(svc_pidfile "$name")"
}

random_cluster_id() {  # Kafka cluster id: 16 random bytes, URL-safe base64, no padding, no leading '-'
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ $id == -* ]] || break
  done
  echo "$id"
}

start_kafka() {
  local d lib id meta
  d=$(svc_dir kafka)
  lib=$CACHE/kafka/lib
  mkdir -p "$d/data" "$d/logs" "$d/conf"
  render "$HERE/kafka/server.properties" "$d/conf/server.properties" "KAFKA_DIR=$d"
  set_ports "$d/conf/server.properties" "127.0.0.1:9092=>127.0.0.1:$KAFKA_PORT" \
    "127.0.0.1:9093=>127.0.0.1:$KAFKA_CONTROLLER_PORT"
  meta=$d/data/meta.properties
  # Leftover data: keep it if it is a formatted single-node dir (adopt its cluster id), wipe it
  # if it belongs to another node id or is unreadable. Never format over a formatted dir.
  if [[ -f $meta ]]; then
    id=$(sed -n 's/^cluster\.id=//p' "$meta")
    if [[ -n $id && "$(sed -n 's/^node\.id=//p' "$meta")" == 1 ]]; then
      echo "$id" >"$d/cluster.id"
    else
      log "kafka: WARNING $meta is not ours (node.id/cluster.id); wiping $d/data"
      rm -rf "$d/data"
      mkdir -p "$d/data"
    fi
  fi
  if [[ ! -f $meta ]]; then
    # Unformatted: drop any half-written leftovers so format starts from an empty dir.
    rm -rf "$d/data"
    mkdir -p "$d/data"
    id=$(random_cluster_id)
    echo "$id" >"$d/cluster.id"
    "$JAVA" -Xmx256m "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.properties" -cp "$lib/*" \
      kafka.tools.StorageTool format "--cluster-id=$id" --config "$d/conf/server.properties" \
      </dev/null >>"$(svc_log kafka)" 2>&1 9>&- || die "kafka: storage format failed, see $(svc_log kafka)"
  fi
  # JVM flags as in Kafka's kafka-run-class.sh / kafka-server-start.sh.
  # shellcheck disable=SC2086  # KAFKA_HEAP is a list of flags
  launch kafka "$JAVA" $KAFKA_HEAP -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dsensorguard.service=kafka "-Dsensorguard.ports=$KAFKA_PORT,$KAFKA_CONTROLLER_PORT" \
    "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.properties" "-Dkafka.logs.dir=$d/logs" \
    -cp "$lib/*" kafka.Kafka "$d/conf/server.properties"
}

start_cassandra() {
  local d lib jamm
  d=$(svc_dir cassandra)
  lib=$CACHE/cassandra/lib
  mkdir -p "$d"/{data,commitlog,saved_caches,hints,cdc_raw,logs,conf,tmp}
  render "$HERE/cassandra/cassandra.yaml" "$d/conf/cassandra.yaml" "CASSANDRA_DIR=$d"
  # The seed is this node itself: left at 7000, a second node would gossip with the default one.
  set_ports "$d/conf/cassandra.yaml" "native_transport_port: 9042=>native_transport_port: $CASSANDRA_PORT" \
    "storage_port: 7000=>storage_port: $CASSANDRA_STORAGE_PORT" \
    "127.0.0.1:7000=>127.0.0.1:$CASSANDRA_STORAGE_PORT"
  jamm=$(find "$lib" -maxdepth 1 -name 'jamm-*.jar' | head -n 1)
  [[ -n $jamm ]] || die "cassandra: no jamm jar in $lib (run fetch)"
  # JNA unpacks its native lib into jna.tmpdir and must be able to exec it: use our run dir
  # (on the same filesystem as the repo) rather than a possibly noexec /tmp.
  launch cassandra "$JAVA" "@$HERE/cassandra/jvm17-server.options" \
    "-Xms$CASSANDRA_HEAP" "-Xmx$CASSANDRA_HEAP" "-javaagent:$jamm" \
    -Dsensorguard.service=cassandra "-Dsensorguard.ports=$CASSANDRA_PORT,$CASSANDRA_STORAGE_PORT" \
    "-Dcassandra.config=file://$d/conf/cassandra.yaml" "-Dcassandra.storagedir=$d" \
    "-Dcassandra.logdir=$d/logs" "-Dlogback.configurationFile=$HERE/cassandra/logback.xml" \
    "-Djna.tmpdir=$d/tmp" "-Djava.io.tmpdir=$d/tmp" \
    -cp "$lib/*" org.apache.cassandra.service.CassandraDaemon
}

# The broker's users: the bridge (reads sensors/#) and the simulator/gateway (writes sensors/#),
# see mosquitto/acl. A password is generated once into $RUN/mosquitto/secrets/<user> (0600) and
# kept across restarts; SENSORGUARD_MQTT_<USER>_PASSWORD (BRIDGE, SIM) sets one instead.
# credentials.env there holds the SENSORGUARD_* variables a client needs (`make demo-services`).
MOSQUITTO_USERS=(sensorguard-bridge sensorguard-sim)
mosquitto_users() {
  local d=$1 user var pw secrets=$1/secrets
  mkdir -p "$secrets"
  chmod 700 "$secrets"
  : >"$d/passwd.tmp"
  chmod 600 "$d/passwd.tmp"
  for user in "${MOSQUITTO_USERS[@]}"; do
    var="SENSORGUARD_MQTT_${user#sensorguard-}_PASSWORD"
    var=${var^^}
    if [[ -n ${!var:-} ]]; then
      pw=${!var}
    elif [[ -s $secrets/$user ]]; then
      pw=$(<"$secrets/$user")
    else
      pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')
    fi
    (umask 077 && printf '%s' "$pw" >"$secrets/$user")
    mosquitto_passwd -b "$d/passwd.tmp" "$user" "$pw" >/dev/null
  done
  mv -f "$d/passwd.tmp" "$d/passwd"
  cat >"$d/credentials.env" <<EOF
# sensorguard-managed by infra/local/services.sh: what a client of this Mosquitto needs.
SENSORGUARD_MQTT_USERNAME=sensorguard-bridge
SENSORGUARD_MQTT_PASSWORD_FILE=$secrets/sensorguard-bridge
SENSORGUARD_MQTT_PUBLISHER_USERNAME=sensorguard-sim
SENSORGUARD_MQTT_PUBLISHER_PASSWORD_FILE=$secrets/sensorguard-sim
EOF
}

start_mosquitto() {
  local d bin user_line=""
  d=$(svc_dir mosquitto)
  mkdir -p "$d/data" "$d/logs"
  bin=$(command -v mosquitto || PATH=$PATH:/usr/sbin command -v mosquitto)
  [[ $(id -u) -ne 0 ]] || user_line="user root"
  mosquitto_users "$d"
  render "$HERE/mosquitto/mosquitto.conf" "$d/mosquitto.conf" "MOSQUITTO_DIR=$d" \
    "USER_LINE=$user_line" "ACL_FILE=$HERE/mosquitto/acl"
  set_ports "$d/mosquitto.conf" "listener 1883 127.0.0.1=>listener $MOSQUITTO_PORT 127.0.0.1"
  launch mosquitto "$bin" -c "$d/mosquitto.conf"
}

start_prometheus() {
  local d
  d=$(svc_dir prometheus)
  mkdir -p "$d/data" "$d/logs"
  # The scrape jobs read an API key from this file (see prometheus.yml); until someone puts
  # one there, an empty file keeps the config valid and the SensorGuard targets show as 401.
  local key_file
  key_file="$(dirname "$PROMETHEUS_CONFIG")/scrape.key"
  [[ -e $key_file ]] || : >"$key_file"
  # --web.enable-lifecycle: tests may POST /-/reload after editing the scrape config.
  launch prometheus "$(command -v prometheus)" "--config.file=$PROMETHEUS_CONFIG" \
    "--storage.tsdb.path=$d/data" --storage.tsdb.retention.time=7d \
    --web.listen-address=127.0.0.1:9090 --web.enable-lifecycle
}

start_alertmanager() {
  local d
  d=$(svc_dir alertmanager)
  mkdir -p "$d/data" "$d/logs"
  check_alertmanager_config
  # Silences and the notification log live in --storage.path, so they survive a restart.
  # --web.external-url: the links Alertmanager puts in notifications point at this instance.
  # POST /-/reload (always on in Alertmanager) rereads the config after an edit.
  launch alertmanager "$(command -v prometheus-alertmanager)" "--config.file=$ALERTMANAGER_CONFIG" \
    "--storage.path=$d/data" --data.retention=120h \
    --web.listen-address=127.0.0.1:9094 --web.external-url=http://127.0.0.1:9094 \
    --cluster.listen-address=
}

# Data that SENSORGUARD_SERVICES_FRESH=1 or a stale-data failure wipes (logs are kept).
wipe_data() {
  local d
  d=$(svc_dir "$1")
  log "$1: wiping data in $d"
  case $1 in
    kafka) rm -rf "$d/data" "$d/cluster.id" ;;
    cassandra) rm -rf "$d"/{data,commitlog,saved_caches,hints,cdc_raw,tmp} ;;
    mosquitto | prometheus | alertmanager) rm -rf "$d/data" ;;
  esac
}
# Log lines meaning "the leftover data dir does not fit this node": wipe it and retry once.
stale_data_pattern() {
  case $1 in
    kafka) echo 'InconsistentClusterIdException|InconsistentBrokerIdException|Invalid cluster.id|does not match the cluster id|No readable meta.properties' ;;
    cassandra) echo 'Saved cluster name .* != configured name|Cannot start node if snitch|Cannot change the number of tokens|Partitioner .* is not compatible' ;;
    *) echo '' ;;
  esac
}

# Make sure no foreign process holds one of the service's ports before starting it.
check_ports_free() {
  local name=$1 port p
  for port in $(svc_ports "$name"); do
    for p in $(port_pids "$port"); do
      fail_msg "$name" "port $port is already used by pid $p, which is not a SensorGuard $name: $(cmdline "$p")
  stop it first (e.g. \`systemctl stop $name\` or \`kill $p\`), then rerun"
      return 1
    done
  done
}

fail_msg() {
  printf '\n[services] FAILED: %s: %s\n' "$1" "$2" >&2
}
fail_report() {  # which server, why, where its log is, last 30 lines
  local name=$1 why=$2 logf
  logf=$(svc_log "$name")
  fail_msg "$name" "$why"
  printf '[services] log: %s\n[services] ---- last 30 lines ----\n' "$logf" >&2
  tail -n 30 "$logf" >&2 2>/dev/null || echo "(no log)" >&2
  printf '[services] ----------------------\n' >&2
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
parse_names() {
  local n
  if (($# == 0)); then
    printf '%s\n' "${ALL_SERVICES[@]}"
    return
  fi
  for n in "$@"; do valid_name "$n" || die "unknown server '$n' (known: ${ALL_SERVICES[*]})"; done
  printf '%s\n' "$@"
}
take_lock() {  # one up/down at a time per run dir
  mkdir -p "$RUN"
  exec 9>"$RUN/.lock"
  flock -w 900 9 || die "another services.sh holds $RUN/.lock"
}

cmd_up() {
  local -a names order=()
  mapfile -t names < <(parse_names "$@")
  local n t_up
  t_up=$(now)
  for n in "${START_ORDER[@]}"; do [[ " ${names[*]} " == *" $n "* ]] && order+=("$n"); done
  take_lock
  init_java
  for n in "${order[@]}"; do ensure_fetched "$n"; done

  if [[ $FRESH == 1 ]]; then
    stop_services "${order[@]}"
    for n in "${order[@]}"; do wipe_data "$n"; done
  fi

  local -A started=() retried=()
  local -a pending=() failed=()
  for n in "${order[@]}"; do
    local pid
    pid=$(cat "$(svc_pidfile "$n")" 2>/dev/null || true)
    if [[ -n $pid ]] && alive "$pid" && is_ours "$pid" "$n"; then
      if probe "$n"; then
        log "$n: already running and ready (pid $pid), nothing to do"
        continue
      fi
      # Ours but not ready yet (e.g. an `up` that was interrupted): wait for it below.
      log "$n: already running (pid $pid) but not ready yet; waiting for it"
      started[$n]=$(now)
      pending+=("$n")
      continue
    fi
    [[ -z $pid ]] || log "$n: removing stale pid file (pid $pid is gone or not ours)"
    rm -f "$(svc_pidfile "$n")"
    # Leftovers from an earlier run (lost pid file, other run dir): ours, so stop them.
    local -a leftovers
    mapfile -t leftovers < <(our_pids "$n")
    # One healthy leftover started from this very run dir (only its pid file was lost): adopt it.
    if ((${#leftovers[@]} == 1)) && [[ "$(cmdline "${leftovers[0]}")" == *"$RUN/$n/"* ]] && probe "$n"; then
      echo "${leftovers[0]}" >"$(svc_pidfile "$n")"
      log "$n: already running and ready (pid ${leftovers[0]}, pid file restored), nothing to do"
      continue
    fi
    if ((${#leftovers[@]})); then
      log "$n: found a leftover $n of ours (pid ${leftovers[*]}), restarting it from $RUN"
      stop_pids "$n" "$(svc_stop_timeout "$n")" "${leftovers[@]}"
    fi
    if ! check_ports_free "$n"; then
      failed+=("$n")
      continue
    fi
    rotate_log "$n"
    log "$n: starting (log: $(svc_log "$n"))"
    started[$n]=$(now)
    "start_$n"
    pending+=("$n")
  done

  # Poll every pending server until each is ready, has died, or ran out of time. All of them
  # boot concurrently, so the total is about the slowest (Cassandra), not the sum.
  local -a still
  while ((${#pending[@]})); do
    still=()
    for n in "${pending[@]}"; do
      local pid logf
      pid=$(cat "$(svc_pidfile "$n")" 2>/dev/null || true)
      logf=$(svc_log "$n")
      if probe "$n"; then
        log "$n: ready in $(elapsed "${started[$n]}") s (pid $pid)"
      elif ! alive "$pid"; then
        local pat
        pat=$(stale_data_pattern "$n")
        if [[ -z ${retried[$n]:-} && -n $pat ]] && grep -Eq "$pat" "$logf"; then
          retried[$n]=1
          log "$n: WARNING exited on leftover data that does not fit this node; wiping and retrying once"
          wipe_data "$n"
          rotate_log "$n"
          "start_$n"
          still+=("$n")
        else
          fail_report "$n" "process exited before it was ready"
          rm -f "$(svc_pidfile "$n")"
          failed+=("$n")
        fi
      elif awk -v e="$(elapsed "${started[$n]}")" -v t="$(svc_timeout "$n")" 'BEGIN { exit !(e > t) }'; then
        fail_report "$n" "not ready after $(svc_timeout "$n") s (SENSORGUARD_${n^^}_TIMEOUT); stopping it"
        stop_pids "$n" 10 "$pid"
        rm -f "$(svc_pidfile "$n")"
        failed+=("$n")
      else
        still+=("$n")
      fi
    done
    pending=("${still[@]}")
    ((${#pending[@]} == 0)) || sleep 0.5
  done

  if ((${#failed[@]})); then
    die "up failed for: ${failed[*]} (took $(elapsed "$t_up") s)"
  fi
  log "up: ${names[*]} ready; total $(elapsed "$t_up") s"
}

cmd_down() {
  local -a names
  mapfile -t names < <(parse_names "$@")
  take_lock
  stop_services "${names[@]}"
}

cmd_status() {
  local -a names
  mapfile -t names < <(parse_names "$@")
  local n pid state rc=0 port p ports
  printf '%-13s %-9s %-8s %-11s %s\n' SERVER STATE PID PORTS LOG
  for n in "${names[@]}"; do
    pid=$(cat "$(svc_pidfile "$n")" 2>/dev/null || true)
    ports=$(svc_ports "$n")
    if [[ -n $pid ]] && alive "$pid" && is_ours "$pid" "$n"; then
      if probe "$n"; then state=ready; else state=starting; rc=1; fi
    else
      rc=1
      state=stopped
      [[ -z $pid ]] || state="stale-pid"
      for port in $ports; do
        for p in $(port_pids "$port"); do
          if is_ours "$p" "$n"; then state=orphan; pid=$p; else state="port-busy"; pid=$p; fi
        done
      done
      [[ $state == stopped ]] && pid=-
    fi
    printf '%-13s %-9s %-8s %-11s %s\n' "$n" "$state" "$pid" "${ports// /,}" "$(svc_log "$n")"
  done
  return $rc
}

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
  local cmd=${1:-}
  (($# == 0)) || shift
  case $cmd in
    fetch) cmd_fetch ;;
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    -h | --help | help | "") usage ;;
    *)
      usage
      exit 2
      ;;
  esac
}

main "$@"
