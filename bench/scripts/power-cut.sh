#!/usr/bin/env bash
# Power-cut harness for the A/B OS update (tests/Outpost.PowerCut): the real install/boot/reconcile/commit code on a
# disk image file.
#   kill:   the update runs in a child process that is SIGKILLed at KILL_CUTS random points (page cache kept).
#   replay: the update's writes are recorded through its own write layer and the states a power loss can leave are
#           rebuilt (every write before the last flush + any subset of the writes after it), exhaustively for every
#           flush window and at REPLAY_CUTS random cut points; then again with unflushed writes torn into 512-byte sectors.
#   mutant: a deliberately unsafe installer (marks the slot updating before its rootfs is written); it must FAIL,
#           showing the checker can see a bad ordering.
# Each state is judged by gptprio's rule and systemd-boot's rule (the chosen slot's rootfs and kernel/initramfs must be
# one version) and by the agent converging from it. Prints the counts; exits non-zero when a real run is not clean.
# Usage: bench/scripts/power-cut.sh [KILL_CUTS=1000] [REPLAY_CUTS=5000] [SEED=1]
set -euo pipefail
kill_cuts=${1:-1000}
replay_cuts=${2:-5000}
seed=${3:-1}
repo=$(cd "$(dirname "$0")/../.." && pwd)
project="$repo/tests/Outpost.PowerCut"
dotnet build -c Release "$project" -v q -nologo >/dev/null
run() { dotnet run --no-build --project "$project" -c Release -- "$@"; }

status=0
echo "== kill: $kill_cuts SIGKILLs"
run kill --cuts "$kill_cuts" --seed "$seed" || status=1
echo "== replay: exhaustive + $replay_cuts random power-loss states"
run replay --cuts "$replay_cuts" --seed "$seed" || status=1
echo "== replay, torn sectors: $((replay_cuts / 5)) random states"
run replay --cuts "$((replay_cuts / 5))" --seed "$seed" --torn --no-exhaustive || status=1
echo "== mutant (must fail): marking updating before the rootfs is written"
if out=$(run replay --cuts 0 --mutant); then
  echo "$out" | head -1; echo "the harness did not catch the mutant"; status=1
else
  echo "$out" | head -1; echo "caught, as it must be"
fi
exit $status
