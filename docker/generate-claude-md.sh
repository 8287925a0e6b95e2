#!/usr/bin/env bash
# generate-claude-md: write the CLAUDE.md that Claude Code reads at start, with the context of the
# cluster the agent runs in (version, namespace, pod, node count, RBAC tier), the MCP tools, the
# skills, the toolkit and the house rules.
#
# Usage: generate-claude-md <output-file>
#
# Bounded and never fatal: every API call runs in parallel with a deadline shared by the whole
# step (CLAUDE_MD_TIMEOUT seconds, default 5); what did not answer in time is written down as
# unknown. Exit 0 whenever the file was written, also with an unreachable or broken API server;
# 64 for a usage error; 73 when the output cannot be written. The file is replaced atomically.
#
# Environment (defaults are the image's paths; tests override them):
#   CLAUDE_MD_TIMEOUT  total seconds for the step, decimals allowed (default 5)
#   CIAB_SA_DIR        service account mount (default /var/run/secrets/kubernetes.io/serviceaccount)
#   CIAB_API_URL       API server (default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)
#   CIAB_SHARE         image-owned files (default /opt/claude-in-a-box)
#   CIAB_SKILLS_DIR    bundled skills (default $CIAB_SHARE/skills)
#   CIAB_MCP_TOOLS     MCP tool list (default $CIAB_SHARE/mcp/tools.txt)
#   CIAB_TOOLS_LIST    toolkit list (default $CIAB_SHARE/tools.list)
#   CLAUDE_CONFIG_DIR  the user's Claude Code state; its skills/ are listed as the user's skills
set -Eeuo pipefail

: "${CLAUDE_MD_TIMEOUT:=5}"
: "${CIAB_SA_DIR:=/var/run/secrets/kubernetes.io/serviceaccount}"
: "${CIAB_SHARE:=/opt/claude-in-a-box}"
: "${CIAB_SKILLS_DIR:=$CIAB_SHARE/skills}"
: "${CIAB_MCP_TOOLS:=$CIAB_SHARE/mcp/tools.txt}"
: "${CIAB_TOOLS_LIST:=$CIAB_SHARE/tools.list}"

readonly CIAB_MD_EX_USAGE=64 CIAB_MD_EX_CANTCREAT=73
# Time kept back from the API calls for writing the file.
readonly CIAB_MD_RESERVE_MS=300

ciab_md_log() {
	printf 'generate-claude-md: %s\n' "$*" >&2
}

ciab_md_is_sourced() {
	[ "${#FUNCNAME[@]}" -ge 2 ] && [ "${FUNCNAME[0]}" = ciab_md_is_sourced ] && [ "${FUNCNAME[1]}" = source ]
}

