// The console on a server with --auth: it asks for a token, keeps it for the tab only,
// and a role that may not act sees the server's refusal in the confirmation, while a
// deployer's action goes through.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Server, launchBrowser, openPage, until } from "./harness.mjs";

let server;
let browser;
let page;
let failed = false;
const problems = [];

before(async () => {
  server = await new Server(["--auth"]).start();
  server.useAdminToken();
  await server.setUpIris();
  browser = await launchBrowser();
  page = await openPage(browser, problems);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop(failed);
});

const step = (name, fn) =>
  test(name, async () => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  });

async function signIn(token) {
  await page.locator('[data-testid="signin"]').waitFor();
  await page.fill('[data-testid="token"]', token);
  await page.click('[data-testid="signin"] button');
}

step("a reader signs in, sees the models, and may not move traffic", async () => {
  const { token: reader } = await server.request("POST", "/v1/tokens", { role: "reader" });
  await page.goto(server.url + "/ui");
  await signIn("qv_not_a_real_token");
  await page.locator('[data-testid="signin"] .error').waitFor();
  await page.fill('[data-testid="token"]', reader);
  await page.click('[data-testid="signin"] button');
  await page.locator('[data-testid="model-iris"]').waitFor();
  // Kept for this tab only.
  assert.equal(await page.evaluate(() => sessionStorage.getItem("quiver.token")), reader);
  assert.equal(await page.evaluate(() => localStorage.length), 0);

  await page.goto(server.url + "/ui#/models/iris/traffic");
  await page.fill('[data-testid="weight-1"]', "50");
  await page.fill('[data-testid="weight-2"]', "50");
  await page.click('[data-testid="apply-weights"]');
  await page.click('[data-testid="confirm-ok"]');
  const refusal = await page.locator('[data-testid="confirm-error"]').textContent();
  assert.match(refusal, /Not allowed for this token's role/);
  await page.click('[data-testid="confirm"] >> text=Cancel');
  await page.locator('[data-testid="confirm"]').waitFor({ state: "detached" });
  const d = await server.request("GET", "/v1/deployments/iris");
  assert.equal(d.revision, 1, "nothing changed");
});

step("a deployer's change goes through", async () => {
  const { token: deployer } = await server.request("POST", "/v1/tokens", { role: "deployer" });
  await page.goto(server.url + "/ui#/");
  await page.click("text=Sign out");
  await signIn(deployer);
  await page.locator('[data-testid="model-iris"]').waitFor();
  await page.goto(server.url + "/ui#/models/iris/traffic");
  await page.fill('[data-testid="weight-1"]', "50");
  await page.fill('[data-testid="weight-2"]', "50");
  await page.click('[data-testid="apply-weights"]');
  await page.click('[data-testid="confirm-ok"]');
  await page.locator('[data-testid="confirm"]').waitFor({ state: "detached" });
  const d = await until(async () => {
    const x = await server.request("GET", "/v1/deployments/iris");
    return x.revision === 2 ? x : false;
  }, 10000, "revision 2");
  assert.deepEqual(d.traffic.map((t) => t.weight), [50, 50]);
  // The console's own files need no token; the data behind them does.
  assert.equal((await fetch(server.url + "/ui/app.js")).status, 200);
  assert.equal((await fetch(server.url + "/v1/models")).status, 401);
  assert.deepEqual(problems, []);
});
