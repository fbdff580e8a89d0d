#!/usr/bin/env bash
# Takes a screenshot of the dashboard in a real browser (Debian's headless Chromium):
# runs `switchboard demo --serve` (throwaway PostgreSQL, simulator, worker, webhook with its
# dashboard), checks the page Chromium rendered, and writes the PNG.
#   Tests/Scripts/dashboard-screenshot.sh [output.png]      (default: docs/dashboard.png)
# Needs a built binary (swift build; or SWITCHBOARD_BIN=path) and chromium.
set -euo pipefail
cd "$(dirname "$0")/../.."
output="${1:-docs/dashboard.png}"
binary="${SWITCHBOARD_BIN:-$(swift build --show-bin-path 2>/dev/null || echo .build/debug)/switchboard}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
[ -x "$binary" ] || { echo "no switchboard binary at $binary: run swift build first" >&2; exit 2; }
[ -n "$browser" ] || { echo "no chromium: apt-get install chromium" >&2; exit 2; }

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SWITCHBOARD_DASHBOARD_TOKEN="$token" "$binary" demo --serve --port "$port" >"$work/demo.log" 2>&1 &
demo=$!
trap 'kill "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 240); do
    grep -q '^dashboard: ' "$work/demo.log" && break
    kill -0 "$demo" 2>/dev/null || { cat "$work/demo.log" >&2; echo "the demo stopped early" >&2; exit 1; }
    sleep 0.5
done
grep -q '^dashboard: ' "$work/demo.log" || { cat "$work/demo.log" >&2; echo "the dashboard did not come up" >&2; exit 1; }

url="http://operator:$token@127.0.0.1:$port/dashboard"
# Root needs --no-sandbox; --user-data-dir keeps runs apart.
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/profile" --window-size=1280,1500)
"$browser" "${flags[@]}" --dump-dom "$url" >"$work/dom.html" 2>"$work/chromium.log"
for expected in "Queue now" "Queue depth" "Throughput" "Campaigns" "Senders" "Recent failures" "Voice sessions" "<svg" "polyline"; do
    grep -q "$expected" "$work/dom.html" || { echo "the rendered page has no '$expected'" >&2; head -c 2000 "$work/dom.html" >&2; exit 1; }
done
session="$(grep -o '/dashboard/sessions/[0-9]*' "$work/dom.html" | head -1)"
[ -n "$session" ] || { echo "no voice session link on the page" >&2; exit 1; }
"$browser" "${flags[@]}" --dump-dom "http://operator:$token@127.0.0.1:$port$session" >"$work/session.html" 2>>"$work/chromium.log"
grep -q "Transcript" "$work/session.html" && grep -q "Caller" "$work/session.html" \
    || { echo "the session page shows no transcript" >&2; exit 1; }
mkdir -p "$(dirname "$output")"
"$browser" "${flags[@]}" --screenshot="$output" "$url" 2>>"$work/chromium.log"
[ "$(head -c 8 "$output" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || { echo "$output is not a PNG" >&2; exit 1; }
echo "dashboard screenshot: $output ($(stat -c %s "$output") bytes); session page: $session"
