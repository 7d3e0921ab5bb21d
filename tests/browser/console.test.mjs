// The web console in a real browser (Debian's chromium through playwright-core),
// against a real server: see the models, move traffic and watch the split follow,
// steer a rollout, roll back from the history. Screenshots of the main pages go to
// docs/images/ for the README.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Server, backgroundTraffic, launchBrowser, openPage, screenshot, sendTraffic, until } from "./harness.mjs";

let server;
let browser;
let page;
const problems = [];

before(async () => {
  server = await new Server().start();
  await server.setUpIris();
  browser = await launchBrowser();
  page = await openPage(browser, problems);
});

// A test that fails keeps the server's log for the report.
let failed = false;
const step = (name, fn) =>
  test(name, async () => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  });

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop(failed);
});

const text = async (selector) => (await page.locator(selector).first().textContent()) ?? "";
const percentIn = async (selector) => Number((await text(selector)).replace(/[^\d.]/g, ""));

step("the console is one self-contained page with a strict policy", async () => {
  const r = await fetch(server.url + "/ui");
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /^text\/html/);
  const csp = r.headers.get("content-security-policy");
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const etag = r.headers.get("etag");
  assert.ok(etag, "an ETag");
  const again = await fetch(server.url + "/ui/app.js", { headers: { "If-None-Match": (await fetch(server.url + "/ui/app.js")).headers.get("etag") } });
  assert.equal(again.status, 304, "a browser revalidates the bundle without downloading it again");
  const html = await r.text();
  assert.doesNotMatch(html, /https?:\/\//, "nothing is fetched from elsewhere");
});

step("open the console and see the models with their accuracy", async () => {
  await sendTraffic(server, 60);
  await page.goto(server.url + "/ui");
  await page.locator('[data-testid="model-iris"]').waitFor();
  for (const v of [1, 2, 3]) await page.locator(`[data-testid="row-iris-${v}"]`).waitFor();
  // The demo's two versions, with their accuracy on the held-out flowers.
  const acc1 = await until(async () => percentIn('[data-testid="row-iris-1"] [data-testid="accuracy"]'), 10000, "v1 accuracy");
  const acc2 = await until(async () => percentIn('[data-testid="row-iris-2"] [data-testid="accuracy"]'), 10000, "v2 accuracy");
  assert.ok(acc1 > 90, `v1 accuracy ${acc1}`);
  assert.ok(acc2 > 60 && acc2 < acc1, `v2 accuracy ${acc2}`);
  assert.match(await text('[data-testid="row-iris-2"]'), /canary/);
  await screenshot(page, "models");
  await page.goto(server.url + "/ui#/models/iris/versions");
  await page.locator('[data-testid="version-1"]').waitFor();
  assert.match(await text('[data-testid="version-1"]'), /sha256/);
  assert.deepEqual(problems, []);
});

step("change the weights and watch the observed split follow", async () => {
  await sendTraffic(server, 100);
  await page.goto(server.url + "/ui#/models/iris/traffic");
  await page.locator('[data-testid="weight-1"]').waitFor();
  await page.fill('[data-testid="weight-1"]', "20");
  await page.fill('[data-testid="weight-2"]', "80");
  await page.click('[data-testid="apply-weights"]');
  // The confirmation states what will change before anything is sent.
  const changes = await text('[data-testid="confirm-changes"]');
  assert.match(changes, /v1: 90\.0 % → 20\.0 %/);
  assert.match(changes, /v2: 10\.0 % → 80\.0 %/);
  await page.click('[data-testid="confirm-ok"]');
  await page.locator('[data-testid="confirm"]').waitFor({ state: "detached" });
  await until(async () => (await percentIn('[data-testid="split-2"] [data-testid="configured"]')) === 80, 10000, "configured 80 %");

  const stop = backgroundTraffic(server);
  try {
    const observed = await until(async () => {
      const v2 = await percentIn('[data-testid="split-2"] [data-testid="observed"]');
      return v2 >= 70 && v2 <= 90 ? v2 : false;
    }, 20000, "the observed share of v2 to reach about 80 %");
    assert.ok(observed >= 70);
    // The live charts fill in from the sampler's history.
    await until(async () => (await page.locator('[data-testid="chart-rate"] .u-over').count()) > 0, 10000, "rate chart");
    await until(async () => {
      const s = await server.request("GET", "/v1/deployments/iris/stats?window=15m");
      const v2 = s.versions.find((v) => v.version === 2);
      return s.t.length >= 3 && v2 && v2.share.at(-1) > 0.6;
    }, 20000, "three points of history with v2 taking most of the traffic");
    await page.waitForTimeout(3500); // one more refresh, so the screenshot shows the lines
    await screenshot(page, "traffic");
  } finally {
    await stop();
  }
  assert.deepEqual(problems, []);
});