# Milliseconds since the epoch (EPOCHREALTIME, so no fork; digits only, whatever the locale).
ciab_md_now_ms() {
	local t=${EPOCHREALTIME//[!0-9]/}
	printf '%s\n' "$((10#$t / 1000))"
}

# CLAUDE_MD_TIMEOUT ("5", "2.5") in milliseconds; a malformed value falls back to 5 s.
ciab_md_budget_ms() {
	local value=$1 whole frac
	if [[ ! $value =~ ^([0-9]{1,4})(\.([0-9]{1,3}))?$ ]]; then
		ciab_md_log "CLAUDE_MD_TIMEOUT='$value' is not a number of seconds; using 5"
		printf '5000\n'
		return 0
	fi
	whole=${BASH_REMATCH[1]}
	frac=${BASH_REMATCH[3]}000
	printf '%s\n' "$((10#$whole * 1000 + 10#${frac:0:3}))"
}

# Keep a value that came from outside (API server, files, env) to a safe single token, so nothing
# read at start can smuggle text into the instructions Claude reads. Empty when nothing is left.
ciab_md_clean() {
	local value=${1//[!A-Za-z0-9._:+\/@-]/}
	printf '%s\n' "${value:0:${2:-100}}"
}

# API server URL: CIAB_API_URL, else the in-cluster service variables (IPv6 hosts bracketed).
ciab_md_api_url() {
	if [ -n "${CIAB_API_URL:-}" ]; then
		printf '%s\n' "${CIAB_API_URL%/}"
	elif [ -n "${KUBERNETES_SERVICE_HOST:-}" ]; then
		local host=$KUBERNETES_SERVICE_HOST
		[[ $host == *:* ]] && host="[$host]"
		printf 'https://%s:%s\n' "$host" "${KUBERNETES_SERVICE_PORT:-443}"
	fi
}

# ciab_md_fetch NAME MAX_TIME PATH [BODY]: GET (or POST BODY) PATH into $CIAB_MD_WORK/NAME.{body,code,rc}.
# Always returns 0; the outcome is in the files. Runs in the background, in parallel with the rest.
ciab_md_fetch() {
	local name=$1 max_time=$2 path=$3 body=${4:-} rc=0
	local out="$CIAB_MD_WORK/$name"
	local args=(
		--silent --show-error --noproxy '*' --proto '=https' --max-redirs 0
		--max-time "$max_time" --connect-timeout "$max_time"
		--cacert "$CIAB_SA_DIR/ca.crt" --header "@$CIAB_MD_WORK/auth-header"
		--header 'Accept: application/json'
		--output "$out.body" --write-out '%{http_code}'
	)
	if [ -n "$body" ]; then
		args+=(--header 'Content-Type: application/json' --data-binary "$body")
	fi
	curl "${args[@]}" "$CIAB_MD_API$path" >"$out.code" 2>"$out.err" || rc=$?
	printf '%s\n' "$rc" >"$out.rc"
}

# ciab_md_outcome NAME: "ok", or why the call gave nothing usable (timeout, refused, TLS, HTTP 403...).
ciab_md_outcome() {
	local out="$CIAB_MD_WORK/$1" rc code
	rc=$(<"$out.rc")
	code=$(<"$out.code")
	case "$rc" in
	0) ;;
	28) printf 'timed out\n' && return 0 ;;
	6 | 7) printf 'unreachable\n' && return 0 ;;
	35 | 51 | 58 | 59 | 60 | 77 | 83 | 90 | 91) printf 'TLS error (curl %s)\n' "$rc" && return 0 ;;
	*) printf 'failed (curl %s)\n' "$rc" && return 0 ;;
	esac
	case "$code" in
	2??) printf 'ok\n' ;;
	*) printf 'HTTP %s\n' "$(ciab_md_clean "$code" 3)" ;;
	esac
}

# ciab_md_json NAME FILTER: the jq FILTER applied to NAME's body, empty if the call failed or the
# body is not the JSON expected (jq -e: null/false count as missing; errors are swallowed).
ciab_md_json() {
	local name=$1 filter=$2
	[ "$(ciab_md_outcome "$name")" = ok ] || return 0
	jq -er "$filter" "$CIAB_MD_WORK/$name.body" 2>/dev/null || return 0
}

# SelfSubjectAccessReview body: ciab_md_ssar VERB RESOURCE [SUBRESOURCE] [GROUP] [NAMESPACE].
ciab_md_ssar() {
	jq -nc --arg verb "$1" --arg resource "$2" --arg sub "${3:-}" --arg group "${4:-}" --arg ns "${5:-}" '
		{apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview",
		 spec: {resourceAttributes: ({verb: $verb, resource: $resource, group: $group}
			+ (if $sub != "" then {subresource: $sub} else {} end)
			+ (if $ns != "" then {namespace: $ns} else {} end))}}'
}

# The access checks behind the RBAC tier (SelfSubjectAccessReview), one per line:
# name|what it means|verb|resource|subresource|API group|scope (namespace: the agent's own; cluster: all)
readonly CIAB_MD_CHECKS=(
	"delete-pods|delete pods in this namespace|delete|pods|||namespace"
	"exec-pods|exec into pods in this namespace|create|pods|exec||namespace"
	"patch-deployments|patch deployments in this namespace (rollout restart)|patch|deployments||apps|namespace"
	"list-pods-cluster|list pods in all namespaces|list|pods|||cluster"
	"get-secrets|read Secrets in this namespace|get|secrets|||namespace"
)

