#!/bin/sh
# Liveness probe: the agent is alive while Claude Code (or the entrypoint preparing it) runs.
# It only reads /proc: no fork, and never the claude binary (that costs ~100 MB and seconds).
for comm in /proc/[0-9]*/comm; do
	read -r name 2>/dev/null <"$comm" || continue
	case "$name" in
	claude | entrypoint) exit 0 ;;
	esac
done
echo "liveness: no claude process is running" >&2
exit 1
