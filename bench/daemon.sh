#!/usr/bin/env bash
# The daemon's latencies and log throughput, each against a reference measured in the same run:
#  1. first restart after a death: composed vs Docker's own `restart: always` (engine events);
#  2. log forwarding into journald vs journald's own ingestion of the same lines (systemd-cat),
#     in the systemd box, with lines lost or out of order, CPU per line and peak memory; and
#     composed's forwarder alone, into a socket that only counts;
#  3. hot reload: from the rename of an edited file (one service of 20) to the new container's
#     start, vs what the engine takes for the same recreate (create, stop old, start new);
#  4. `systemctl start composed@NAME` to READY for 50 services with healthchecks, vs the engine
#     creating and starting 50 such containers until all report healthy;
#  5. (with IDLE_SECONDS > 0) idle CPU and memory for 3 projects / 10 containers.
# Needs tests/setup-engine.sh and tests/setup-systemd-image.sh to have run. Not part of the tests.
#
#   bash bench/daemon.sh [ROUNDS=10] [LOG_LINES=200000] [IDLE_SECONDS=0]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
lines=${2:-200000}
idle=${3:-0}
cargo build --release -q
cargo bench --bench engine_floor --no-run -q 2>/dev/null
floor=$(ls -t target/release/deps/engine_floor-* | grep -v '\.d$' | head -1)
bin=$PWD/target/release/composed
work=$(mktemp -d)
box=composed-bench-box
trap 'pkill -f "$bin --" 2>/dev/null || true; docker rm -f "$box" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { echo "$1 / $2" | bc -l | cut -c1-5; }
now() { date +%s.%N; }
clean() { docker rm -f $(docker ps -aq --filter "label=com.docker.compose.project=$1") >/dev/null 2>&1 || true
          docker rm -f $(docker ps -aq --filter "label=floor=$1") >/dev/null 2>&1 || true
          docker network rm "$1_default" >/dev/null 2>&1 || true; }
# Milliseconds from the first `die` of a container to its next `start` (engine timestamps).
first_gap() {
  docker events --since "$2" --until "$(date +%s)" --filter "container=$1" --format '{{.Action}} {{.TimeNano}}' |
    awk '$1=="die" && !d {d=$2} $1=="start" && d {print ($2-d)/1e6; exit}'
}
# Milliseconds from $2 (seconds since the epoch, fractional) to the first `start` of container $1.
start_after() {
  docker events --since "${2%.*}" --until "$(date +%s)" --filter "container=$1" --filter event=start --format '{{.TimeNano}}' |
    awk -v t="$2" '$1/1e9 >= t {print ($1/1e9 - t) * 1000; exit}'
}
wait_for() { for _ in $(seq 1 600); do eval "$1" && return 0; sleep 0.1; done; echo "timed out: $1" >&2; return 1; }

echo "== 1. first restart after a death ($rounds deaths each)"
ours=(); theirs=()
for r in $(seq 1 "$rounds"); do
  mkdir -p "$work/lat"
  printf 'services:\n  crash:\n    image: composed-test/busybox:1\n    command: ["sh", "-c", "sleep 1; exit 1"]\n    restart: always\n' > "$work/lat/compose.yaml"
  t=$(date +%s)
  "$bin" --project "$work/lat" --runtime-dir "$work/run" 2>/dev/null & pid=$!
  sleep 3; kill "$pid"; wait "$pid" 2>/dev/null || true
  ours+=("$(first_gap lat-crash-1 "$t")"); clean lat
  t=$(date +%s)
  docker run -d --name bench-docker-restart --restart always composed-test/busybox:1 sh -c 'sleep 1; exit 1' >/dev/null
  sleep 3; docker rm -f bench-docker-restart >/dev/null
  theirs+=("$(first_gap bench-docker-restart "$t")")
done
o=$(printf '%s\n' "${ours[@]}" | median); d=$(printf '%s\n' "${theirs[@]}" | median)
echo "composed: ${ours[*]} ms (median $o)"
echo "docker restart: always: ${theirs[*]} ms (median $d)"
echo "restart ratio composed/docker: $(ratio "$o" "$d")"

echo "== 2. log forwarding, $lines lines"
docker rm -f "$box" >/dev/null 2>&1 || true
docker run -d --name "$box" --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined --cgroupns=host \
  -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
  -v /var/run/docker.sock:/run/docker.sock -e container=docker composed-test/systemd:3 /lib/systemd/systemd >/dev/null
