// Walks the scimgate console in Debian's chromium, headless (playwright-core drives
// /usr/bin/chromium; no browser download). tests/console.rs starts the gateway and the target,
// makes the first exchanges, then runs this with:
//   CONSOLE_URL   the admin listener, e.g. http://127.0.0.1:9090
//   ADMIN_TOKEN   the --admin-token-env value (signed in through the login form)
//   GATEWAY_URL   the IdP listener, IDP_TOKEN the plain tenant's IdP secret (for the live tail)
//   TENANT        a tenant without [log] pii; PII_TENANT one with it
//   NEVER         JSON array of strings that must appear on no page (tokens, secrets, passwords)
//   REDACTED_TOO  JSON array of personal values the TENANT's page must not show
//   SCREENSHOTS   directory for the screenshots
// Prints one line per step; exits 1 at the first failed expectation.
import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const CONSOLE = env("CONSOLE_URL");
const GATEWAY = env("GATEWAY_URL");
const TENANT = env("TENANT");
const PII_TENANT = env("PII_TENANT");
const NEVER = JSON.parse(env("NEVER"));
const REDACTED_TOO = JSON.parse(env("REDACTED_TOO"));
const SHOTS = env("SCREENSHOTS");
mkdirSync(SHOTS, { recursive: true });

function expect(ok, what) {
  if (!ok) throw new Error(`expected: ${what}`);
  console.log(`ok: ${what}`);
}

async function noSecrets(page, where) {
  const html = await page.content();
  const text = await page.evaluate(() => document.body.innerText);
  for (const s of NEVER) {
    expect(!html.includes(s) && !text.includes(s), `${where}: no ${JSON.stringify(s.slice(0, 4) + "…")} in the page`);
  }
}

const profile = mkdtempSync(join(tmpdir(), "scimgate-console-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1440, height: 1000 },
});
const dialogs = [];
const errors = [];
let code = 0;
try {
  const page = context.pages()[0] || (await context.newPage());
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  page.on("pageerror", (e) => errors.push(String(e)));

  // 1. The console needs the admin token: the sign-in form, then the tenants page.
  const first = await page.goto(CONSOLE + "/");
  expect(first.status() === 401, "the console without the token answers 401 (sign-in form)");
  await page.fill("#token", env("ADMIN_TOKEN"));
  await page.click("form.login button");
  await page.waitForSelector("#tenants");
  const rows = await page.$$eval("#tenants tr.tenant", (trs) => trs.map((tr) => tr.dataset.tenant));
  expect(rows.includes(TENANT) && rows.includes(PII_TENANT), `the tenants page lists ${TENANT} and ${PII_TENANT} (${rows})`);
  const row = await page.innerText(`tr[data-tenant="${TENANT}"]`);
  expect(row.includes("entra") && row.includes("sha256"), "a tenant's row shows its IdP dialect and policy hash");
  await noSecrets(page, "tenants page");
  await page.screenshot({ path: join(SHOTS, "tenants.png"), fullPage: true });

  // 2. The exchange made by the test, both legs, nothing secret, personal values redacted.
  await Promise.all([page.waitForURL(`${CONSOLE}/tenants/${TENANT}`), page.click(`a[href="/tenants/${TENANT}"]`)]);
  const post = page.locator("details.exchange", { hasText: "POST" }).first();
  await post.waitFor();
  const idp = await post.locator("section.idp").textContent();
  const target = await post.locator("section.upstream").textContent();
  expect(idp.includes("IdP sent") && idp.includes('"department"'), `the IdP leg shows what the IdP sent (department): ${idp}`);
  expect(idp.includes('"True"'), 'the IdP leg shows Entra\'s "True"');
  expect(target.includes("Target got") && target.includes('"division"'), "the target leg shows what the target got (division)");
  expect(/"active": true/.test(target), "the target got a JSON boolean");
  expect(idp.includes("‹redacted›"), "personal values are redacted");
  const pageText = await page.evaluate(() => document.body.innerText);
  for (const v of REDACTED_TOO) expect(!pageText.includes(v), `the personal value ${JSON.stringify(v.slice(0, 3) + "…")} is not shown`);
  await noSecrets(page, "tenant page");
  await page.screenshot({ path: join(SHOTS, "tenant.png"), fullPage: true });

  // 3. A tenant with [log] pii = true: values shown, markup in them stays text.
  await page.goto(`${CONSOLE}/tenants/${PII_TENANT}`);
  const shown = await page.locator("details.exchange").first().innerText();
  expect(shown.includes("<script>"), "a <script> in a userName is shown as text");
  const scripts = await page.$$eval("script", (s) => s.map((e) => e.getAttribute("src")));
  expect(scripts.length === 1 && scripts[0] === "/assets/console.js", `the page runs only its own script (${scripts})`);
  expect(dialogs.length === 0, "no injected script ran");
  await noSecrets(page, "pii tenant page");

  // 4. The playground translates through the gateway's phases.
  await page.goto(`${CONSOLE}/playground?tenant=${TENANT}`);
  const policy = await page.inputValue("#pg-policy");
  expect(policy.includes(`tenant = "${TENANT}"`), "the playground is pre-filled with the tenant's policy file");
  await page.click("#pg-run");
  await page.waitForFunction(() => document.getElementById("pg-result").textContent.includes('"upstream"'));
  const result = await page.innerText("#pg-result");
  expect(result.includes(":division") && result.includes('"value": false') && result.includes('"op": "replace"'),
    "the playground shows the translation (division, false, replace)");
  await page.screenshot({ path: join(SHOTS, "playground.png"), fullPage: true });

  // 5. The live tail: a new exchange made while the page is open appears without a reload.
  await page.goto(`${CONSOLE}/tenants/${TENANT}`);
  await page.waitForSelector("#live.on");
  const before = await page.locator("details.exchange").count();
  const marker = "Live" + Date.now();
  const r = await fetch(`${GATEWAY}/${TENANT}/scim/v2/Users?filter=${encodeURIComponent(`userName eq "${marker}"`)}`, {
    headers: { Authorization: `Bearer ${env("IDP_TOKEN")}` },
  });
  expect(r.status === 200, `the gateway answered the new request (${r.status})`);
  await page.waitForFunction((n) => document.querySelectorAll("details.exchange").length > n, before, { timeout: 10000 });
  const fresh = await page.locator("details.exchange").first().innerText();
  expect(fresh.includes("GET") && fresh.includes("filter=userName eq"), "the live tail shows the new exchange");
  expect(!fresh.includes(marker), "its filter value is redacted");
  await noSecrets(page, "live tail");
  await page.screenshot({ path: join(SHOTS, "live-tail.png"), fullPage: true });
  expect(errors.length === 0, `no script error on any page (${errors})`);
  console.log("walk: all steps passed");
} catch (e) {
  console.error(`walk failed: ${e && e.stack ? e.stack : e}`);
  code = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);
