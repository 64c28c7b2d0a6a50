// Drives the official SDK (@useparagon/connect 2.4.0, its browser bundle in a
// host app's page) against the handler in headless Chromium: connect() with
// our portal in the SDK's iframe, getUser, request, uninstallIntegration,
// setUserMetadata across a reload, the headless popup install and
// completeInstall, and a forged message from a foreign origin. Prints one JSON
// line; exits 0 even on a failed check (the Go test judges), non-zero only
// when it could not run.
//
// Input: one JSON argument {chromium, hostUrl, base, project, token,
// foreignUrl, code, redirectUrl, verifier, apiKey, artifacts}.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const KEY = 'custom.tasklab';

async function main() {
  const cfg = JSON.parse(process.argv[2]);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'onbehalf-chromium-'));
  const out = { ok: false, steps: [], checks: {}, events: [], consoleErrors: [], screenshots: [] };
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: cfg.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', '--disable-domain-reliability', '--no-pings',
      '--disable-client-side-phishing-detection', '--disable-default-apps', '--disable-extensions',
      '--dns-prefetch-disable', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1',
      '--disable-features=DnsOverHttps,AsyncDns,DnsHttpssvc,UseDnsHttpsSvcb,OptimizationHints,MediaRouter,Translate,NetworkTimeServiceQuerying,CertificateTransparencyComponentUpdater,AutofillServerCommunication'],
    viewport: { width: 1024, height: 700 },
    deviceScaleFactor: 1,
  });
  const shot = async (page, file) => {
    const p = path.join(cfg.artifacts, file);
    await page.screenshot({ path: p });
    out.screenshots.push(p);
  };
  const check = (name, ok, detail) => {
    out.checks[name] = detail === undefined ? ok : detail;
    if (!ok) { throw new Error('check failed: ' + name + ' ' + JSON.stringify(detail)); }
  };
  const watch = (p) => {
    p.on('console', (m) => { if (m.type() === 'error') { out.consoleErrors.push(m.text()); } });
    p.on('pageerror', (e) => out.consoleErrors.push(String(e)));
  };
  context.on('page', watch);
  const approveIn = async (popup) => {
    await popup.waitForURL(/\/oauth\/authorize/, { timeout: 20000 });
    await popup.getByRole('button', { name: 'Approve' }).click({ timeout: 20000 });
  };
  try {
    const page = context.pages()[0] || await context.newPage();
    watch(page);
    const boot = async () => {
      await page.goto(cfg.hostUrl);
      await page.evaluate(async ({ base, project, token }) => {
        const { paragon } = window.Paragon;
        const envs = {};
        for (const k of ['CONNECT_PUBLIC_URL', 'ZEUS_PUBLIC_URL', 'WORKER_PROXY_PUBLIC_URL', 'PASSPORT_PUBLIC_URL', 'PASSPORT_PRODUCTION_URL',
          'DASHBOARD_PUBLIC_URL', 'HERMES_PUBLIC_URL', 'CDN_PUBLIC_URL', 'API_TRIGGER_KIT_PUBLIC_URL']) { envs[k] = base; }
        paragon.configureGlobal({ host: base }, envs);
        await paragon.authenticate(project, token);
        window.__events = [];
      }, cfg);
    };
    await boot();
    const sdkFrame = () => page.frames().find((f) => f.url().includes('/ui'));
    await page.waitForFunction(() => { const f = document.querySelector('iframe'); return f && f.src.includes('/ui'); });
    for (let i = 0; i < 50 && !sdkFrame(); i++) { await page.waitForTimeout(100); }
    check('iframe at CONNECT_PUBLIC_URL/ui', !!sdkFrame(), sdkFrame() && sdkFrame().url());
    out.steps.push('authenticated; SDK iframe loaded our /ui');

    // A foreign origin posts a forged UI_UPDATE into the SDK's iframe.
    await page.evaluate((u) => { const f = document.createElement('iframe'); f.src = u; f.id = 'foreign'; document.body.appendChild(f); }, cfg.foreignUrl);
    await page.waitForTimeout(1500);
    const foreignShown = await sdkFrame().evaluate(() => !document.getElementById('backdrop').hidden);
    const display = await page.evaluate(() => document.querySelector('iframe').style.display);
    check('foreign message ignored', !foreignShown && display === 'none', { foreignShown, display });
    await page.evaluate(() => document.getElementById('foreign').remove());
    out.steps.push('foreign message ignored');

    // connect(), refused at the provider: onError fires, connect() rejects.
    await page.evaluate((key) => {
      const ev = window.__events;
      window.Paragon.paragon.connect(key, {
        onError: (e) => ev.push({ cb: 'deny:onError', message: String(e && e.message) }),
        onClose: () => ev.push({ cb: 'deny:onClose' }),
      }).catch((e) => ev.push({ cb: 'deny:rejected', message: String(e && e.message) }));
    }, KEY);
    const [denyPopup] = await Promise.all([context.waitForEvent('page', { timeout: 15000 }),
      sdkFrame().getByRole('button', { name: 'Connect', exact: true }).click({ timeout: 15000 })]);
    await denyPopup.waitForURL(/\/oauth\/authorize/, { timeout: 20000 });
    await denyPopup.getByRole('button', { name: 'Deny' }).click({ timeout: 20000 });
    await page.waitForFunction(() => window.__events.some((e) => e.cb === 'deny:rejected'), null, { timeout: 20000 });
    await sdkFrame().getByText('Access was not granted').waitFor({ timeout: 10000 });
    await shot(page, 'sdk-portal-denied.png');
    let denied = await page.evaluate(() => window.__events);
    check('onError on a refusal', denied.some((e) => e.cb === 'deny:onError' && e.message.includes('not granted')), denied);
    await sdkFrame().getByRole('button', { name: 'Close' }).click();
    await page.waitForFunction(() => window.__events.some((e) => e.cb === 'deny:onClose'), null, { timeout: 10000 });
    out.steps.push('refusal: onError fired');

    // connect(): the portal opens in the SDK's iframe, the user connects.
    await page.evaluate((key) => {
      const { paragon } = window.Paragon;
      const ev = window.__events;
      paragon.connect(key, {
        onOpen: (e) => ev.push({ cb: 'onOpen', e }),
        onClose: (e) => ev.push({ cb: 'onClose', e }),
        onSuccess: (e, user) => ev.push({ cb: 'onSuccess', e, enabled: user.integrations[key].enabled }),
        onError: (e) => ev.push({ cb: 'onError', message: String(e && e.message) }),
      }).then((v) => ev.push({ cb: 'resolved', v }), (e) => ev.push({ cb: 'rejected', message: String(e && e.message) }));
    }, KEY);
    await page.waitForFunction(() => window.__events.some((e) => e.cb === 'onOpen'), null, { timeout: 15000 });
    const frame = sdkFrame();
    const connectBtn = frame.getByRole('button', { name: 'Connect', exact: true });
    await connectBtn.waitFor({ timeout: 15000 });
    check('iframe shown', (await page.evaluate(() => document.querySelector('iframe').style.display)) === 'block');
    await shot(page, 'sdk-portal-open.png');
    out.steps.push('connect() opened the portal');
    const [popup] = await Promise.all([context.waitForEvent('page', { timeout: 15000 }), connectBtn.click()]);
    await approveIn(popup);
    await page.waitForFunction(() => window.__events.some((e) => e.cb === 'onSuccess' || e.cb === 'onError'), null, { timeout: 30000 });
    await frame.getByText('TaskLab is connected.').waitFor({ timeout: 10000 });
    await shot(page, 'sdk-portal-connected.png');
    let events = await page.evaluate(() => window.__events);
    const success = events.find((e) => e.cb === 'onSuccess');
    check('onSuccess with the credential', !!success && success.enabled === true && events.some((e) => e.cb === 'resolved' && e.v.credentialId), events);
    out.steps.push('onSuccess fired');
    await frame.getByRole('button', { name: 'Close' }).click();
    await page.waitForFunction(() => window.__events.some((e) => e.cb === 'onClose'), null, { timeout: 10000 });
    await page.waitForFunction(() => document.querySelector('iframe').style.display === 'none', null, { timeout: 10000 });
    out.steps.push('onClose fired, iframe hidden');

    // An integration with an input: the user types an API key into the portal.
    await page.evaluate(() => {
      const ev = window.__events;
      window.Paragon.paragon.connect('custom.keylab', {
        onSuccess: (e, user) => ev.push({ cb: 'keylab:onSuccess', e, enabled: user.integrations['custom.keylab'].enabled }),
        onError: (e) => ev.push({ cb: 'keylab:onError', message: String(e && e.message) }),
        onClose: () => ev.push({ cb: 'keylab:onClose' }),
      });
    });
    await frame.getByRole('button', { name: 'Connect', exact: true }).click({ timeout: 15000 });
    await frame.getByLabel('KeyLab API key').fill(cfg.apiKey);
    await shot(page, 'sdk-portal-api-key.png');
    await frame.getByRole('button', { name: 'Save' }).click();
    await page.waitForFunction(() => window.__events.some((e) => e.cb === 'keylab:onSuccess' || e.cb === 'keylab:onError'), null, { timeout: 15000 });
    events = await page.evaluate(() => window.__events);
    check('API key connect onSuccess', events.some((e) => e.cb === 'keylab:onSuccess' && e.enabled === true), events);
    await frame.getByRole('button', { name: 'Close' }).click();
    await page.waitForFunction(() => window.__events.some((e) => e.cb === 'keylab:onClose'), null, { timeout: 10000 });
    const keyTasks = await page.evaluate(() => window.Paragon.paragon.request('custom.keylab', '/tasks', { method: 'GET' }));
    check('request() with the typed key', JSON.stringify(keyTasks).includes('Write the proxy'), keyTasks);
    out.steps.push('API key typed into the portal; request() works');

    const user = await page.evaluate((key) => window.Paragon.paragon.getUser().integrations[key], KEY);
    check('getUser enabled', user.enabled === true && !!user.credentialId, user);
    const tasks = await page.evaluate((key) => window.Paragon.paragon.request(key, '/tasks', { method: 'GET' }), KEY);
    check('request()', JSON.stringify(tasks).includes('Write the proxy'), tasks);
    out.steps.push('getUser and request() work');

    await page.evaluate((key) => window.Paragon.paragon.uninstallIntegration(key, {}), KEY);
    const afterUninstall = await page.evaluate((key) => window.Paragon.paragon.getUser().integrations[key].enabled, KEY);
    check('uninstall', afterUninstall === false, afterUninstall);
    out.steps.push('uninstallIntegration removed it');

    await page.evaluate(() => window.Paragon.paragon.setUserMetadata({ plan: 'pro', Email: 'sdk@example.com' }));
    await page.evaluate(() => window.localStorage.clear());
    await boot();
    const meta = await page.evaluate(() => window.Paragon.paragon.getUser().meta);
    check('metadata after reload', meta && meta.plan === 'pro' && meta.Email === 'sdk@example.com', meta);
    out.steps.push('setUserMetadata survived a reload');

    // Headless popup install.
    const installed = page.evaluate((key) => {
      window.Paragon.paragon.setHeadless(true);
      return window.Paragon.paragon.installIntegration(key, {});
    }, KEY);
    const popup2 = await context.waitForEvent('page', { timeout: 15000 });
    await approveIn(popup2);
    await shot(popup2, 'sdk-headless-after-consent.png').catch(() => {});
    const res = await installed;
    check('headless install resolved', !!res.credentialId && res.credential && res.credential.status === 'VALID', res);
    const user2 = await page.evaluate((key) => window.Paragon.paragon.getUser().integrations[key], KEY);
    check('getUser after headless install', user2.enabled === true, user2);
    out.steps.push('headless popup install');
    await page.evaluate((key) => { window.Paragon.paragon.setHeadless(false); return window.Paragon.paragon.uninstallIntegration(key, {}); }, KEY);

    // completeInstall with the host app's own code; the portal opens after.
    await page.evaluate(({ key, code, redirectUrl, verifier }) => window.Paragon.paragon.completeInstall(key,
      { authorizationCode: code, redirectUrl, integrationOptions: { codeVerifier: verifier } }), { key: KEY, ...cfg });
    const user3 = await page.evaluate((key) => window.Paragon.paragon.getUser().integrations[key], KEY);
    check('completeInstall', user3.enabled === true, user3);
    await sdkFrame().getByText('Connected', { exact: true }).waitFor({ timeout: 10000 });
    await shot(page, 'sdk-portal-after-complete-install.png');
    out.steps.push('completeInstall');
    out.events = await page.evaluate(() => window.__events);
    out.ok = true;
  } catch (e) {
    out.error = String(e && e.stack || e);
  } finally {
    await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(2); });
