#!/usr/bin/env bash
# Idle footprint of the agent as each binary runs it: a local controller, one onboarded device, no app, then the
# agent's RSS and CPU after IDLE_SECONDS. Compares the framework-dependent CLI (`outpost agent`, JIT) with the
# Native AOT device binary (`outpost-device agent`, what an Outpost OS image runs).
# Usage: bench/scripts/device-agent-idle.sh [IDLE_SECONDS=300]
set -euo pipefail
idle=${1:-300}
repo=$(cd "$(dirname "$0")/../.." && pwd)
dotnet publish -c Release "$repo/src/Outpost.Cli" -o "$repo/artifacts/bench-cli" -v q -nologo >/dev/null
dotnet publish -c Release "$repo/src/Outpost.Device" -o "$repo/artifacts/bench-cli" -v q -nologo >/dev/null
bin="$repo/artifacts/bench-cli"
work=$(mktemp -d /tmp/outpost-agent-idle-XXXXXX)
port=$(( 20000 + RANDOM % 20000 ))
"$bin/outpost" controller --data "$work/controller" --listen "127.0.0.1:$port" > "$work/controller.log" 2>&1 &
controller=$!
pids=("$controller")
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 60); do [ -f "$work/controller/admin.token" ] && curl -sk "https://127.0.0.1:$port/" >/dev/null && break; sleep 1; done
admin=(--controller "https://127.0.0.1:$port" --token-file "$work/controller/admin.token" --ca-file "$work/controller/pki/root-certificate.pem")
ticks=$(getconf CLK_TCK)
for role in jit aot; do
  "$bin/outpost" onboarding create --serial "idle-$role" --out "$work/$role-config" "${admin[@]}" >/dev/null
  if [ "$role" = jit ]; then agent_cmd=("$bin/outpost" agent); else agent_cmd=("$bin/outpost-device" agent); fi
  "${agent_cmd[@]}" --config "$work/$role-config" --state "$work/$role-state" > "$work/$role.log" 2>&1 &
  agent=$!
  pids+=("$agent")
  sleep 20   # onboarding and the first config, outside the idle window
  start=$(awk '{print $14 + $15}' "/proc/$agent/stat")
  sleep "$idle"
  end=$(awk '{print $14 + $15}' "/proc/$agent/stat")
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$agent/status")
  echo "$role agent (${agent_cmd[*]##*/}) after ${idle}s idle: VmRSS $(( rss / 1024 )) MiB ($rss kB), $(du -k "${agent_cmd[0]}" | cut -f1) kB binary," \
    "$(awk -v u=$(( end - start )) -v t="$ticks" -v i="$idle" 'BEGIN { printf "CPU %.2f s = %.3f %% of one core", u / t, 100 * u / t / i }')"
  grep -q "online\|Registered\|registered" "$work/$role.log" || { echo "  (the $role agent did not report online; its log:)"; tail -5 "$work/$role.log"; }
  kill -TERM "$agent"; wait "$agent" 2>/dev/null || true
done
