// Do the console's charts stay smooth with 50 live versions? One `quiver serve` with
// 50 iris versions deployed at 2 % each and traffic flowing; headless chromium (1366x768)
// shows the deployment's traffic page, which refreshes its data every 3 s and redraws
// its charts with one series per version. For MEASURE_S seconds the page records the
// interval between animation frames and every long task (> 50 ms on the main thread).
// Prints one JSON line; with --write, replaces its section of docs/benchmarks.md.
//
//   node bench/console_charts50.mjs [--write docs/benchmarks.md]
//
// Uses the browser tests' harness (tests/browser/, its npm packages from their lockfile:
// scripts/browser-tests.sh installs them).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MODELS, Server, backgroundTraffic, ensureExampleModels, launchBrowser, openPage, sendTraffic } from "../tests/browser/harness.mjs";

const VERSIONS = 50;
const MEASURE_S = 15;
const HEADING = "## k. Console charts with 50 live versions";

function pct(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function main() {
  ensureExampleModels();
  const server = await new Server().start();
  let browser;
  try {
    for (let v = 1; v <= VERSIONS; v++)
      server.cli("push", join(MODELS, "iris_v1.onnx"), "--model", "iris");
    const versions = Array.from({ length: VERSIONS }, (_, i) => ({ version: String(i + 1), instances: 1 }));
    const traffic = versions.map((v) => ({ version: v.version, weight: 2 }));
    await server.deploy({ versions, traffic });
    await sendTraffic(server, 2000, 8);  // every version has a series before the page opens
    const stop = backgroundTraffic(server, 40);
    browser = await launchBrowser();
    const problems = [];
    const page = await openPage(browser, problems);
    await page.goto(server.url + "/ui#/models/iris/traffic");
    await page.waitForSelector("canvas", { timeout: 30000 });
    await page.waitForTimeout(4000);  // one refresh with the full history
    const result = await page.evaluate(async (seconds) => {
      const frames = [];
      const longTasks = [];
      const observer = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) longTasks.push(e.duration);
      });
      observer.observe({ entryTypes: ["longtask"] });
      const end = performance.now() + seconds * 1000;
      let last = performance.now();
      await new Promise((done) => {
        const tick = (t) => {
          frames.push(t - last);
          last = t;
          if (t < end) requestAnimationFrame(tick); else done();
        };
        requestAnimationFrame(tick);
      });
      observer.disconnect();
      return { frames, longTasks, charts: document.querySelectorAll("canvas").length };
    }, MEASURE_S);
    await stop();
    const sorted = [...result.frames].sort((a, b) => a - b);
    const out = {
      versions: VERSIONS, seconds: MEASURE_S, charts: result.charts, frames: result.frames.length,
      frame_p50_ms: pct(sorted, 0.5), frame_p99_ms: pct(sorted, 0.99), frame_max_ms: sorted[sorted.length - 1],
      long_tasks: result.longTasks.length, longest_task_ms: Math.max(0, ...result.longTasks), problems,
    };
    console.log(JSON.stringify(out));
    const at = process.argv.indexOf("--write");
    if (at > 0) write(process.argv[at + 1], out);
  } finally {
    if (browser) await browser.close();
    await server.stop();
  }
}

function write(path, r) {
  const text = `${HEADING}

One server with ${r.versions} iris versions deployed at 2 % each under steady traffic; headless chromium
(1366x768, software rendering) shows the deployment's traffic page (${r.charts} charts, one series per
version, data refreshed every 3 s) for ${r.seconds} s while the page records the interval between
animation frames and every long task (over 50 ms on the main thread).

| frames | frame interval p50 | p99 | max | long tasks | longest |
|---|---|---|---|---|---|
| ${r.frames} | ${r.frame_p50_ms.toFixed(1)} ms | ${r.frame_p99_ms.toFixed(1)} ms | ${r.frame_max_ms.toFixed(1)} ms | ${r.long_tasks} | ${r.longest_task_ms.toFixed(0)} ms |

A frame every ${r.frame_p50_ms.toFixed(1)} ms is ${(1000 / r.frame_p50_ms).toFixed(0)} frames per second between stalls; the slowest frame took
${r.frame_max_ms.toFixed(0)} ms. Goal (no stall a user would notice: no main-thread task over 100 ms):
${r.longest_task_ms <= 100 ? "**goal met**" : "**goal missed**"}. The machine is a shared 2-core one, the server, its load and the
browser on the same cores; where the long tasks come from (the refresh's data handling, the
charts' redraw, or the page's 50-row tables) is not yet profiled.

\`\`\`
node bench/console_charts50.mjs --write docs/benchmarks.md
\`\`\`
`;
  let doc = readFileSync(path, "utf8");
  const start = doc.indexOf(HEADING);
  if (start >= 0) {
    const next = doc.indexOf("\n## ", start + HEADING.length);
    doc = doc.slice(0, start) + text + (next >= 0 ? doc.slice(next + 1) : "");
  } else {
    doc = doc.replace(/\n*$/, "\n\n") + text;
  }
  writeFileSync(path, doc);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
