#!/usr/bin/env bash
# Claude In A Box entrypoint: check the configuration, stage image-owned config, exec Claude Code.
#
# State model: everything under CLAUDE_CONFIG_DIR (the volume) belongs to the user and is never
# overwritten or deleted here; only flags are merged into .claude.json. Image-owned config
# (managed policy in /etc/claude-code, skills, MCP config, CLAUDE.md) comes from the image and is
# refreshed into the workspace on every start.
set -Eeuo pipefail

: "${CLAUDE_MODE:=interactive}"
: "${CLAUDE_CONFIG_DIR:=${HOME:-/home/agent}/.claude}"
: "${CLAUDE_BIN:=claude}"
: "${CIAB_SHARE:=/opt/claude-in-a-box}"
: "${CIAB_WORKSPACE:=/workspace}"
: "${CIAB_RUN_DIR:=/tmp/claude-in-a-box}"
export CLAUDE_CONFIG_DIR

# Exit codes (sysexits.h), so callers can tell a usage error from a broken volume.
readonly EX_USAGE=64 EX_NOPERM=77 EX_CANTCREAT=73 EX_CONFIG=78

ciab_log() {
	printf 'claude-in-a-box: %s\n' "$*" >&2
}

# ciab_die CODE: print the heredoc on stdin as the error, then exit with CODE.
ciab_die() {
	local code=$1
	{
		printf 'claude-in-a-box: error: '
		cat
	} >&2
	exit "$code"
}

ciab_is_sourced() {
	[ "${#FUNCNAME[@]}" -ge 2 ] && [ "${FUNCNAME[0]}" = ciab_is_sourced ] && [ "${FUNCNAME[1]}" = source ]
}

# ciab_file_env VAR: load VAR from the file named by VAR_FILE (a mounted Secret key).
# A VAR_FILE that points nowhere means "not provided", so one chart can offer both keys.
ciab_file_env() {
	local var=$1 file_var="${1}_FILE"
	local file=${!file_var:-}
	if [ -n "${!var:-}" ] && [ -n "$file" ] && [ -e "$file" ]; then
		ciab_die "$EX_CONFIG" <<-EOF
			both $var and $file_var are set; set only one of them.
		EOF
	fi
	if [ -n "$file" ] && [ -e "$file" ]; then
		[ -r "$file" ] || ciab_die "$EX_NOPERM" <<-EOF
			$file_var=$file is not readable by uid $(id -u).
			  Mount the Secret with a mode the agent can read (defaultMode: 0440 with fsGroup: 10000).
		EOF
		local value
		value=$(<"$file")
		[ -n "$value" ] && export "$var=$value"
	fi
	unset "$file_var"
}

ciab_has_login() {
	[ -s "$CLAUDE_CONFIG_DIR/.credentials.json" ]
}

ciab_check_mode() {
	case "$CLAUDE_MODE" in
	interactive | remote-control | headless) ;;
	*)
		ciab_die "$EX_USAGE" <<-EOF
			unknown CLAUDE_MODE '$CLAUDE_MODE'.
			  Use one of: interactive (default), remote-control, headless.
		EOF
		;;
	esac
}

# ciab_check_writable DIR WHAT FIX: the directory must exist and take new files. test -w is
# access(2), which also reports a read-only mount (EROFS), and costs no process.
ciab_check_writable() {
	local dir=$1 what=$2 fix=$3
	if { [ -d "$dir" ] || mkdir -p "$dir" 2>/dev/null; } && [ -w "$dir" ] && [ -x "$dir" ]; then
		return 0
	fi
	local owner="missing"
	[ -e "$dir" ] && owner="owned by $(stat -c '%u:%g mode %a' "$dir")"
	ciab_die "$EX_CANTCREAT" <<-EOF
		$what $dir is not writable by uid $(id -u) gid $(id -g) ($owner).
		  $fix
	EOF
}

ciab_check_paths() {
	ciab_check_writable "$CLAUDE_CONFIG_DIR" "the state volume" \
		"Mount a volume there owned by 10000:10000 (Kubernetes: fsGroup: 10000; Docker: a named volume, or chown -R 10000:10000 on a bind mount)."
	ciab_check_writable "${TMPDIR:-/tmp}" "the temp directory" \
		"With a read-only root filesystem, mount an emptyDir (Kubernetes) or tmpfs (Docker) at /tmp."
	ciab_check_writable "$CIAB_WORKSPACE" "the workspace" \
		"With a read-only root filesystem, mount an emptyDir (Kubernetes) or tmpfs (Docker) at $CIAB_WORKSPACE."
}

ciab_check_tty() {
	[ -t 0 ] && [ -t 1 ] && return 0
	ciab_die "$EX_USAGE" <<-EOF
		CLAUDE_MODE=$CLAUDE_MODE needs a terminal.
		  Kubernetes: set stdin: true and tty: true on the container. Docker: run with -it.
		  For a one-shot job without a terminal use CLAUDE_MODE=headless with CLAUDE_PROMPT.
	EOF
}

