#!/usr/bin/env bash
# verify-tools: run every tool of the curated toolkit as the non-root agent user and print a table.
# Exit status 1 if any tool is missing or broken. Usage: verify-tools [tools.list]
set -Eeuo pipefail

readonly AGENT_UID=10000 AGENT_GID=10000
tools_list=${1:-${CIAB_SHARE:-/opt/claude-in-a-box}/tools.list}

# Run as the agent even when invoked as root (docker exec, build smoke test), so a tool that
# only works as root counts as broken.
if [ "$(id -u)" -eq 0 ]; then
	exec setpriv --reuid="$AGENT_UID" --regid="$AGENT_GID" --clear-groups -- "$0" "$@"
fi

[ -r "$tools_list" ] || {
	echo "verify-tools: cannot read $tools_list" >&2
	exit 2
}

failed=0 total=0
printf '%-24s %-7s %s\n' TOOL STATUS VERSION
while read -r name cmd args; do
	case "$name" in '' | '#'*) continue ;; esac
	total=$((total + 1))
	# The last column of tools.list names the source package; it is not an argument.
	read -r -a argv <<<"$args"
	unset 'argv[-1]'
	status=ok
	if ! command -v "$cmd" >/dev/null; then
		status=MISSING version="not on PATH"
	elif ! output=$(timeout 20 "$cmd" "${argv[@]}" </dev/null 2>&1); then
		status=BROKEN version=$(head -n 1 <<<"$output")
	else
		version=$(grep -m 1 -v '^[[:space:]]*$' <<<"$output" || :)
	fi
	[ "$status" = ok ] || failed=$((failed + 1))
	printf '%-24s %-7s %s\n' "$name" "$status" "${version:0:80}"
done <"$tools_list"

printf '%d tools, %d ok, %d failed (uid %d)\n' "$total" "$((total - failed))" "$failed" "$(id -u)"
[ "$failed" -eq 0 ]
