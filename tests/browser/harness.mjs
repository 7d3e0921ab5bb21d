// What the browser tests stand on: a real `quiver serve` on port 0 with the iris
// example models pushed and evaluated (as the README's first steps do), traffic from
// the test itself, and Debian's chromium driven by playwright-core.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const BINARY = process.env.QUIVER_BINARY || join(ROOT, "build", "quiver");
export const MODELS = process.env.QUIVER_EXAMPLE_MODELS || join(ROOT, "examples", "models");
export const SHOTS = join(ROOT, "docs", "images");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

// Polls `check` (sync or async) until it returns a truthy value; fails with `what`
// and the last value after `ms`. Browser tests wait on a live server, so they poll
// with a bound instead of sleeping a fixed time.
export async function until(check, ms, what) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

export class Server {
  constructor(extraArgs = []) {
    this.extraArgs = extraArgs;
    this.dir = mkdtempSync(join(tmpdir(), "quiver-browser-"));
  }

  async start() {
    // The server's log goes to a file, shown when something fails.
    this.log = join(this.dir, "server.log");
    this.proc = spawn(BINARY, ["serve", "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0",
                               "--data-dir", join(this.dir, "data"), ...this.extraArgs],
                      { stdio: ["ignore", "pipe", openSync(this.log, "a")] });
    const lines = createInterface({ input: this.proc.stdout });
    this.url = await new Promise((resolveUrl, reject) => {
      const timer = setTimeout(() => reject(new Error("server did not print its port")), 60000);
      this.proc.on("exit", (code) => reject(new Error(`server exited early (${code}): ${this.logTail()}`)));
      lines.on("line", (line) => {
        if (!line.startsWith("quiver listening")) return;
        const http = line.split(/\s+/).find((f) => f.startsWith("http="));
        clearTimeout(timer);
        resolveUrl("http://" + http.slice(5));
      });
    });
    return this;
  }

  // With --auth: the admin token the first start wrote; helper calls then carry it.
  useAdminToken() {
    this.token = readFileSync(join(this.dir, "data", "admin.token"), "utf8").trim();
    return this.token;
  }

  logTail() {
    try {
      return readFileSync(this.log, "utf8").split("\n").slice(-40).join("\n");
    } catch {
      return "";
    }
  }

  // Stops the server; keeps its log on the console when the tests failed.
  async stop(failed = false) {
    if (failed) console.log("# server log (tail):\n" + this.logTail());
    if (this.proc && this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc.on("exit", r));
      this.proc.kill("SIGTERM");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  // The CLI, as a user types it.
  cli(...args) {
    const env = { ...process.env, QUIVER_SERVER: this.url };
    if (this.token) env.QUIVER_TOKEN = this.token;
    return execFileSync(BINARY, args, { env, encoding: "utf8",
                                        stdio: ["ignore", "pipe", "pipe"] });
  }

  async request(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    if (this.token) headers.Authorization = "Bearer " + this.token;
    const r = await fetch(this.url + path, { method, headers,
                                             body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  // The README's demo: two iris versions with their accuracy on the held-out flowers,
  // v3 (v1 exported to ONNX) for the rollout, 90/10 between v1 and the canary.
  async setUpIris() {
    ensureExampleModels();
    this.cli("push", join(MODELS, "iris_v1.pt"), "--model", "iris", "--input", "input:FP32:-1,4",
             "--output", "probabilities:FP32:-1,3", "--metadata", "labels=setosa,versicolor,virginica",
             "--description", "iris MLP, all four measurements");
    this.cli("push", join(MODELS, "iris_v2.onnx"), "--model", "iris", "--alias", "canary",
             "--metadata", "labels=setosa,versicolor,virginica", "--description", "iris MLP, sepals only");
    this.cli("push", join(MODELS, "iris_v1.onnx"), "--model", "iris", "--version", "3",
             "--metadata", "labels=setosa,versicolor,virginica", "--description", "iris v1, ONNX export");
    for (const v of ["1", "2"])
      this.cli("eval", "iris", v, "--dataset", join(ROOT, "examples/data/iris_holdout.csv"), "--label", "species");
    await this.deploy({ versions: [{ version: "1" }, { version: "canary" }],
                        traffic: [{ version: "1", weight: 90 }, { version: "canary", weight: 10 }] });
  }

  async deploy(spec) {
    const { revision } = await this.request("PUT", "/v1/deployments/iris", spec);
    await until(async () => {
      const d = await this.request("GET", "/v1/deployments/iris");
      return d.status.revision === revision && d.status.state === "ready";
    }, 60000, `revision ${revision} ready`);
    return revision;
  }
}

export function ensureExampleModels() {
  if (existsSync(join(MODELS, "manifest.json"))) return;
  mkdirSync(MODELS, { recursive: true });
  execFileSync("/usr/bin/python3", [join(ROOT, "scripts/make_example_models.py"), MODELS], { stdio: "ignore" });
}

// Held-out flowers, as users send them; cycles through the rows.
const FLOWERS = [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [6.3, 3.3, 6.0, 2.5], [5.8, 2.7, 4.1, 1.0],
                 [4.9, 3.0, 1.4, 0.2], [7.7, 2.6, 6.9, 2.3], [5.5, 2.4, 3.8, 1.1], [6.0, 2.2, 5.0, 1.5]];

// Sends `count` routed requests, `concurrency` at a time; returns the versions that answered.
export async function sendTraffic(server, count, concurrency = 4) {
  const seen = {};
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const r = await fetch(server.url + "/v2/models/iris/infer", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ id: "b" + i, inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: FLOWERS[i % FLOWERS.length] }] }),
      });
      const v = r.headers.get("x-quiver-model-version");
      await r.arrayBuffer();
      seen[v] = (seen[v] || 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return seen;
}

// Keeps traffic flowing until the returned stop() is awaited.
export function backgroundTraffic(server, perBatch = 20) {
  let running = true;
  const loop = (async () => {
    while (running) await sendTraffic(server, perBatch, 2);
  })();
  return async () => {
    running = false;
    await loop;
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

// A laptop-sized page that fails the test on any script error or console error (a
// Content-Security-Policy violation shows up as one).
export async function openPage(browser, problems) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  page.on("pageerror", (err) => problems.push("page error: " + err.message));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !/status of (401|403|404)/.test(msg.text())) problems.push("console: " + msg.text());
  });
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `console-${name}.png`) });
}