# Remote Control needs a claude.ai login from /login and refuses to start when any of these is
# set; the image sets none of them, so any found here came from the deployment.
ciab_check_remote_control() {
	local var blocked=()
	for var in DISABLE_TELEMETRY CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC ANTHROPIC_AUTH_TOKEN; do
		[ -n "${!var+set}" ] && blocked+=("$var")
	done
	[ "${CLAUDE_CODE_ENABLE_TELEMETRY-}" = 0 ] && blocked+=(CLAUDE_CODE_ENABLE_TELEMETRY=0)
	case "${ANTHROPIC_BASE_URL:-https://api.anthropic.com}" in
	https://api.anthropic.com | https://api.anthropic.com/) ;;
	*) blocked+=(ANTHROPIC_BASE_URL) ;;
	esac
	if [ "${#blocked[@]}" -gt 0 ]; then
		ciab_die "$EX_CONFIG" <<-EOF
			remote-control is refused by Claude Code while ${blocked[*]} is set.
			  Remove it from the deployment's environment (Remote Control needs telemetry and the Anthropic API).
		EOF
	fi
	if ! ciab_has_login; then
		ciab_die "$EX_CONFIG" <<-EOF
			remote-control needs a claude.ai login saved on the volume, and there is none in $CLAUDE_CONFIG_DIR.
			  1. Start once with CLAUDE_MODE=interactive and attach: kubectl attach -it claude-agent-0 (Docker: docker attach).
			  2. Run /login and complete it; the credentials persist on the volume.
			  3. Switch back to CLAUDE_MODE=remote-control.
			  API keys and setup-token tokens cannot be used for Remote Control.
		EOF
	fi
	if [ -n "${CLAUDE_CODE_OAUTH_TOKEN:-}${ANTHROPIC_API_KEY:-}" ]; then
		# The token would override the /login credentials that Remote Control requires.
		ciab_log "remote-control uses the /login credentials on the volume; ignoring CLAUDE_CODE_OAUTH_TOKEN/ANTHROPIC_API_KEY"
		unset CLAUDE_CODE_OAUTH_TOKEN ANTHROPIC_API_KEY
	fi
}

