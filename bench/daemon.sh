#!/usr/bin/env bash
# The daemon's latencies and log throughput, each against a reference measured in the same run:
#  1. first restart after a death: composed vs Docker's own `restart: always` (engine events);
#  2. log forwarding into journald vs journald's own ingestion, in the systemd box: of entries
#     with the same fields from one sender (benches/journal_floor.rs), of the same lines through
#     systemd-cat (a stream: journald's ceiling for any line), and of entries with systemd-cat's
#     3 fields through the native protocol (its ceiling, whatever the fields); every sender runs
#     as a service, as composed does, so journald adds the same fields to each. With lines lost
#     or out of order, CPU per line and peak memory; and composed's forwarder alone, into a
#     socket that only counts;
#  3. hot reload: from the rename of an edited file (one service of 20) to the new container's
#     start, vs what the engine takes for the same recreate (create, stop old, start new);
#  4. `systemctl start composed@NAME` to READY for 50 services with healthchecks, vs the engine
#     creating and starting 50 such containers until all report healthy (a program started by
#     systemd in the same box, as composed is); each run also in phases from the engine's events:
#     to the first create, to the last container healthy, to the end. The overhead is each
#     side's own time (before the first create and after the last healthy), composed's over the
#     reference's: the engine's work in between varies by more from run to run than the whole
#     overhead, so it is compared as a ratio of its own;
#  5. (with IDLE_SECONDS > 0) idle CPU and memory for 3 projects / 10 containers.
# Needs tests/setup-engine.sh and tests/setup-systemd-image.sh to have run. Not part of the tests.
#
#   bash bench/daemon.sh [ROUNDS=10] [LOG_LINES=200000] [IDLE_SECONDS=0]
#   SECTIONS="2 3" bash bench/daemon.sh ...   (only those sections)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
lines=${2:-200000}
idle=${3:-0}
sections=${SECTIONS:-1 2 3 4 5}
want() { [[ " $sections " == *" $1 "* ]]; }
cargo build --release -q
cargo bench --bench engine_floor --bench journal_floor --no-run -q 2>/dev/null
floor=$(ls -t target/release/deps/engine_floor-* | grep -v '\.d$' | head -1)
journal_floor=$(ls -t target/release/deps/journal_floor-* | grep -v '\.d$' | head -1)
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
  docker events --since "$2" --until "$(( $(date +%s) + 1 ))" --filter "container=$1" --format '{{.Action}} {{.TimeNano}}' |
    awk '$1=="die" && !d {d=$2} $1=="start" && d {print ($2-d)/1e6; exit}'
}
# Milliseconds from $2 (seconds since the epoch, fractional) to the first `start` of container $1.
start_after() {
  docker events --since "${2%.*}" --until "$(( $(date +%s) + 1 ))" --filter "container=$1" --filter event=start --format '{{.TimeNano}}' |
    awk -v t="$2" '$1/1e9 >= t {print ($1/1e9 - t) * 1000; exit}'
}
wait_for() { for _ in $(seq 1 600); do eval "$1" && return 0; sleep 0.1; done; echo "timed out: $1" >&2; return 1; }

boot_box() {
  docker rm -f "$box" >/dev/null 2>&1 || true
  # systemd-sysctl cannot write /proc/sys in a container; the box is given the journal socket
  # queue that a booted Debian has from systemd's own 50-default.conf (the kernel's default is 10).
  docker run -d --name "$box" --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined --cgroupns=host \
    --sysctl net.unix.max_dgram_qlen=512 -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
    -v /var/run/docker.sock:/run/docker.sock -e container=docker composed-test/systemd:3 /lib/systemd/systemd >/dev/null
  wait_for "docker exec $box systemctl is-system-running 2>/dev/null | grep -qE 'running|degraded'"
  docker cp "$bin" "$box:/usr/bin/composed"
  docker cp units/composed@.service "$box:/etc/systemd/system/"
  # The D-Bus policy, as the package installs it: composed takes its bus name as it would.
  docker cp packaging/dbus/io.composed.Composed1.conf "$box:/usr/share/dbus-1/system.d/"
  docker exec "$box" systemctl reload dbus
}

if want 1; then
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
fi