sleep 4
# The same journald settings for both: no rate limit (on a cgroup-v1 host journald cannot read
# a unit's own setting), and composed's per-container limit off for the measurement.
docker exec "$box" bash -c 'mkdir -p /etc/systemd/journald.conf.d && printf "[Journal]\nRateLimitIntervalSec=0\n" > /etc/systemd/journald.conf.d/bench.conf && systemctl restart systemd-journald'
docker cp "$bin" "$box:/usr/bin/composed"
docker cp units/composed@.service "$box:/etc/systemd/system/"
docker exec "$box" bash -c 'mkdir -p /etc/systemd/system/composed@.service.d && printf "[Service]\nEnvironment=COMPOSED_LOG_RATE_LIMIT=0\n" > /etc/systemd/system/composed@.service.d/bench.conf'
# journald's own rate: the same lines through systemd-cat.
docker exec "$box" bash -c "seq 1 $lines | systemd-cat -t bench-reference"
wait_for "[ \$(docker exec $box bash -c 'journalctl -t bench-reference -o cat --no-pager | wc -l') -ge $lines ]"
ref=$(docker exec "$box" bash -c "journalctl -t bench-reference -o short-unix --no-pager | awk 'NR==1 {f=\$1} {l=\$1} END {printf \"%d\", (NR-1)/(l-f)}'")
# composed's: a container printing the same lines.
docker exec "$box" mkdir -p /etc/composed/chatty
printf 'services:\n  chatty:\n    image: composed-test/busybox:1\n    command: ["sh", "-c", "trap \\"exit 0\\" TERM; sleep 2; seq 1 %s; sleep 1000000 & wait"]\n' "$lines" > "$work/chatty.yaml"
docker cp "$work/chatty.yaml" "$box:/etc/composed/chatty/compose.yaml"
docker exec "$box" bash -c 'chmod 644 /etc/composed/chatty/compose.yaml; systemctl daemon-reload; systemctl start composed@chatty'
pid=$(docker exec "$box" systemctl show -p MainPID --value composed@chatty)
ticks() { docker exec "$box" awk '{print $14+$15}' "/proc/$pid/stat"; }
c0=$(ticks)
wait_for "[ \$(docker exec $box bash -c 'journalctl -u composed@chatty COMPOSE_SERVICE=chatty -o cat --no-pager | wc -l') -ge $lines ]"
c1=$(ticks)
ours=$(docker exec "$box" bash -c "journalctl -u composed@chatty COMPOSE_SERVICE=chatty -o short-unix --no-pager | awk 'NR==1 {f=\$1} {l=\$1} END {printf \"%d\", (NR-1)/(l-f)}'")
missing=$(docker exec "$box" bash -c "journalctl -u composed@chatty COMPOSE_SERVICE=chatty -o cat --no-pager | awk 'BEGIN{e=1} \$1==e {e++} END {print $lines - (e-1)}'")
hwm=$(docker exec "$box" awk '/VmHWM/ {print $2}' "/proc/$pid/status")
hz=$(getconf CLK_TCK)
echo "journald's own (systemd-cat): $ref lines/s"
echo "composed: $ours lines/s; lost or out of order: $missing; CPU $(echo "1000000 * ($c1 - $c0) / $hz / $lines" | bc -l | cut -c1-5) µs/line; peak RSS $((hwm / 1024)) MB"
echo "journal ratio composed/journald: $(ratio "$ours" "$ref")"
docker exec "$box" systemctl stop composed@chatty || true
docker rm -f "$box" >/dev/null
clean chatty

echo "-- composed's forwarder alone, into a socket that only counts"
cat > "$work/sink.py" <<'X'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(sys.argv[1]); s.settimeout(8)
n, first, last = 0, None, None
try:
    while True:
        s.recv(65536); n += 1; last = time.time(); first = first or last
except OSError:
    pass
print("alone: %d lines in %.3f s: %d lines/s" % (n, last - first, n / (last - first)))
X
mkdir -p "$work/sinkproj/chatty"
cp "$work/chatty.yaml" "$work/sinkproj/chatty/compose.yaml"; chmod -R go-w "$work/sinkproj"
python3 "$work/sink.py" "$work/journal.sock" & sink=$!
sleep 1
COMPOSED_LOG_RATE_LIMIT=0 COMPOSED_JOURNAL_SOCKET="$work/journal.sock" "$bin" --project "$work/sinkproj/chatty" --runtime-dir "$work/run3" 2>/dev/null & pid=$!
wait "$sink"
kill "$pid"; wait "$pid" 2>/dev/null || true
clean chatty

echo "== 3. hot reload of one service in 20 ($rounds edits)"
mkdir -p "$work/big20"
project() {
  echo "services:"
  for i in $(seq 0 19); do
    printf '  s%d:\n    image: composed-test/busybox:1\n    command: ["sh", "-c", "trap \\"exit 0\\" TERM; sleep 100000 & wait"]\n' "$i"
    [ "$i" = 0 ] && printf '    environment: {EDIT: "%s"}\n' "$1"
  done
}
project 0 > "$work/big20/compose.yaml"
"$bin" --project "$work/big20" --runtime-dir "$work/run4" 2>"$work/reload.log" & pid=$!
wait_for "[ \$(docker ps -q --filter label=com.docker.compose.project=big20 | wc -l) -eq 20 ]"
sleep 2
reload=(); engine=()
for r in $(seq 1 "$rounds"); do
  project "$r" > "$work/big20/.edit"
  t=$(now); mv "$work/big20/.edit" "$work/big20/compose.yaml"
  wait_for "docker inspect big20-s0-1 --format '{{json .Config.Env}}' 2>/dev/null | grep -q 'EDIT=$r\"' && [ \"\$(docker inspect big20-s0-1 --format '{{.State.Running}}')\" = true ]"
  reload+=("$(start_after big20-s0-1 "$t")")
  sleep 1
  engine+=("$(echo "$("$floor" recreate 1 big20-s1-1) * 1000" | bc -l)")
  sleep 0.5
