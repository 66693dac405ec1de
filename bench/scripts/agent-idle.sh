#!/usr/bin/env bash
# Idle footprint of the device agent: runs `outpost demo` (controller + onboarded agent + the sample app `hello`),
# lets it sit idle, then prints the agent's RSS (VmRSS, VmHWM from /proc/PID/status) and the CPU it used while idle.
# Usage: bench/scripts/agent-idle.sh [IDLE_SECONDS=300] [OUTPOST_BINARY]
set -euo pipefail
idle=${1:-300}
repo=$(cd "$(dirname "$0")/../.." && pwd)
binary=${2:-}
if [ -z "$binary" ]; then
  dotnet build -c Release "$repo/src/Outpost.Cli" -v q -nologo >/dev/null
  binary="$repo/src/Outpost.Cli/bin/Release/net10.0/outpost"
fi
work=$(mktemp -d /tmp/outpost-idle-XXXXXX)
cd "$work"
"$binary" demo > demo.out 2>&1 &
demo=$!
cleanup() { kill -TERM "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 180); do
  grep -q "Running; press Ctrl-C" demo.out && break
  sleep 1
done
grep -q "Running; press Ctrl-C" demo.out || { echo "demo did not come up:"; cat demo.out; exit 1; }
agent=$(pgrep -f -P "$demo" -- ' agent --config ' | head -1)
[ -n "$agent" ] || { echo "no agent process found under the demo ($demo)"; exit 1; }
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
start=$(cpu)
sleep "$idle"
end=$(cpu)
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$agent/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$agent/status")
threads=$(awk '/^Threads/ {print $2}' "/proc/$agent/status")
used=$(( end - start ))
echo "agent pid $agent after ${idle}s idle with one app running:"
echo "  VmRSS   $(( rss / 1024 )) MiB ($rss kB)"
echo "  VmHWM   $(( hwm / 1024 )) MiB ($hwm kB)"
echo "  threads $threads"
awk -v used="$used" -v ticks="$ticks" -v idle="$idle" 'BEGIN { printf "  CPU     %.2f s over %d s = %.3f %% of one core\n", used / ticks, idle, 100 * used / ticks / idle }'