if want 2; then
jrounds=$(( rounds < 5 ? rounds : 5 ))
echo "== 2. log forwarding, $lines lines ($jrounds rounds of each, alternating)"
boot_box
# The same journald settings for all: no rate limit (on a cgroup-v1 host journald cannot read
# a unit's own setting), and composed's per-container limit off for the measurement.
docker exec "$box" bash -c 'mkdir -p /etc/systemd/journald.conf.d && printf "[Journal]\nRateLimitIntervalSec=0\n" > /etc/systemd/journald.conf.d/bench.conf && systemctl restart systemd-journald'
docker exec "$box" bash -c 'mkdir -p /etc/systemd/system/composed@.service.d && printf "[Service]\nEnvironment=COMPOSED_LOG_RATE_LIMIT=0\n" > /etc/systemd/system/composed@.service.d/bench.conf'
docker cp "$journal_floor" "$box:/usr/local/bin/journal_floor"
printf 'services:\n  chatty:\n    image: composed-test/busybox:1\n    command: ["sh", "-c", "trap \\"exit 0\\" TERM; sleep 2; seq 1 %s; sleep 1000000 & wait"]\n' "$lines" > "$work/chatty.yaml"
# Lines per second of the entries matching $1 (journalctl arguments), first to last.
journal_rate() { docker exec "$box" bash -c "journalctl $1 -o short-unix --no-pager | awk 'NR==1 {f=\$1} {l=\$1} END {printf \"%d\", (NR-1)/(l-f)}'"; }
# Waits until the last entry matching $1 is line $lines, checking twice a second from inside
# the box (one `docker exec` per check would cost the engine more than the check).
wait_last() { docker exec "$box" timeout 120 bash -c "until [ \"\$(journalctl $1 -n 1 -o cat --no-pager)\" = $lines ]; do sleep 0.5; done"; }
# Runs $1 in the box as a transient service (journald adds a service's fields to its entries).
as_service() { docker exec "$box" systemd-run --wait --quiet --collect bash -c "$1"; }
cat_rates=(); floor_rates=(); native_rates=(); our_rates=(); cpu=(); missing=0; hwm=0
hz=$(getconf CLK_TCK)
for r in $(seq 1 "$jrounds"); do
  # journald's own: the same lines through systemd-cat, entries with composed's fields from
  # one blocking sender (benches/journal_floor.rs), and entries with systemd-cat's fields
  # from the same sender.
  as_service "seq 1 $lines | systemd-cat -t bench-cat-$r"
  wait_last "-t bench-cat-$r"
  cat_rates+=("$(journal_rate "-t bench-cat-$r")")
  as_service "journal_floor $lines bench-floor-$r"
  wait_last "-t bench-floor-$r"
  floor_rates+=("$(journal_rate "-t bench-floor-$r")")
  as_service "journal_floor $lines bench-native-$r minimal"
  wait_last "-t bench-native-$r"
  native_rates+=("$(journal_rate "-t bench-native-$r")")
  # composed's: a container printing the same lines.
  p=chatty$r
  docker exec "$box" mkdir -p "/etc/composed/$p"
  docker cp "$work/chatty.yaml" "$box:/etc/composed/$p/compose.yaml"
  docker exec "$box" bash -c "chmod 644 /etc/composed/$p/compose.yaml; systemctl start composed@$p"
  pid=$(docker exec "$box" systemctl show -p MainPID --value "composed@$p")
  ticks() { docker exec "$box" awk '{print $14+$15}' "/proc/$pid/stat"; }
  c0=$(ticks)
  wait_last "-u composed@$p COMPOSE_SERVICE=chatty"
  c1=$(ticks)
  our_rates+=("$(journal_rate "-u composed@$p COMPOSE_SERVICE=chatty")")
  cpu+=("$(echo "1000000 * ($c1 - $c0) / $hz / $lines" | bc -l | cut -c1-5)")
  m=$(docker exec "$box" bash -c "journalctl -u composed@$p COMPOSE_SERVICE=chatty -o cat --no-pager | awk 'BEGIN{e=1} \$1==e {e++} END {print $lines - (e-1)}'")
  missing=$((missing + m))
  h=$(docker exec "$box" awk '/VmHWM/ {print $2}' "/proc/$pid/status"); [ "$h" -gt "$hwm" ] && hwm=$h
  docker exec "$box" systemctl stop "composed@$p" || true
  clean "$p"
done
docker rm -f "$box" >/dev/null
cr=$(printf '%s\n' "${cat_rates[@]}" | median); fr=$(printf '%s\n' "${floor_rates[@]}" | median)
nr=$(printf '%s\n' "${native_rates[@]}" | median)
or=$(printf '%s\n' "${our_rates[@]}" | median); cm=$(printf '%s\n' "${cpu[@]}" | median)
echo "journald's own, systemd-cat: ${cat_rates[*]} lines/s (median $cr)"
echo "journald's own, native entries with systemd-cat's 3 fields: ${native_rates[*]} lines/s (median $nr)"
echo "journald's own, entries with composed's fields: ${floor_rates[*]} lines/s (median $fr)"
echo "composed: ${our_rates[*]} lines/s (median $or); lost or out of order: $missing; CPU $cm µs/line (median); peak RSS $((hwm / 1024)) MB"
echo "journal ratio composed/journald, same entries: $(ratio "$or" "$fr")"
echo "journal ratio composed/journald, systemd-cat: $(ratio "$or" "$cr") (native protocol's own ceiling: $(ratio "$nr" "$cr"))"

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
fi