done
kill "$pid"; wait "$pid" 2>/dev/null || true
clean big20
rm_=$(printf '%s\n' "${reload[@]}" | median); em=$(printf '%s\n' "${engine[@]}" | median)
echo "composed, rename to started: ${reload[*]} ms (median $rm_)"
echo "engine, create + stop old + start: ${engine[*]} ms (median $em)"
echo "reload overhead: $(echo "$rm_ - $em" | bc -l | cut -c1-6) ms"

echo "== 4. systemctl start to READY, 50 services with healthchecks ($rounds rounds)"
docker run -d --name "$box" --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined --cgroupns=host \
  -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
  -v /var/run/docker.sock:/run/docker.sock -e container=docker composed-test/systemd:3 /lib/systemd/systemd >/dev/null
sleep 4
docker cp "$bin" "$box:/usr/bin/composed"
docker cp units/composed@.service "$box:/etc/systemd/system/"
{
  echo "services:"
  for i in $(seq 0 49); do
    printf '  s%d:\n    image: composed-test/busybox:1\n    command: ["sh", "-c", "trap \\"exit 0\\" TERM; sleep 100000 & wait"]\n' "$i"
    printf '    healthcheck: {test: [CMD, "true"], interval: 1s, start_period: 30s, start_interval: 100ms}\n'
  done
} > "$work/big50.yaml"
docker exec "$box" mkdir -p /etc/composed/big50
docker cp "$work/big50.yaml" "$box:/etc/composed/big50/compose.yaml"
docker exec "$box" bash -c 'chmod 644 /etc/composed/big50/compose.yaml; systemctl daemon-reload'
ready=(); engine=()
for r in $(seq 1 "$rounds"); do
  clean big50
  t=$(now); docker exec "$box" systemctl start composed@big50; ready+=("$(echo "($(now) - $t) * 1000" | bc -l)")
  docker exec "$box" systemctl stop composed@big50; clean big50
  engine+=("$(echo "$("$floor" ready 50 floor50) * 1000" | bc -l)"); clean floor50
done
docker rm -f "$box" >/dev/null
rd=$(printf '%s\n' "${ready[@]}" | median); em=$(printf '%s\n' "${engine[@]}" | median)
echo "composed, systemctl start to READY: $(printf '%.0f ' "${ready[@]}")ms (median $rd)"
echo "engine, 50 created and started until healthy: $(printf '%.0f ' "${engine[@]}")ms (median $em)"
echo "READY overhead: $(echo "$rd - $em" | bc -l | cut -c1-6) ms"

if [ "$idle" -gt 0 ]; then
  echo "== 5. idle cost, 3 projects / 10 containers, ${idle}s"
  mkdir -p "$work/root/app" "$work/root/cache"
  printf 'services:\n  web:\n    image: composed-test/server:1\n    restart: always\n  worker:\n    image: composed-test/server:1\n    deploy: {replicas: 2}\n  db:\n    image: composed-test/busybox:1\n    command: ["sh", "-c", "trap \\"exit 0\\" TERM; touch /ready; sleep 1000000 & wait"]\n    healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 30s}\n' > "$work/root/app/compose.yaml"
  printf 'services:\n  a:\n    image: composed-test/server:1\n  b:\n    image: composed-test/server:1\n  c:\n    image: composed-test/server:1\n' > "$work/root/cache/compose.yaml"
  printf 'services:\n  one:\n    image: composed-test/server:1\n  two:\n    image: composed-test/server:1\n  three:\n    image: composed-test/server:1\n' > "$work/root/tools.yaml"
  chmod -R go-w "$work/root"
  "$bin" --root "$work/root" --runtime-dir "$work/run2" 2>"$work/idle.log" & pid=$!
  sleep 5
  ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }
  c0=$(ticks); t0=$(now)
  sleep "$idle"
  c1=$(ticks); t1=$(now)
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  hz=$(getconf CLK_TCK)
  echo "CPU: $(echo "100 * ($c1 - $c0) / $hz / ($t1 - $t0)" | bc -l | cut -c1-6) % over $(echo "$t1 - $t0" | bc | cut -c1-6) s; RSS $((rss / 1024)) MB"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  for p in app cache tools; do clean "$p"; done
fi