# Query the API server in parallel; every call ends by the shared deadline.
ciab_md_probe() {
	local deadline_ms=$1 namespace=$2 remaining_ms max_time check name verb resource sub group scope ssar_ns
	remaining_ms=$((deadline_ms - $(ciab_md_now_ms)))
	if [ "$remaining_ms" -lt 100 ]; then
		return 1
	fi
	max_time=$(printf '%d.%03d' $((remaining_ms / 1000)) $((remaining_ms % 1000)))
	printf 'Authorization: Bearer %s\n' "$(<"$CIAB_SA_DIR/token")" >"$CIAB_MD_WORK/auth-header"
	local pids=()
	ciab_md_fetch version "$max_time" /version &
	pids+=("$!")
	ciab_md_fetch nodes "$max_time" '/api/v1/nodes?limit=500' &
	pids+=("$!")
	for check in "${CIAB_MD_CHECKS[@]}"; do
		IFS='|' read -r name _ verb resource sub group scope <<<"$check"
		ssar_ns=$namespace
		[ "$scope" = cluster ] && ssar_ns=
		ciab_md_fetch "$name" "$max_time" /apis/authorization.k8s.io/v1/selfsubjectaccessreviews \
			"$(ciab_md_ssar "$verb" "$resource" "$sub" "$group" "$ssar_ns")" &
		pids+=("$!")
	done
	wait "${pids[@]}"
	rm -f "$CIAB_MD_WORK/auth-header"
}

# "yes", "no" or "unknown (why)" for one access check.
ciab_md_allowed() {
	local outcome
	outcome=$(ciab_md_outcome "$1")
	case "$(ciab_md_json "$1" '.status.allowed | booleans | tostring')" in
	true) printf 'yes\n' ;;
	false) printf 'no\n' ;;
	*)
		[ "$outcome" = ok ] && outcome="invalid response"
		printf 'unknown (%s)\n' "$outcome"
		;;
	esac
}

