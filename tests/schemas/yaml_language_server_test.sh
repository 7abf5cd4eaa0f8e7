#!/bin/sh
# Checks schemas/flow.schema.json the way editors use it: yaml-language-server, pointed at the
# schema by the `# yaml-language-server: $schema=…` modeline, must accept a valid flow and flag
# each mistake in an invalid one. Needs node and the yaml-language-server npm package, found in
# $YAML_LANGUAGE_SERVER_DIR (a node_modules folder holding it) or npm's global root; skips with
# exit 0 when either is missing. To run it:
#   cp tests/schemas/yaml-language-server/package*.json DIR && (cd DIR && npm ci)
#   YAML_LANGUAGE_SERVER_DIR=DIR/node_modules tests/schemas/yaml_language_server_test.sh
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v node >/dev/null 2>&1 || { echo "skipped: node is not installed"; exit 0; }
modules=${YAML_LANGUAGE_SERVER_DIR:-$(npm root -g 2>/dev/null || true)}
server="$modules/yaml-language-server/bin/yaml-language-server"
[ -f "$server" ] || { echo "skipped: yaml-language-server is not installed"; exit 0; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/flows" "$work/schemas"
cp "$root/schemas/flow.schema.json" "$work/schemas/"
cat >"$work/flows/good.yaml" <<'EOF'
# yaml-language-server: $schema=../schemas/flow.schema.json
id: good
on: {event: stripe/*}
steps:
  - id: get-user
    http: {method: GET, url: "https://x.test", timeout: 10s}
  - id: wait
    wait_for_event: {event: a/b, match: data.x, timeout: 48h, lookback: run}
  - id: pause
    on_error: continue
    sleep: 1h30m
EOF
cat >"$work/flows/bad.yaml" <<'EOF'
# yaml-language-server: $schema=../schemas/flow.schema.json
id: Bad Id
on: {cron: "@daily", if: "x"}
steps:
  - id: get-user
    iff: "true"
    http: {methd: GET, url: "https://x.test", timeout: 5 minutes}
  - id: t
    retry: {backoff: expo}
    sleep: 5
EOF
cat >"$work/client.js" <<'EOF'
// A minimal LSP client: opens the files, waits for diagnostics, asks for one hover.
const { spawn } = require('child_process');
const fs = require('fs');
const [server, ...files] = process.argv.slice(2);
const child = spawn(process.execPath, [server, '--stdio']);
let buffer = Buffer.alloc(0), nextId = 0;
const pending = {}, diagnostics = {};
const send = (m) => {
  const text = JSON.stringify({ jsonrpc: '2.0', ...m });
  child.stdin.write(`Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
};
const request = (method, params) => new Promise((done) => {
  pending[++nextId] = done;
  send({ id: nextId, method, params });
});
child.stdout.on('data', (data) => {
  buffer = Buffer.concat([buffer, data]);
  for (;;) {
    const end = buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const length = +/Content-Length: (\d+)/.exec(buffer.slice(0, end).toString())[1];
    if (buffer.length < end + 4 + length) return;
    const m = JSON.parse(buffer.slice(end + 4, end + 4 + length).toString());
    buffer = buffer.slice(end + 4 + length);
    if (m.id && pending[m.id]) { pending[m.id](m.result); delete pending[m.id]; }
    else if (m.method === 'textDocument/publishDiagnostics') diagnostics[m.params.uri] = m.params.diagnostics;
    else if (m.id && m.method === 'workspace/configuration') send({ id: m.id, result: m.params.items.map(() => ({ validate: true, hover: true })) });
    else if (m.id && m.method) send({ id: m.id, result: null });
  }
});
(async () => {
  await request('initialize', { processId: process.pid, rootUri: null, capabilities: { workspace: { configuration: true } } });
  send({ method: 'initialized', params: {} });
  send({ method: 'workspace/didChangeConfiguration', params: { settings: { yaml: { validate: true, hover: true, schemaStore: { enable: false } } } } });
  for (const f of files) send({ method: 'textDocument/didOpen', params: { textDocument: { uri: 'file://' + f, languageId: 'yaml', version: 1, text: fs.readFileSync(f, 'utf8') } } });
  for (let i = 0; i < 100 && Object.keys(diagnostics).length < files.length; ++i) await new Promise((r) => setTimeout(r, 100));
  const hover = await request('textDocument/hover', { textDocument: { uri: 'file://' + files[0] }, position: { line: 4, character: 6 } });
  for (const f of files) console.log(JSON.stringify((diagnostics['file://' + f] || []).map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1} ${d.message}`)));
  console.log(JSON.stringify(hover && hover.contents));
  child.kill();
  process.exit(0);
})();
EOF
out=$(timeout 60 node "$work/client.js" "$server" "$work/flows/good.yaml" "$work/flows/bad.yaml")
good=$(printf '%s\n' "$out" | sed -n 1p)
bad=$(printf '%s\n' "$out" | sed -n 2p)
hover=$(printf '%s\n' "$out" | sed -n 3p)
fail=0
[ "$good" = "[]" ] || { echo "FAIL: valid flow has diagnostics: $good"; fail=1; }
for expected in '2:5 expected lowercase letters' '3:' 'Property iff is not allowed' \
    'Property methd is not allowed' '7:56 expected a duration such as 30s' \
    '9:22 Value is not accepted' '10:12 Incorrect type'; do
  case "$bad" in
    *"$expected"*) ;;
    *) echo "FAIL: no diagnostic like '$expected' in: $bad"; fail=1 ;;
  esac
done
case "$hover" in
  *"unique in the flow"*) ;;
  *) echo "FAIL: hover on a step id shows no description: $hover"; fail=1 ;;
esac
[ "$fail" = 0 ] && echo "ok: yaml-language-server accepts the valid flow and flags 7 mistakes"
exit "$fail"
