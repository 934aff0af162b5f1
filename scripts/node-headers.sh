# node-headers.sh — sourced by scripts/cross-arm64.sh and scripts/prebuild.sh: finds Node's headers
# offline (node-gyp would otherwise download them) and sets NODEDIR. The sourcing script defines
# fail(); this file defines nothing else it would need.
has_headers() { [[ -f "$1/include/node/node_api.h" && -f "$1/include/node/common.gypi" ]]; }
node_version="$(node -p 'process.versions.node')"
candidates=("${NODEDIR:-}" "${npm_config_nodedir:-}"
  "$(node -p 'require("path").resolve(process.execPath, "../..")')"
  "${HOME:-/root}/.cache/node-gyp/$node_version")
NODEDIR=""
for d in "${candidates[@]}"; do
  if [[ -n "$d" ]] && has_headers "$d"; then
    NODEDIR="$d"
    break
  fi
done
[[ -n "$NODEDIR" ]] || fail "no Node headers (include/node/node_api.h + common.gypi) in: ${candidates[*]}; set NODEDIR"