if want 3; then
echo "== 3. hot reload of one service in 20 ($rounds edits)"
mkdir -p "$work/big20"
project() {
  echo "services:"
  for i in $(seq 0 19); do
    printf '  s%d:\n    image: composed-test/busybox:1\n    command: ["sh", "-c", "trap \\"exit 0\\" TERM; sleep 100000 & wait"]\n' "$i"
    if [ "$i" = 0 ]; then printf '    environment: {EDIT: "%s"}\n' "$1"; fi
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
  # The new container proves itself for 5 s (x-composed stable-for) before the reconcile ends;
  # an edit made meanwhile waits for it.
  sleep 5
done
kill "$pid"; wait "$pid" 2>/dev/null || true
clean big20
rm_=$(printf '%s\n' "${reload[@]}" | median); em=$(printf '%s\n' "${engine[@]}" | median)
echo "composed, rename to started: ${reload[*]} ms (median $rm_)"
echo "engine, create + stop old + start: ${engine[*]} ms (median $em)"
echo "reload overhead: $(echo "$rm_ - $em" | bc -l | cut -c1-6) ms"
fi

if want 4; then
echo "== 4. systemctl start to READY, 50 services with healthchecks ($rounds rounds)"
boot_box
{
  echo "services:"
  for i in $(seq 0 49); do
    printf '  s%d:\n    image: composed-test/busybox:1\n    command: ["sh", "-c", "trap \\"exit 0\\" TERM; sleep 100000 & wait"]\n' "$i"
    printf '    healthcheck: {test: [CMD, "true"], interval: 1s, start_period: 30s, start_interval: 1s}\n'
  done
} > "$work/big50.yaml"
docker exec "$box" mkdir -p /etc/composed/big50
docker cp "$work/big50.yaml" "$box:/etc/composed/big50/compose.yaml"
docker exec "$box" bash -c 'chmod 644 /etc/composed/big50/compose.yaml; systemctl daemon-reload'
docker cp "$floor" "$box:/usr/local/bin/engine_floor"
# The engine's own events of a run (label $1), read live: it keeps only its last 256, and 50
# healthchecks a second overflow that. Prints the first create and the last healthy (ns).
record_span() { docker events --filter "label=$1" --filter event=create --filter event=health_status --format '{{.TimeNano}} {{.Action}}' > "$work/events" & echo $!; }
span_of() { awk '$2=="create" && !f {f=$1} $2=="health_status:" && $3=="healthy" {l=$1} END {print f, l}' "$work/events"; }
# The three phases of a run from $1 to $2 (ns): to the first create, from it to the last
# healthy, from that to the end (ms; the box shares the host's clock).
phases() { read -r f l < <(span_of); echo "$(( (f - $1) / 1000000 )) $(( (l - f) / 1000000 )) $(( ($2 - l) / 1000000 ))"; }
ready=(); engine=(); ours=(); theirs=()
for r in $(seq 1 "$rounds"); do
  clean big50
  ev=$(record_span com.docker.compose.project=big50); sleep 0.5
  # Timed inside the box: docker exec's own start-up is not composed's.
  read -r s e < <(docker exec "$box" bash -c 's=$(date +%s%N); systemctl start composed@big50; echo $s $(date +%s%N)')
  sleep 0.5; kill "$ev"
  ready+=("$(( (e - s) / 1000000 ))"); ours+=("$(phases "$s" "$e")")
  docker exec "$box" systemctl stop composed@big50; clean big50
  # Started the same way: systemd spawns it, and the clock runs until it is done.
  ev=$(record_span floor=floor50); sleep 0.5
  read -r s e < <(docker exec "$box" bash -c 's=$(date +%s%N); systemd-run --wait --quiet --collect engine_floor ready 50 floor50; echo $s $(date +%s%N)')
  sleep 0.5; kill "$ev"
  engine+=("$(( (e - s) / 1000000 ))"); theirs+=("$(phases "$s" "$e")"); clean floor50
done
docker rm -f "$box" >/dev/null
rd=$(printf '%s\n' "${ready[@]}" | median); em=$(printf '%s\n' "${engine[@]}" | median)
# Medians of each phase: $1 the runs' phases, one "a b c" per run.
phase_medians() { for k in 1 2 3; do printf '%s\n' "$@" | awk -v k="$k" '{print $k}' | median; done | tr '\n' ' '; }
# The median of the runs' own time: to the first create plus from the last healthy to the end.
own() { printf '%s\n' "$@" | awk '{print $1 + $3}' | median; }
# The median of the runs' engine work: from the first create to the last healthy.
work() { printf '%s\n' "$@" | awk '{print $2}' | median; }
oo=$(own "${ours[@]}"); ot=$(own "${theirs[@]}")
echo "composed, systemctl start to READY: ${ready[*]} ms (median $rd)"
echo "engine, 50 created and started until healthy: ${engine[*]} ms (median $em)"
echo "phases (to the first create, to the last healthy, to the end; medians in ms): composed $(phase_medians "${ours[@]}")/ engine $(phase_medians "${theirs[@]}")"
echo "the engine's work (first create to last healthy), composed/reference: $(ratio "$(work "${ours[@]}")" "$(work "${theirs[@]}")")"
echo "difference of the totals: $(echo "$rd - $em" | bc -l | cut -c1-6) ms (the engine's work varies by more from run to run)"
echo "READY overhead (own time: before the first create and after the last healthy): composed $oo ms vs reference $ot ms: $(echo "$oo - $ot" | bc -l | cut -c1-6) ms"
fi

if want 5 && [ "$idle" -gt 0 ]; then
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
