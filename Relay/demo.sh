#!/usr/bin/env bash
# The airlock demo (`make demo`): a relay, a small web page exposed as service `web`, a second
# page `secret` the agent is not allowed, and real curl in agent namespaces. Prints what happened
# and exits non-zero if anything did not behave as it should. Everything it starts listens on
# 127.0.0.1 or inside namespaces it creates, and everything is removed at the end.
set -euo pipefail

airlock=${AIRLOCK:-$(cd "$(dirname "$0")/.." && pwd)/.build/debug/airlock}
prefix=${AIRLOCK_DEMO_PREFIX:-ademo}
[ "$(id -u)" -eq 0 ] || { echo "error: the demo creates network namespaces: run it as root (sudo make demo)" >&2; exit 1; }
[ -x "$airlock" ] || { echo "error: $airlock is missing; run make build" >&2; exit 1; }

work=$(mktemp -d /tmp/airlock-demo.XXXXXX)
chmod 0755 "$work"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to 10 s for a line matching $2 in file $1 and prints it.
await() {
    for _ in $(seq 100); do
        if line=$(grep -m1 -E "$2" "$1" 2>/dev/null); then echo "$line"; return 0; fi
        sleep 0.1
    done
    echo "error: timed out waiting for /$2/ in $1:" >&2; cat "$1" >&2; return 1
}
failed=0
if [ -t 1 ]; then ok=$'\033[32m✔\033[0m' bad=$'\033[31m✘\033[0m'; else ok='✔' bad='✘'; fi
check() {  # check OK|FAIL what detail
    if [ "$1" = OK ]; then printf '  %s %-44s %s\n' "$ok" "$2" "$3"
    else printf '  %s %-44s %s\n' "$bad" "$2" "$3"; failed=1; fi
}

cd "$work"
web_peer=$("$airlock" key generate --out web.key 2>/dev/null)
secret_peer=$("$airlock" key generate --out secret.key 2>/dev/null)
"$airlock" key generate --out relay.key >/dev/null 2>&1
mkdir -p www/web www/secret
echo "hello from web, through the airlock relay" > www/web/index.html
echo "the secret page" > www/secret/index.html

python3 -u -m http.server 0 --bind 127.0.0.1 --directory www/web > web-http.log 2>&1 & pids+=($!)
python3 -u -m http.server 0 --bind 127.0.0.1 --directory www/secret > secret-http.log 2>&1 & pids+=($!)
web_port=$(await web-http.log 'Serving HTTP' | sed -E 's/.* port ([0-9]+).*/\1/')
secret_port=$(await secret-http.log 'Serving HTTP' | sed -E 's/.* port ([0-9]+).*/\1/')

# The relay is also the agent's exit to outside names. Its names come from a hosts file only
# (system DNS off): pages.example.test is the web page's address, internal.example.test another
# loopback address that no rule names.
printf '127.0.0.1 pages.example.test\n127.0.0.2 internal.example.test\n' > hosts
cat > policy.json <<EOF
{
  "version": 1,
  "agents": { "demo": { "uid": 0, "note": "root runs it; the agent itself runs unprivileged" } },
  "services": {
    "web": { "peer": "$web_peer" },
    "secret": { "peer": "$secret_peer" }
  },
  "exits": { "out": { "peer": "relay" } },
  "rules": [
    { "from": "demo", "to": "web" },
    { "from": "demo", "to": "out",
      "destinations": ["pages.example.test:$web_port", "127.0.0.1:$web_port", "internal.example.test:$web_port"] }
  ]
}
EOF

"$airlock" relay --listen 127.0.0.1:0 --key relay.key --policy policy.json \
    --hub-prefix "$prefix" --control "$work/control/control.sock" \
    --exit --hosts hosts --no-system-dns > relay.out 2> relay.log & pids+=($!)
relay=$(await relay.out '^listening ' | awk '{print $2}')
"$airlock" expose web --target "127.0.0.1:$web_port" --relay "$relay" --key web.key > web.out 2>&1 & pids+=($!)
"$airlock" expose secret --target "127.0.0.1:$secret_port" --relay "$relay" --key secret.key > secret.out 2>&1 & pids+=($!)
await web.out '^exposed ' >/dev/null
await secret.out '^exposed ' >/dev/null

run() { "$airlock" run --control "$work/control/control.sock" "$@"; }

echo "airlock demo"
relay_port=$(sed -E 's#.*/tcp/([0-9]+)/.*#\1#' <<<"$relay")
echo "  relay    127.0.0.1:$relay_port as ${relay##*/}, hub namespace $prefix-hub"
echo "  web      page on 127.0.0.1:$web_port, exposed as service web (allowed)"
echo "  secret   page on 127.0.0.1:$secret_port, exposed as service secret (not in the agent's rules)"
echo "  exit     the relay, for names: pages.example.test:$web_port allowed (and its address, 127.0.0.1)"
echo

