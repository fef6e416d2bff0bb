#!/usr/bin/env bash
# The daemon benchmarks, side by side where there is something to compare with:
#  1. first-restart latency: from a container's death to its next start, composed vs Docker's
#     own `restart: always`, from the engine's event timestamps;
#  2. idle cost: CPU time and resident memory of composed supervising 3 projects / 10 containers;
#  3. log throughput: lines/s from one chatty container into a real journald (in the systemd box
#     of the tests), and whether any line was lost.
# Needs tests/setup-engine.sh and tests/setup-systemd-image.sh to have run. Not part of the tests.
#
#   bash bench/daemon.sh [IDLE_SECONDS=600] [LOG_LINES=500000] [ROUNDS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-600}
lines=${2:-500000}
rounds=${3:-5}
cargo build --release -q
bin=$PWD/target/release/composed
work=$(mktemp -d)
trap 'pkill -f "$bin --" 2>/dev/null || true; rm -rf "$work"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# The gap between the first `die` and the next `start` of a container, in milliseconds.
first_gap() {
  docker events --since "$2" --until "$(date +%s)" --filter "container=$1" --format '{{.Action}} {{.TimeNano}}' |
    awk '$1=="die" && !d {d=$2} $1=="start" && d {print ($2-d)/1e6; exit}'
}

echo "== 1. first restart latency ($rounds rounds)"
ours=(); theirs=()
for r in $(seq 1 "$rounds"); do
  mkdir -p "$work/lat"
  printf 'services:\n  crash:\n    image: composed-test/busybox:1\n    command: ["sh", "-c", "sleep 1; exit 1"]\n    restart: always\n' > "$work/lat/compose.yaml"
  t=$(date +%s)
  "$bin" --project "$work/lat" --runtime-dir "$work/run" 2>/dev/null & pid=$!
  sleep 4; kill "$pid"; wait "$pid" 2>/dev/null || true
  ours+=("$(first_gap lat-crash-1 "$t")")
  t=$(date +%s)
  docker run -d --name bench-docker-restart --restart always composed-test/busybox:1 sh -c 'sleep 1; exit 1' >/dev/null
  sleep 4; docker rm -f bench-docker-restart >/dev/null
  theirs+=("$(first_gap bench-docker-restart "$t")")
done
o=$(printf '%s\n' "${ours[@]}" | median); d=$(printf '%s\n' "${theirs[@]}" | median)
echo "composed: ${ours[*]} ms (median $o)"
echo "docker restart: always: ${theirs[*]} ms (median $d)"
echo "ratio composed/docker: $(echo "$o / $d" | bc -l | cut -c1-5)"

echo "== 2. idle cost, 3 projects / 10 containers, ${idle}s"
mkdir -p "$work/root/app" "$work/root/cache"
printf 'services:\n  web:\n    image: composed-test/server:1\n    restart: always\n  worker:\n    image: composed-test/server:1\n    deploy: {replicas: 2}\n  db:\n    image: composed-test/busybox:1\n    command: ["sh", "-c", "trap \\"exit 0\\" TERM; touch /ready; sleep 1000000 & wait"]\n    healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 30s}\n' > "$work/root/app/compose.yaml"
printf 'services:\n  a:\n    image: composed-test/server:1\n  b:\n    image: composed-test/server:1\n  c:\n    image: composed-test/server:1\n' > "$work/root/cache/compose.yaml"
printf 'services:\n  one:\n    image: composed-test/server:1\n  two:\n    image: composed-test/server:1\n  three:\n    image: composed-test/server:1\n' > "$work/root/tools.yaml"
chmod -R go-w "$work/root"
"$bin" --root "$work/root" --runtime-dir "$work/run2" 2>"$work/idle.log" & pid=$!
sleep 5
ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }
c0=$(ticks); t0=$(date +%s.%N)
sleep "$idle"
c1=$(ticks); t1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
hz=$(getconf CLK_TCK)
echo "containers: $(docker ps -q --filter label=composed.managed-by=composed | wc -l)"
echo "CPU: $(echo "($c1 - $c0) / $hz" | bc -l | cut -c1-6) s over $(echo "$t1 - $t0" | bc | cut -c1-6) s ($(echo "100 * ($c1 - $c0) / $hz / ($t1 - $t0)" | bc -l | cut -c1-6) %)"
echo "RSS: $((rss / 1024)) MB ($rss kB)"
kill "$pid"; wait "$pid" 2>/dev/null || true