step("start a rollout, watch its step advance, and abort it", async () => {
  // examples/iris-rollout-promote.yaml, with steps short enough for a test.
  await server.deploy({
    versions: [{ version: "1" }, { version: "3" }],
    rollout: {
      baseline: "1", candidate: "3",
      steps: [{ shadow: 100, pause: "2s" }, { weight: 20, pause: "60s" }, { weight: 50, pause: "60s" }],
      analysis: { tick: "500ms", window: "30s", min_samples: 20, alpha: 0.01,
                  metrics: [{ name: "error_rate", max_increase: 0.01 }, { name: "shadow_top1_agreement", min: 0.95 }] },
      on_failure: "rollback",
    },
  });
  const stop = backgroundTraffic(server);
  try {
    await page.goto(server.url + "/ui#/models/iris/rollout");
    await page.locator('[data-testid="rollout"]').waitFor();
    assert.match(await text('[data-testid="rollout-step"]'), /Step 1 of 3/);
    await until(async () => /Step 2 of 3/.test(await text('[data-testid="rollout-step"]')), 30000, "step 2");
    await until(async () => (await page.locator('[data-testid="verdicts"] .badge.pass').count()) > 0, 10000, "a passing verdict");
    await screenshot(page, "rollout");
    await page.click('[data-testid="abort"]');
    assert.match(await text('[data-testid="confirm-changes"]'), /back to baseline v1/);
    await page.click('[data-testid="confirm-ok"]');
    await until(async () => /rolling_back|aborted/.test(await text('[data-testid="rollout-state"]')), 10000, "aborted");
    assert.match(await text('[data-testid="rollout-reason"]'), /abort/);
  } finally {
    await stop();
  }
  const after = await server.request("GET", "/v1/deployments/iris/rollout");
  assert.match(after.state, /rolling_back|aborted/);
  assert.deepEqual(problems, []);
});

step("roll back from the history view", async () => {
  const before = await server.request("GET", "/v1/deployments/iris/history");
  const first = before[before.length - 1];
  await page.goto(server.url + "/ui#/models/iris/history");
  await page.locator(`[data-testid="rollback-${first.revision}"]`).waitFor();
  await page.locator('[data-testid="audit"] li').first().waitFor();
  await screenshot(page, "history");
  await page.click(`[data-testid="rollback-${first.revision}"]`);
  assert.match(await text('[data-testid="confirm-changes"]'), /After: v1 90 % · v2 10 %/);
  await page.click('[data-testid="confirm-ok"]');
  const now = await until(async () => {
    const h = await server.request("GET", "/v1/deployments/iris/history");
    return h[0].revision > before[0].revision ? h[0] : false;
  }, 10000, "a new revision");
  assert.deepEqual(now.spec.traffic.map((t) => [t.resolved_version, t.weight]), [[1, 90], [2, 10]]);
  await page.locator(`[data-testid="revision-${now.revision}"]`).waitFor();
  assert.match(await text(`[data-testid="revision-${now.revision}"]`), /current/);
  assert.deepEqual(problems, []);
});

step("compare two versions side by side", async () => {
  await sendTraffic(server, 50);
  await page.goto(server.url + "/ui#/models/iris/compare");
  await page.locator('[data-testid="compare"]').waitFor();
  await until(async () => /v1[\s\S]*v2/.test(await text('[data-testid="compare"] thead')), 10000, "v1 and v2 columns");
  assert.match(await text('[data-testid="compare"]'), /Accuracy/);
  await screenshot(page, "compare");
  assert.deepEqual(problems, []);
});
