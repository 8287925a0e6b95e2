#!/bin/sh
# Readiness probe: the entrypoint finished staging, Claude Code runs, and the state volume takes
# writes. Shell builtins and /proc only, so it costs a few milliseconds every period.
run_dir=${CIAB_RUN_DIR:-/tmp/claude-in-a-box}
state_dir=${CLAUDE_CONFIG_DIR:-/home/agent/.claude}

fail() {
	echo "readiness: $*" >&2
	exit 1
}

[ -f "$run_dir/ready" ] || fail "the entrypoint has not finished starting (no $run_dir/ready)"
[ -w "$state_dir" ] || fail "the state volume $state_dir is not writable"
for comm in /proc/[0-9]*/comm; do
	read -r name 2>/dev/null <"$comm" || continue
	[ "$name" = claude ] && exit 0
done
fail "no claude process is running"