# 1. The allowed service, by name, through the proxy variables run sets.
out=$(run --verbose -- curl -fsS -m 10 http://web/ 2> run1.err) || true
info=$(grep -m1 ' runs as agent ' run1.err || true)
ns=$(sed -nE 's/.* netns ([^,]+),.*/\1/p' <<<"$info")
hub=$(sed -nE 's/.*→ relay ([0-9.]+):.*/\1/p' <<<"$info")
echo "  agent    curl in namespace ${ns:-?}, its only link a veth to the relay at ${hub:-?}"
if [ "$out" = "hello from web, through the airlock relay" ]; then check OK "curl http://web/" "200: \"$out\""
else check FAIL "curl http://web/" "got: $out $(cat run1.err)"; fi

# 2. A service the policy does not allow this agent.
out=$(run -- curl -sS -m 10 -i http://secret/ 2>&1 | tr -d '\r') || true
status=$(head -n1 <<<"$out"); reason=$(grep -i '^X-Airlock-Reason:' <<<"$out" || true)
if grep -q ' 403 ' <<<"$status" && [ -n "$reason" ]; then
    why=$(grep -m1 'circuit_refused' relay.log | sed -nE 's/.*reason=([^ ]+).*/\1/p')
    check OK "curl http://secret/" "refused: ${status#HTTP/1.1 }, $reason (relay log: reason=$why)"
else check FAIL "curl http://secret/" "expected 403, got: $out"; fi

# 3. Outside names go to the exit: it checks the rule first, then resolves the name itself.
out=$(run -- curl -fsS -m 10 "http://pages.example.test:$web_port/" 2>&1) || true
if [ "$out" = "hello from web, through the airlock relay" ]; then check OK "curl http://pages.example.test:$web_port/" "200 through the exit: \"$out\""
else check FAIL "curl http://pages.example.test:$web_port/" "got: $out"; fi
out=$(run -- curl -sS -m 10 -i "http://elsewhere.example.test:$web_port/" 2>&1 | tr -d '\r') || true
reason=$(grep -i '^X-Airlock-Reason:' <<<"$out" || true)
if grep -q ' 403 ' <<<"$(head -n1 <<<"$out")" && [ -n "$reason" ]; then check OK "curl http://elsewhere.example.test:$web_port/" "refused before any lookup: $reason"
else check FAIL "curl http://elsewhere.example.test:$web_port/" "expected 403, got: $out"; fi
out=$(run -- curl -sS -m 10 -i "http://internal.example.test:$web_port/" 2>&1 | tr -d '\r') || true
reason=$(grep -i '^X-Airlock-Reason:' <<<"$out" || true)
if grep -qi 'blocked-address' <<<"$reason"; then check OK "curl http://internal.example.test:$web_port/" "refused: it is 127.0.0.2, which no rule names ($reason)"
else check FAIL "curl http://internal.example.test:$web_port/" "expected blocked-address, got: $out"; fi

# 4. Around the proxy, straight to the host's loopback where both pages listen.
out=$(run -- curl -sS -m 5 --noproxy '*' "http://127.0.0.1:$web_port/" 2>&1) && rc=0 || rc=$?
if [ $rc -ne 0 ]; then check OK "curl --noproxy '*' http://127.0.0.1:$web_port/" "refused: $out"
else check FAIL "curl --noproxy '*' http://127.0.0.1:$web_port/" "reached the host: $out"; fi

# 5. Straight to the hub, on a port the relay does not listen on.
out=$(run -- curl -sS -m 5 --noproxy '*' "http://${hub:-169.254.1.0}:80/" 2>&1) && rc=0 || rc=$?
if [ $rc -ne 0 ]; then check OK "curl --noproxy '*' http://${hub:-169.254.1.0}:80/" "refused: $out"
else check FAIL "curl --noproxy '*' http://${hub:-169.254.1.0}:80/" "reached the hub: $out"; fi

# 6. The sandbox around it: the host's files are read-only, /run (host sockets) is empty.
out=$(run -- sh -c 'echo x > /etc/airlock-demo-probe' 2>&1) && rc=0 || rc=$?
if [ $rc -ne 0 ] && [ ! -e /etc/airlock-demo-probe ]; then check OK "sh -c 'echo x > /etc/airlock-demo-probe'" "refused: ${out##*: }"
else check FAIL "sh -c 'echo x > /etc/airlock-demo-probe'" "wrote to the host: $out"; rm -f /etc/airlock-demo-probe; fi
out=$(run -- ls -A /run 2>&1) || true
if [ "$out" = "airlock" ]; then check OK "ls -A /run" "only its own resolver file: \"$out\" (no host sockets)"
else check FAIL "ls -A /run" "saw: $(tr '\n' ' ' <<<"$out")"; fi

echo
echo "relay log, decisions (peers shortened):"
grep -E 'circuit_opened|circuit_refused|exit_connected|exit_refused' relay.log | while read -r _ _ _ event fields; do
    src=$(sed -nE 's/.*(src|peer)=([^ ]+).*/\2/p' <<<"$fields"); dst=$(sed -nE 's/.*(dst|target)=([^ ]+).*/\2/p' <<<"$fields")
    name=$dst; [ "$dst" = "$web_peer" ] && name=web; [ "$dst" = "$secret_peer" ] && name=secret
    why=$(sed -nE 's/.*reason=([^ ]+).*/ reason=\1/p' <<<"$fields")
    echo "  $event  agent ${src:0:14}… → $name$why"
done
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
left=$(ip netns list | grep -E "^$prefix-" || true)
echo
if [ -z "$left" ]; then echo "cleaned up: relay, services and pages stopped; no agent namespace or veth is left"
else echo "left behind: $left"; failed=1; fi
exit $failed
