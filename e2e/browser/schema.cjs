// Drives the Connect Portal's inputs step and the lookup chooser in headless
// Chromium: opens the portal, opens the integration's inputs form, submits a
// value the input's pattern refuses (the field must say so, with
// aria-invalid), then a good one with the keyboard; in the popup the
// provider fake consents at once and the callback shows the chooser, where
// the keyboard picks the second item and submits; the portal then shows the
// outcome. Prints one JSON line; exits 0 even on a failed check (the Go test
// judges), non-zero only when it could not run.
//
// Input: one JSON argument {chromium, portalUrl, artifacts, name, integration, hostSuffix, badValue, goodValue}.
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
    // Only loopback: the fake provider's names (*.<hostSuffix>) map to
    // 127.0.0.1, every other name resolves to nothing inside Chromium.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', '--disable-domain-reliability', '--no-pings',
      '--disable-client-side-phishing-detection', '--disable-default-apps', '--disable-extensions',
      '--dns-prefetch-disable',
      '--host-resolver-rules=MAP *.' + cfg.hostSuffix + ' 127.0.0.1 , MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1',
      '--disable-features=DnsOverHttps,AsyncDns,DnsHttpssvc,UseDnsHttpsSvcb,OptimizationHints,MediaRouter,Translate,NetworkTimeServiceQuerying,CertificateTransparencyComponentUpdater,AutofillServerCommunication'],
    viewport: { width: 960, height: 720 },
    deviceScaleFactor: 1,
  });
  const shot = async (page, file) => {
    const p = path.join(cfg.artifacts, file);
    await page.screenshot({ path: p });
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

    // The inputs step opens from the keyboard and takes focus.
    await connect.focus();
    await page.keyboard.press('Enter');
    const field = page.getByLabel(cfg.inputLabel, { exact: false });
    await field.waitFor({ timeout: 5000 });
    out.expanded = await connect.getAttribute('aria-expanded');
    out.inputFocused = await field.evaluate((i) => document.activeElement === i);
    out.placeholder = await field.getAttribute('placeholder');
    out.describedBy = await field.getAttribute('aria-describedby');
    out.required = await field.getAttribute('aria-required');
    out.secretType = await page.getByLabel('Reporting key').getAttribute('type');
    out.steps.push('inputs step shown');
    await shot(page, cfg.name + '-inputs.png');

    // A value the pattern refuses: the field says so, nothing starts.
    await field.fill(cfg.badValue);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('input[aria-invalid="true"]') !== null, null, { timeout: 5000 });
    out.invalid = await field.getAttribute('aria-invalid');
    out.fieldError = await page.locator('[id="' + out.describedBy.split(' ').pop() + '"]').innerText();
    out.steps.push('bad input refused');
    await shot(page, cfg.name + '-inputs-invalid.png');

    // A good value, submitted with Enter: the popup goes to the provider.
    await field.fill(cfg.goodValue);
    const [popup] = await Promise.all([page.waitForEvent('popup', { timeout: 15000 }), page.keyboard.press('Enter')]);
    const heading = popup.getByRole('heading', { name: 'Choose an account' });
    await heading.waitFor({ timeout: 15000 });
    out.steps.push('chooser shown');
    out.choices = await popup.getByRole('radio').count();
    out.popupUrl = popup.url();
    await shot(popup, cfg.name + '-chooser.png');

    // Keyboard only: focus the first choice, move to the second, submit.
    const closed = popup.waitForEvent('close', { timeout: 20000 });
    await popup.getByRole('radio').first().focus();
    await popup.keyboard.press('ArrowDown');
    out.chosen = await popup.getByRole('radio', { checked: true }).evaluate((r) => r.parentElement.innerText.trim());
    await popup.keyboard.press('Enter');
    await closed;
    out.steps.push('popup closed');

    const want = cfg.integration + ' is connected.';
    await page.getByRole('status').filter({ hasText: want }).waitFor({ timeout: 15000 });
    out.status = await page.getByRole('status').innerText();
    out.steps.push('outcome shown');
    await shot(page, cfg.name + '-after.png');
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
