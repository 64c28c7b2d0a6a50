// Drives the Connect Portal in headless Chromium: opens the portal with the
// user token in the fragment, clicks Connect on TaskLab, answers TaskLab's
// consent page in the popup (Approve or Deny), and waits for the portal to
// show the outcome. Prints one JSON line; exits 0 even on a failed check (the
// Go test judges), non-zero only when it could not run.
//
// Input: one JSON argument {chromium, portalUrl, approve, artifacts, name}.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
  const cfg = JSON.parse(process.argv[2]);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'onbehalf-chromium-'));
  const out = { ok: false, steps: [], consoleErrors: [], screenshots: [] };
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: cfg.chromium,
    headless: true,
    // Nothing but loopback: no background traffic, and every name except
    // localhost resolves to nothing inside Chromium, so no DNS query leaves
    // the machine (CI's netguard step checks it).
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', '--disable-domain-reliability', '--no-pings',
      '--disable-client-side-phishing-detection', '--disable-default-apps', '--disable-extensions',
      '--dns-prefetch-disable', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1',
      // No DNS over HTTPS probes (to fixed resolver addresses) and no built-in
      // resolver: name lookups stay with the rules above.
      '--disable-features=DnsOverHttps,AsyncDns,DnsHttpssvc,UseDnsHttpsSvcb,OptimizationHints,MediaRouter,Translate,NetworkTimeServiceQuerying,CertificateTransparencyComponentUpdater,AutofillServerCommunication'],
    viewport: { width: 960, height: 640 },
    deviceScaleFactor: 1,
  });
  const shot = async (page, file, opts) => {
    const p = path.join(cfg.artifacts, file);
    await page.screenshot(Object.assign({ path: p }, opts || {}));
    out.screenshots.push(p);
  };
  try {
    context.on('page', (p) => {
      p.on('console', (m) => { if (m.type() === 'error') { out.consoleErrors.push(m.text()); } });
      p.on('pageerror', (e) => out.consoleErrors.push(String(e)));
    });
    const page = context.pages()[0] || await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') { out.consoleErrors.push(m.text()); } });
    page.on('pageerror', (e) => out.consoleErrors.push(String(e)));

    await page.goto(cfg.portalUrl);
    const connect = page.getByRole('button', { name: 'Connect ' + cfg.integration, exact: true });
    await connect.waitFor({ timeout: 15000 });
    out.steps.push('portal listed ' + cfg.integration);
    out.urlAfterLoad = page.url();
    out.rowBefore = (await page.locator('li.card').first().innerText()).replace(/\s+/g, ' ');
    await shot(page, cfg.name + '-before.png');

    // Keyboard: the Connect button is reachable and focusable.
    await connect.focus();
    out.connectFocused = await connect.evaluate((b) => document.activeElement === b);

    const [popup] = await Promise.all([page.waitForEvent('popup', { timeout: 15000 }), connect.click()]);
    await popup.waitForURL(/\/oauth\/authorize/, { timeout: 15000 });
    await popup.getByRole('button', { name: 'Approve' }).waitFor({ timeout: 15000 });
    out.steps.push('consent page shown');
    await shot(popup, cfg.name + '-consent.png');
    const closed = popup.waitForEvent('close', { timeout: 20000 });
    await popup.getByRole('button', { name: cfg.approve ? 'Approve' : 'Deny' }).click();
    await closed;
    out.steps.push('popup closed');

    const want = cfg.approve ? cfg.integration + ' is connected.' : 'Access to ' + cfg.integration + ' was not granted';
    await page.getByRole('status').filter({ hasText: want }).waitFor({ timeout: 15000 });
    out.status = await page.getByRole('status').innerText();
    out.rowAfter = (await page.locator('li.card').first().innerText()).replace(/\s+/g, ' ');
    out.steps.push('outcome shown');
    await shot(page, cfg.name + '-after.png');
    if (cfg.approve) {
      await page.setViewportSize({ width: 390, height: 700 });
      await shot(page, cfg.name + '-phone.png');
    }
    out.ok = true;
  } catch (e) {
    out.error = String(e && e.message || e).slice(0, 2000);
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { console.error(e); process.exit(2); });