# "name<TAB>description" for each skill folder under DIR with a SKILL.md (one-line frontmatter
# values, as the bundled skills are written; folded YAML shows only its first line).
ciab_md_skills() {
	local dir=$1 file name description line in_front
	[ -d "$dir" ] || return 0
	for file in "$dir"/*/SKILL.md; do
		[ -f "$file" ] || continue
		name='' description='' in_front=0
		while IFS= read -r line || [ -n "$line" ]; do
			if [ "$line" = --- ]; then
				[ "$in_front" = 1 ] && break
				in_front=1
				continue
			fi
			[ "$in_front" = 1 ] || break
			case "$line" in
			name:*) name=${line#name:} ;;
			description:*) description=${line#description:} ;;
			esac
		done <"$file"
		name=$(ciab_md_clean "$name" 64)
		[ -n "$name" ] || name=$(ciab_md_clean "$(basename "$(dirname "$file")")" 64)
		description=${description#"${description%%[![:space:]]*}"}
		description=${description//[[:cntrl:]]/ }
		printf '%s\t%s\n' "$name" "${description:0:1024}"
	done
}

# The lines of a list file, "#" comments and blank lines skipped.
ciab_md_lines() {
	local file=$1 line
	[ -r "$file" ] || return 0
	while IFS= read -r line; do
		case "$line" in '' | '#'*) continue ;; esac
		printf '%s\n' "$line"
	done <"$file"
}

# First column of a list file ("#" comments and blank lines skipped), one per line.
ciab_md_first_column() {
	local file=$1 first _
	[ -r "$file" ] || return 0
	while read -r first _; do
		case "$first" in '' | '#'*) continue ;; esac
		printf '%s\n' "$first"
	done <"$file"
}

# The current context of the kubeconfig at PATH (a plain top-level key; no YAML parser needed).
ciab_md_kube_context() {
	local line
	while IFS= read -r line; do
		case "$line" in
		current-context:*)
			line=${line#current-context:}
			line=${line//[\"\']/}
			ciab_md_clean "$line" 100
			return 0
			;;
		esac
	done <"$1"
}

ciab_md_house_rules() {
	local tier=$1
	cat <<'EOF'
## House rules

- You are inside the cluster with a working toolkit: run the commands yourself and report what
  they showed. Do not ask the user to run read-only commands for you.
- Prefer the `kubernetes` MCP tools for reads (structured output, Secrets refused by the server);
  use `kubectl` for what they do not cover (`describe`, `rollout history`, `auth can-i`, `events`).
- Read-only first: collect evidence (status, events, logs, recent changes) before proposing any
  change, and keep output small (`--tail`, `--since`, selectors, `jq`).
- Never print, copy or summarise secret values: Secret data, tokens, passwords, keys,
  certificates' private parts, credentials in environment variables, configs or logs. Refer to
  a Secret by name and key only, and redact anything secret-looking you quote from a log.
- A `Forbidden` answer is information, not an obstacle: say which permission is missing and
  continue with what you can read. Never try to work around RBAC.
- Network egress from this pod is limited (DNS, the API server, Anthropic): a failed connection
  from here does not prove the target is down.
EOF
	case "$tier" in
	operator)
		cat <<'EOF'
- This service account may change workloads (operator tier). Before any change, show the exact
  command, what it affects and how to undo it, and run it only after the user explicitly
  confirms. One change at a time; verify the effect before the next.
EOF
		;;
	*)
		cat <<'EOF'
- This service account is read-only. When a fix needs a change, give the exact command for a
  human to run, with what it affects and how to undo it.
EOF
		;;
	esac
}

# Markdown bullets from "name<TAB>description" lines.
ciab_md_skill_lines() {
	local name description
	while IFS=$'\t' read -r name description; do
		if [ -n "$name" ]; then
			printf -- "- \`%s\`: %s\n" "$name" "$description"
		fi
	done <<<"$1"
}

# Render CLAUDE.md on stdout from the collected facts (globals set by _main).
ciab_md_render() {
	local tool name description first=1
	cat <<EOF
# Claude In A Box: cluster context

<!-- Generated by generate-claude-md at $CIAB_MD_GENERATED on every container start; edits are lost. -->

You are Claude Code running as an SRE agent inside a container of Claude In A Box. The facts
below were collected when the container started; re-check them when they matter.

## Where you are

EOF
	if [ "$CIAB_MD_MODE" = in-cluster ]; then
		cat <<EOF
- Mode: in-cluster (Kubernetes service account)
- Kubernetes version: $CIAB_MD_VERSION
- Namespace: $CIAB_MD_NAMESPACE
- Pod: $CIAB_MD_POD
- Nodes: $CIAB_MD_NODES
- RBAC tier: $CIAB_MD_TIER
- API server: $CIAB_MD_API
EOF
		if [ "${#CIAB_MD_ACCESS[@]}" -gt 0 ]; then
			printf '\nAccess of this service account (SelfSubjectAccessReview at start):\n\n'
			printf '%s\n' "${CIAB_MD_ACCESS[@]}"
		fi
	else
		cat <<EOF
- Mode: standalone (no Kubernetes service account: Docker, Compose or a workstation)
- Host: $CIAB_MD_POD
- Kubeconfig: $CIAB_MD_KUBECONFIG
- RBAC tier: $CIAB_MD_TIER
EOF
	fi
	if [ "${#CIAB_MD_NOTES[@]}" -gt 0 ]; then
		printf '\nNot known at start:\n\n'
		printf -- '- %s\n' "${CIAB_MD_NOTES[@]}"
	fi

	cat <<'EOF'

## Kubernetes MCP server (`kubernetes`, read-only)

Tools are named `mcp__kubernetes__<tool>`. Secrets and RBAC objects are refused by the server.

EOF
	if [ "${#CIAB_MD_MCP_TOOLS[@]}" -eq 0 ]; then
		printf -- '- (tool list not found at %s)\n' "$CIAB_MCP_TOOLS"
	fi
	for tool in "${CIAB_MD_MCP_TOOLS[@]}"; do
		read -r name description <<<"$tool"
		printf -- "- \`%s\`: %s\n" "$name" "$description"
	done

	cat <<'EOF'

## Skills

Runbooks Claude Code loads when a task matches their description (or by `/<name>`).

EOF
	if [ -z "$CIAB_MD_SKILLS" ]; then
		printf -- '- (no bundled skills found at %s)\n' "$CIAB_SKILLS_DIR"
	fi
	ciab_md_skill_lines "$CIAB_MD_SKILLS"
	if [ -n "$CIAB_MD_USER_SKILLS" ]; then
		printf '\nThe user'\''s own skills (from %s/skills):\n\n' "$CLAUDE_CONFIG_DIR"
		ciab_md_skill_lines "$CIAB_MD_USER_SKILLS"
	fi

	printf '\n## Tools in this image\n\n'
	if [ "${#CIAB_MD_TOOLS[@]}" -eq 0 ]; then
		printf '(tool list not found at %s)\n' "$CIAB_TOOLS_LIST"
	else
		for tool in "${CIAB_MD_TOOLS[@]}"; do
			[ "$first" = 1 ] || printf ', '
			printf "\`%s\`" "$tool"
			first=0
		done
		printf '\n'
	fi
	cat <<'EOF'

All capabilities are dropped: tools that need raw sockets (`tcpdump`, `mtr`, sometimes `ping`)
may fail with "Operation not permitted"; use `nc`, `curl`, `dig` or `traceroute` instead. The root
filesystem is read-only; `/tmp` and the workspace are writable.

EOF
	ciab_md_house_rules "$CIAB_MD_TIER"
}

# Collect the in-cluster facts into the CIAB_MD_* globals.
ciab_md_collect_cluster() {
	local deadline_ms=$1 outcome count check name label
	CIAB_MD_MODE=in-cluster
	CIAB_MD_NAMESPACE=
	[ -r "$CIAB_SA_DIR/namespace" ] && CIAB_MD_NAMESPACE=$(ciab_md_clean "$(<"$CIAB_SA_DIR/namespace")" 63)
	[ -n "$CIAB_MD_NAMESPACE" ] || CIAB_MD_NAMESPACE=unknown
	CIAB_MD_API=$(ciab_md_api_url)
	if [ -z "$CIAB_MD_API" ]; then
		CIAB_MD_API=unknown
		CIAB_MD_NOTES+=("the API server address (KUBERNETES_SERVICE_HOST is not set)")
		return 0
	fi
	if ! ciab_md_probe "$deadline_ms" "$CIAB_MD_NAMESPACE"; then
		CIAB_MD_NOTES+=("cluster details: no time left within CLAUDE_MD_TIMEOUT=${CLAUDE_MD_TIMEOUT}s")
		return 0
	fi

	outcome=$(ciab_md_outcome version)
	CIAB_MD_VERSION=$(ciab_md_clean "$(ciab_md_json version '.gitVersion | strings')" 40)
	if [ -n "$CIAB_MD_VERSION" ]; then
		CIAB_MD_VERSION+=" ($(ciab_md_clean "$(ciab_md_json version '.platform | strings')" 40))"
	else
		[ "$outcome" = ok ] && outcome="invalid response"
		CIAB_MD_VERSION=unknown
		CIAB_MD_NOTES+=("the Kubernetes version: /version $outcome")
	fi

	outcome=$(ciab_md_outcome nodes)
	count=$(ciab_md_json nodes '(.items | length) + (.metadata.remainingItemCount // 0)')
	if [[ $count =~ ^[0-9]+$ ]]; then
		CIAB_MD_NODES=$count
	else
		[ "$outcome" = ok ] && outcome="invalid response"
		CIAB_MD_NODES=unknown
		CIAB_MD_NOTES+=("the node count: /api/v1/nodes $outcome")
	fi

	CIAB_MD_ACCESS=()
	local -A allowed=()
	for check in "${CIAB_MD_CHECKS[@]}"; do
		IFS='|' read -r name label _ <<<"$check"
		allowed[$name]=$(ciab_md_allowed "$name")
		CIAB_MD_ACCESS+=("- $label: ${allowed[$name]}")
	done
	case "${allowed[delete-pods]}" in
	yes) CIAB_MD_TIER="operator" ;;
	no) CIAB_MD_TIER="readonly" ;;
	*)
		CIAB_MD_TIER="unknown (treat as readonly)"
		CIAB_MD_NOTES+=("the RBAC tier: access review ${allowed[delete-pods]#unknown }")
		;;
	esac
	if [ "${allowed[get-secrets]}" = yes ]; then
		CIAB_MD_ACCESS+=("- Warning: this service account can read Secrets here. That is wider than Claude In A Box grants; never print their values.")
	fi
}

# Collect the standalone facts (no service account) into the CIAB_MD_* globals.
ciab_md_collect_standalone() {
	local kubeconfig=${KUBECONFIG:-${HOME:-/nonexistent}/.kube/config} context
	kubeconfig=${kubeconfig%%:*}
	CIAB_MD_MODE=standalone
	CIAB_MD_TIER="none known (standalone: whatever the kubeconfig's user may do; act as readonly)"
	if [ -r "$kubeconfig" ]; then
		context=$(ciab_md_kube_context "$kubeconfig")
		CIAB_MD_KUBECONFIG="$kubeconfig, current context ${context:-not set}; kubectl and the MCP server use it. The cluster was not probed at start."
	else
		CIAB_MD_KUBECONFIG="none. kubectl and the MCP server have no cluster until a kubeconfig is mounted (set KUBECONFIG)."
	fi
}

# Remove the work directory (API answers and, briefly, the token header file).
ciab_md_cleanup() {
	rm -rf "$CIAB_MD_WORK"
}

_main() {
	if [ "$#" -ne 1 ] || [ -z "$1" ]; then
		cat >&2 <<-'EOF'
			usage: generate-claude-md <output-file>
			  Writes CLAUDE.md with the cluster context; see the header of this script for the environment.
		EOF
		return "$CIAB_MD_EX_USAGE"
	fi
	local output=$1 start_ms deadline_ms budget_ms out_dir tmp
	start_ms=$(ciab_md_now_ms)
	budget_ms=$(ciab_md_budget_ms "$CLAUDE_MD_TIMEOUT")
	deadline_ms=$((start_ms + budget_ms - CIAB_MD_RESERVE_MS))

	CIAB_MD_WORK=$(mktemp -d "${TMPDIR:-/tmp}/generate-claude-md.XXXXXX")
	trap ciab_md_cleanup EXIT

	CIAB_MD_GENERATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	CIAB_MD_POD=$(ciab_md_clean "${POD_NAME:-${HOSTNAME:-}}" 253)
	[ -n "$CIAB_MD_POD" ] || CIAB_MD_POD=unknown
	CIAB_MD_VERSION=unknown CIAB_MD_NODES=unknown CIAB_MD_TIER=unknown CIAB_MD_KUBECONFIG=
	CIAB_MD_NOTES=() CIAB_MD_ACCESS=()
	if [ -r "$CIAB_SA_DIR/token" ]; then
		ciab_md_collect_cluster "$deadline_ms"
	else
		ciab_md_collect_standalone
	fi

	mapfile -t CIAB_MD_MCP_TOOLS < <(ciab_md_lines "$CIAB_MCP_TOOLS")
	mapfile -t CIAB_MD_TOOLS < <(ciab_md_first_column "$CIAB_TOOLS_LIST")
	CIAB_MD_SKILLS=$(ciab_md_skills "$CIAB_SKILLS_DIR")
	CIAB_MD_USER_SKILLS=
	if [ -n "${CLAUDE_CONFIG_DIR:-}" ]; then
		CIAB_MD_USER_SKILLS=$(ciab_md_skills "$CLAUDE_CONFIG_DIR/skills")
	fi

	out_dir=$(dirname "$output")
	if ! tmp=$(mktemp "$out_dir/.CLAUDE.md.XXXXXX" 2>/dev/null); then
		ciab_md_log "cannot write in $out_dir (uid $(id -u)); CLAUDE.md not generated"
		return "$CIAB_MD_EX_CANTCREAT"
	fi
	ciab_md_render >"$tmp"
	chmod 0644 "$tmp"
	mv -f "$tmp" "$output"

	local summary="$CIAB_MD_MODE, tier $CIAB_MD_TIER"
	[ "$CIAB_MD_MODE" = in-cluster ] && summary+=", kubernetes $CIAB_MD_VERSION, $CIAB_MD_NODES nodes"
	[ "${#CIAB_MD_NOTES[@]}" -gt 0 ] && summary+=", ${#CIAB_MD_NOTES[@]} facts unknown"
	ciab_md_log "wrote $output ($summary) in $(($(ciab_md_now_ms) - start_ms)) ms"
}

if ! ciab_md_is_sourced; then
	_main "$@"
fi