echo "== 3. log throughput into journald, $lines lines"
box=composed-bench-box
docker rm -f "$box" >/dev/null 2>&1 || true
docker run -d --name "$box" --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined --cgroupns=host \
  -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
  -v /var/run/docker.sock:/run/docker.sock -e container=docker composed-test/systemd:3 /lib/systemd/systemd >/dev/null
sleep 4
# The unit's LogRateLimitIntervalSec=0 reaches journald through a cgroup extended attribute, which
# a cgroup-v1 container cannot carry: without this drop-in journald keeps only its burst (about
# 37,000 lines here) and drops the rest. On a cgroup-v2 host the unit setting suffices.
docker exec "$box" bash -c 'mkdir -p /etc/systemd/journald.conf.d && printf "[Journal]\nRateLimitIntervalSec=0\n" > /etc/systemd/journald.conf.d/composed-bench.conf && systemctl restart systemd-journald'
docker cp "$bin" "$box:/usr/bin/composed"
docker cp units/composed@.service "$box:/etc/systemd/system/"
docker exec "$box" mkdir -p /etc/composed/chatty
printf 'services:\n  chatty:\n    image: composed-test/busybox:1\n    command: ["sh", "-c", "trap \\"exit 0\\" TERM; seq 1 %s; sleep 1000000 & wait"]\n' "$lines" > "$work/chatty.yaml"
docker cp "$work/chatty.yaml" "$box:/etc/composed/chatty/compose.yaml"
docker exec "$box" bash -c 'chmod 644 /etc/composed/chatty/compose.yaml; systemctl daemon-reload; systemctl start composed@chatty'
for _ in $(seq 1 300); do
  n=$(docker exec "$box" bash -c 'journalctl -u composed@chatty COMPOSE_SERVICE=chatty -o cat --no-pager | wc -l')
  [ "$n" -ge "$lines" ] && break
  sleep 1
done
stamps=$(docker exec "$box" bash -c 'journalctl -u composed@chatty COMPOSE_SERVICE=chatty -o short-unix --no-pager | awk "NR==1 {f=\$1} {l=\$1} END {print f, l}"')
first=${stamps% *}; last=${stamps#* }
missing=$(docker exec "$box" bash -c "journalctl -u composed@chatty COMPOSE_SERVICE=chatty -o cat --no-pager | sort -n | uniq | awk 'BEGIN{e=1} \$1==e {e++} END {print $lines - (e-1)}'")
echo "received: $n lines, missing or out of sequence: $missing"
echo "throughput: $(echo "$n / ($last - $first)" | bc -l | cut -d. -f1) lines/s over $(echo "$last - $first" | bc -l | cut -c1-6) s"
docker exec "$box" systemctl stop composed@chatty || true
docker rm -f "$box" >/dev/null

echo "== 3b. composed's forwarder alone, into a socket that only counts, $lines lines"
cat > "$work/sink.py" <<'X'
import socket, os, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(sys.argv[1]); s.settimeout(6)
n, first, last = 0, None, None
try:
    while True:
        s.recv(65536); n += 1; last = time.time(); first = first or last
except OSError:
    pass
print("received %d lines in %.3f s: %d lines/s" % (n, last - first, n / (last - first)))
X
mkdir -p "$work/sinkproj/chatty"
cp "$work/chatty.yaml" "$work/sinkproj/chatty/compose.yaml"; chmod -R go-w "$work/sinkproj"
python3 "$work/sink.py" "$work/journal.sock" & sink=$!
sleep 2
COMPOSED_JOURNAL_SOCKET="$work/journal.sock" "$bin" --project "$work/sinkproj/chatty" --runtime-dir "$work/run3" 2>/dev/null & pid=$!
wait "$sink"
kill "$pid"; wait "$pid" 2>/dev/null || true
