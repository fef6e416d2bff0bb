#!/usr/bin/env bash
# The reconcile benchmark: composed, Docker Compose v2 and the engine's own floor, on the same
# engine, in the same run, alternating, on N independent busybox services (default 50).
# Prints medians and ratios. Needs tests/setup-engine.sh to have run. Not part of the tests.
#
#   bash bench/reconcile.sh [N] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50}
rounds=${2:-3}

cargo build --release -q
cargo bench --bench engine_floor --no-run -q 2>/dev/null
floor=$(ls -t target/release/deps/engine_floor-* | grep -v '\.d$' | head -1)
composed=target/release/composed
compose=$(command -v docker-compose || echo "docker compose")

dir=$(mktemp -d)
{
  echo "services:"
  for i in $(seq 0 $((n - 1))); do
    printf '  s%d:\n    image: composed-test/server:1\n' "$i"
  done
} > "$dir/compose.yaml"

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
clean() { docker rm -f $(docker ps -aq --filter "label=com.docker.compose.project=$1" --filter "label=floor=$1") >/dev/null 2>&1 || true
          docker network rm "$1_default" >/dev/null 2>&1 || true; }

declare -A up down noop
for r in $(seq 1 "$rounds"); do
  for tool in composed compose floor; do
    p="bench$tool"
    clean "$p"
    case $tool in
      composed) t=$(now); $composed up -p "$p" "$dir" >/dev/null 2>&1; up[$tool]+="$(elapsed "$t") "
                for _ in 1 2 3 4 5; do t=$(now); $composed up -p "$p" "$dir" >/dev/null 2>&1; noop[$tool]+="$(elapsed "$t") "; done
                t=$(now); $composed down -p "$p" "$dir" >/dev/null 2>&1; down[$tool]+="$(elapsed "$t") " ;;
      compose)  t=$(now); $compose -p "$p" -f "$dir/compose.yaml" up -d >/dev/null 2>&1; up[$tool]+="$(elapsed "$t") "
                for _ in 1 2 3 4 5; do t=$(now); $compose -p "$p" -f "$dir/compose.yaml" up -d >/dev/null 2>&1; noop[$tool]+="$(elapsed "$t") "; done
                t=$(now); $compose -p "$p" -f "$dir/compose.yaml" down >/dev/null 2>&1; down[$tool]+="$(elapsed "$t") " ;;
      floor)    up[$tool]+="$($floor up "$n" "$p") "
                down[$tool]+="$($floor down "$n" "$p") " ;;
    esac
    clean "$p"
  done
done
rm -rf "$dir"

m() { tr ' ' '\n' <<<"$1" | grep . | median; }
printf '%d services, %d rounds (median seconds)\n' "$n" "$rounds"
printf '%-10s %10s %10s %10s\n' "" composed compose floor
printf '%-10s %10.3f %10.3f %10.3f\n' "cold up" "$(m "${up[composed]}")" "$(m "${up[compose]}")" "$(m "${up[floor]}")"
printf '%-10s %10.3f %10.3f %10s\n' "no-op up" "$(m "${noop[composed]}")" "$(m "${noop[compose]}")" "-"
printf '%-10s %10.3f %10.3f %10.3f\n' "down" "$(m "${down[composed]}")" "$(m "${down[compose]}")" "$(m "${down[floor]}")"
echo "ratios: cold up composed/floor $(echo "$(m "${up[composed]}") / $(m "${up[floor]}")" | bc -l | cut -c1-5)," \
  "compose/floor $(echo "$(m "${up[compose]}") / $(m "${up[floor]}")" | bc -l | cut -c1-5);" \
  "down composed/floor $(echo "$(m "${down[composed]}") / $(m "${down[floor]}")" | bc -l | cut -c1-5);" \
  "no-op up composed/compose $(echo "$(m "${noop[composed]}") / $(m "${noop[compose]}")" | bc -l | cut -c1-5)"