ciab_check_auth() {
	if [ -n "${CLAUDE_CODE_OAUTH_TOKEN:-}${ANTHROPIC_API_KEY:-}" ] || ciab_has_login; then
		return 0
	fi
	if [ "$CLAUDE_MODE" = interactive ]; then
		ciab_log "no credentials yet: attach (kubectl attach -it claude-agent-0) and run /login; the login persists on the volume"
		return 0
	fi
	ciab_die "$EX_CONFIG" <<-EOF
		CLAUDE_MODE=$CLAUDE_MODE needs credentials and none were found.
		  Provide one of:
		  - CLAUDE_CODE_OAUTH_TOKEN (from \`claude setup-token\` on your workstation), or ANTHROPIC_API_KEY,
		    from a Secret: Helm auth.existingSecret, or the *_FILE variables pointing at a mounted key;
		  - a /login made once in interactive mode, saved in $CLAUDE_CONFIG_DIR/.credentials.json.
	EOF
}

ciab_check_headless() {
	ciab_file_env CLAUDE_PROMPT
	[ -n "${CLAUDE_PROMPT:-}" ] && return 0
	ciab_die "$EX_USAGE" <<-EOF
		CLAUDE_MODE=headless needs a prompt: set CLAUDE_PROMPT (or CLAUDE_PROMPT_FILE to a mounted file).
	EOF
}

# Merge the flags a non-interactive start needs into .claude.json; never rewrite other keys.
ciab_merge_claude_json() {
	local file="$CLAUDE_CONFIG_DIR/.claude.json" current='{}' merged tmp
	# Claude Code records an approved API key by its last 20 characters.
	local key=${ANTHROPIC_API_KEY:-} key_tail
	key_tail=${key:$((${#key} > 20 ? ${#key} - 20 : 0))}
	local has_token=false
	[ -n "${CLAUDE_CODE_OAUTH_TOKEN:-}${ANTHROPIC_API_KEY:-}" ] && has_token=true
	[ -s "$file" ] && current=$(<"$file")
	# One jq run: prints the merged document, or nothing when the flags are already there.
	if ! merged=$(jq -c --arg ws "$CIAB_WORKSPACE" --arg key_tail "$key_tail" --argjson token "$has_token" '
		. as $before
		| .projects[$ws].hasTrustDialogAccepted = true
		| if $token then .hasCompletedOnboarding = true else . end
		| if $key_tail != "" then
			.customApiKeyResponses.approved = ((.customApiKeyResponses.approved // []) + [$key_tail] | unique)
		  else . end
		| if . == $before then empty else . end' <<<"$current" 2>/dev/null); then
		ciab_log "warning: $file is not valid JSON; leaving it untouched (Claude Code keeps backups in $CLAUDE_CONFIG_DIR/backups)"
		return 0
	fi
	[ -n "$merged" ] || return 0
	tmp=$(mktemp -p "$CLAUDE_CONFIG_DIR" .claude.json.XXXXXX)
	printf '%s\n' "$merged" >"$tmp"
	chmod 600 "$tmp"
	mv -f "$tmp" "$file"
}

# Image-owned config goes to the workspace (project scope) on every start; the user's own
# skills and settings live in CLAUDE_CONFIG_DIR and are not touched.
ciab_stage_workspace() {
	local project="$CIAB_WORKSPACE/.claude"
	[ -d "$project" ] || mkdir -p "$project"
	rm -rf "$project/skills"
	cp -R "$CIAB_SHARE/skills" "$project/skills"
	cp "$CIAB_SHARE/mcp/mcp.json" "$CIAB_WORKSPACE/.mcp.json"
}

# CLAUDE.md asks the API server (bounded by CLAUDE_MD_TIMEOUT); it runs while the rest is staged.
ciab_start_claude_md() {
	generate-claude-md "$CIAB_WORKSPACE/CLAUDE.md" &
	CIAB_CLAUDE_MD_PID=$!
}

ciab_wait_claude_md() {
	if ! wait "$CIAB_CLAUDE_MD_PID"; then
		ciab_log "warning: CLAUDE.md generation failed; Claude starts without cluster context"
	fi
}

ciab_mark_ready() {
	mkdir -p "$CIAB_RUN_DIR"
	printf '%s\n' "$CLAUDE_MODE" >"$CIAB_RUN_DIR/ready"
}

# Say what went wrong in words a user can act on; Claude's own JSON still goes to stdout.
ciab_explain_failure() {
	local result_file=$1 text
	# The real CLI reports api_error_status/api_error_type beside a human "result" string.
	text=$(jq -r '"\(.api_error_status // "") \(.api_error_type // "") \(.result // "")"' "$result_file" 2>/dev/null ||
		cat "$result_file")
	case "$text" in
	*401* | *authentication_error* | *"Invalid API key"* | *"invalid x-api-key"* | *"OAuth token has expired"* | *"/login"*)
		ciab_log "authentication failed: the credentials were rejected by Anthropic.
  Create a new token with \`claude setup-token\` (or a new API key) and update the Secret, then restart the pod.
  A /login on the volume expires if unused for long: attach in interactive mode and run /login again."
		;;
	*)
		ciab_log "headless run failed: $(jq -r '"subtype=\(.subtype // "?") is_error=\(.is_error // "?")"' "$result_file" 2>/dev/null || echo 'no JSON result')"
		;;
	esac
}

# Headless: print Claude's JSON result, and exit non-zero when it reports a failure (claude -p can
# exit 0 after denied tools or rate limits).
ciab_run_headless() {
	local result pid status=0
	result=$(mktemp -p "${TMPDIR:-/tmp}" claude-result.XXXXXX)
	"$CLAUDE_BIN" -p "$CLAUDE_PROMPT" --output-format json "$@" >"$result" &
	pid=$!
	trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
	# wait returns early when a trapped signal arrives; wait again for the real exit status.
	while :; do
		wait "$pid" && status=0 || status=$?
		kill -0 "$pid" 2>/dev/null || break
	done
	trap - TERM INT
	cat "$result"
	if [ "$status" -eq 0 ] && jq -e '.is_error == false and .subtype == "success"' "$result" >/dev/null 2>&1; then
		rm -f "$result"
		return 0
	fi
	ciab_explain_failure "$result"
	rm -f "$result"
	[ "$status" -ne 0 ] && return "$status"
	return 1
}

_main() {
	ciab_check_mode
	ciab_file_env CLAUDE_CODE_OAUTH_TOKEN
	ciab_file_env ANTHROPIC_API_KEY
	ciab_check_paths
	case "$CLAUDE_MODE" in
	remote-control)
		ciab_check_tty
		ciab_check_remote_control
		;;
	interactive)
		ciab_check_tty
		ciab_check_auth
		export DISABLE_TELEMETRY=1
		;;
	headless)
		ciab_check_headless
		ciab_check_auth
		export DISABLE_TELEMETRY=1
		;;
	esac
	ciab_start_claude_md
	ciab_merge_claude_json
	ciab_stage_workspace
	ciab_wait_claude_md
	cd "$CIAB_WORKSPACE"
	ciab_mark_ready
	case "$CLAUDE_MODE" in
	interactive) exec "$CLAUDE_BIN" "$@" ;;
	remote-control) exec "$CLAUDE_BIN" remote-control --spawn same-dir "$@" ;;
	headless) ciab_run_headless "$@" ;;
	esac
}

if ! ciab_is_sourced; then
	_main "$@"
fi
