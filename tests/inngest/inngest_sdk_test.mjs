// Sends events to a real `flowrun serve` through the real `inngest` npm SDK (inngest.send), as an
// app would: one event, a batch, deduplication by id, a wrong event key, and a bad event whose
// message must reach the caller. Runs on Debian 12's Node 18.
//
//   FLOWRUN_BIN=build/flowrun INNGEST_NODE_MODULES=<dir>/node_modules node inngest_sdk_test.mjs
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const require = createRequire(join(process.env.INNGEST_NODE_MODULES, "x.js"));
const { Inngest } = require("inngest");

const EVENT_KEY = "flowrun-test-event-key-0123456789";
const API_TOKEN = "flowrun-test-api-token-0123456789";

let passed = 0;
let failed = 0;
function check(condition, what, detail = "") {
  if (condition) {
    passed++;
  } else {
    failed++;
    console.error(`FAIL: ${what}${detail ? `: ${detail}` : ""}`);
  }
}

// Starts `flowrun serve` on a free loopback port; resolves with the process and its base URL.
function startServer(dir) {
  mkdirSync(join(dir, "flows"));
  writeFileSync(
    join(dir, "flows", "greet.yaml"),
    'id: greet\non: {event: app/user.created}\nsteps:\n  - id: hello\n    log: "hi ${{ event.data.name }}"\n',
  );
  writeFileSync(
    join(dir, "flowrun.yaml"),
    `event_keys: [${EVENT_KEY}]\napi_tokens: [${API_TOKEN}]\n`,
  );
  const server = spawn(process.env.FLOWRUN_BIN, [
    "serve", "--config", join(dir, "flowrun.yaml"), "--listen", "127.0.0.1:0",
  ], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("flowrun serve did not start in 20 s")), 20000);
    server.on("exit", (code) => reject(new Error(`flowrun serve exited with ${code}`)));
    createInterface({ input: server.stderr }).on("line", (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.msg === "flowrun serving") {
        clearTimeout(timer);
        resolve({ server, url: `http://${entry.listen}` });
      }
    });
  });
}

async function storedEvent(url, id) {
  const response = await fetch(`${url}/v1/events/${id}`, {
    headers: { Authorization: `Bearer ${API_TOKEN}` },
  });
  return response.status === 200 ? response.json() : null;
}

async function rejection(promise) {
  try {
    await promise;
    return null;
  } catch (error) {
    return error;
  }
}

const dir = mkdtempSync(join(tmpdir(), "flowrun-inngest-"));
const { server, url } = await startServer(dir);
try {
  const inngest = new Inngest({ id: "flowrun-sdk-test", eventKey: EVENT_KEY, baseUrl: url });

  // One event: its id comes back, and it is stored with its data.
  const one = await inngest.send({ name: "app/user.created", data: { name: "Ada" } });
  check(Array.isArray(one.ids) && one.ids.length === 1, "send returns one id", JSON.stringify(one));
  const stored = await storedEvent(url, one.ids[0]);
  check(stored?.name === "app/user.created" && stored?.data?.name === "Ada", "the event is stored",
    JSON.stringify(stored));

  // A batch: one id per event, in order.
  const batch = await inngest.send([
    { name: "app/user.created", data: { name: "B1" } },
    { name: "app/user.created", data: { name: "B2" } },
    { name: "app/other", data: {} },
  ]);
  check(batch.ids?.length === 3 && new Set(batch.ids).size === 3, "a batch returns three ids",
    JSON.stringify(batch));
  const third = await storedEvent(url, batch.ids[2]);
  check(third?.name === "app/other", "the batch keeps its order", JSON.stringify(third));

  // Deduplication by id: the second send answers the first event's id.
  const first = await inngest.send({ name: "app/user.created", id: "signup-42", data: { name: "D" } });
  const again = await inngest.send({ name: "app/user.created", id: "signup-42", data: { name: "D" } });
  check(first.ids?.[0] && first.ids[0] === again.ids?.[0], "a repeated id gets the first event's id",
    `${JSON.stringify(first)} ${JSON.stringify(again)}`);

  // A wrong key is refused, and the SDK says why.
  const stranger = new Inngest({ id: "flowrun-sdk-test", eventKey: "wrong-key", baseUrl: url });
  const refused = await rejection(stranger.send({ name: "app/user.created", data: {} }));
  check(refused !== null, "a wrong key is refused");
  check(String(refused?.message).includes("unknown event key"),
    "the SDK's error carries the server's message", String(refused?.message));

  // A bad event: the server's message reaches the caller, and nothing is stored.
  const bad = await rejection(inngest.send({ name: "app/user.created", data: {}, ts: -5 }));
  check(bad !== null, "an event with a negative ts is refused");
  check(String(bad?.message).includes("`ts` must be Unix milliseconds"),
    "the bad event's message reaches the caller", String(bad?.message));
  const far = await rejection(inngest.send({ name: "app/user.created", data: { x: 1 }, ts: 1e308 }));
  check(String(far?.message).includes("year 9999"), "a ts of 1e308 is refused with a clear message",
    String(far?.message));
} finally {
  server.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}

console.log(`inngest: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
