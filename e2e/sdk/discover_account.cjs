#!/usr/bin/env node
// Discovery for the SDK's account functions (FINDINGS.md section 9): loads the
// SDK's bundle in a host page in headless Chromium (playwright-core from
// ../browser), points every service URL at a recording server on another
// origin, and prints what went over the wire and over postMessage: requests
// (method, URL, body), the messages the SDK posts to its iframe (the recording
// /ui page reports them; the user token is masked), popups, and callbacks.
//
// Usage: node discover_account.cjs   (needs /usr/bin/chromium and ../browser/node_modules)
'use strict';
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', 'browser', 'node_modules', 'playwright-core'));

const bundle = fs.readFileSync(require.resolve('@useparagon/connect'), 'utf8');
const b64url = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = Math.floor(Date.now() / 1000);
const token = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url({ sub: 'user-1', iat: now, exp: now + 3600 })}.c2ln`;
const mask = (s) => String(s).split(token).join('<TOKEN>');

const log = [];
const note = (kind, v) => log.push({ kind, ...JSON.parse(mask(JSON.stringify(v))) });
let polls = 0;
const cred = (id) => ({ id, status: 'VALID', providerId: 'acct-1', providerData: {}, isPreviewCredential: false,
  configurations: [{ id: 'cfg-' + id, connectCredentialId: id, isDefault: true, workflowSettings: {}, sharedSettings: {}, configMeta: {} }] });
let connected = false;
let meta = {};
const me = () => ({
  integrations: { slack: connected
    ? { enabled: true, credentialId: 'cred-1', credentialStatus: 'VALID', providerData: {}, allCredentials: [cred('cred-1')], configuredWorkflows: {}, sharedSettings: {} }
    : { enabled: false, providerData: {}, allCredentials: [], configuredWorkflows: {}, sharedSettings: {} } },
  meta, resources: [], project: { id: 'proj-1', accessibleFeatures: ['headless-cp'] },
});
const integrations = [{ id: 'int-slack', type: 'slack', isActive: true, name: 'Slack', brandColor: '#4A154B', configs: [{ values: {} }], customIntegration: null }];

function listen(handler) {
  const s = http.createServer(handler);
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r(s)));
}

async function main() {
  let api = '';
  const host = await listen((req, res) => {
    if (req.url === '/sdk.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      return res.end('var module={exports:{}};var exports=module.exports;\n' + bundle + '\nwindow.Paragon=module.exports;');
    }
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><html><body><div id="app">host</div><script src="/sdk.js"></script></body></html>');
  });
  const server = await listen((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const send = (status, obj, type) => {
        res.writeHead(status, { 'Content-Type': type || 'application/json', 'Access-Control-Allow-Origin': '*',
          'Access-Control-Allow-Headers': '*', 'Access-Control-Allow-Methods': '*' });
        res.end(obj === undefined ? '' : typeof obj === 'string' ? obj : JSON.stringify(obj));
      };
      if (req.method === 'OPTIONS') { return send(204); }
      const p = req.url.split('?')[0];
      if (p === '/__log') { note('iframe', JSON.parse(body)); return send(204); }
      note('request', { method: req.method, url: req.url, body, credentialHeader: req.headers['x-paragon-credential'] || null });
      if (p.endsWith('/sdk/me') && req.method === 'GET') { return send(200, me()); }
      if (p.endsWith('/sdk/me') && req.method === 'PATCH') { meta = { ...meta, ...JSON.parse(body).meta }; return send(200, me()); }
      if (p.endsWith('/sdk/integrations')) { return send(200, integrations); }
      if (p === '/ui') {
        return send(200, `<!doctype html><body>recording portal<script>
          const log = (m) => fetch('/__log', {method:'POST', body: JSON.stringify(m)});
          let n = 0;
          const call = (type, parameters) => parent.postMessage({messageType:'SDK_FUNCTION_INVOCATION', id: 'c' + (++n), type, parameters}, '*');
          addEventListener('message', (ev) => {
            const d = ev.data || {};
            log({origin: ev.origin, fromParent: ev.source === parent, messageType: d.messageType, type: d.type,
              keys: Object.keys(d), contextKeys: d.nextContext ? Object.keys(d.nextContext) : null,
              userKeys: d.nextContext && d.nextContext.user ? Object.keys(d.nextContext.user) : null,
              envKeys: d.nextContext && d.nextContext.environments ? Object.keys(d.nextContext.environments) : null,
              modal: d.nextModalState ? {keys: Object.keys(d.nextModalState), integration: d.nextModalState.integration && d.nextModalState.integration.type} : null,
              tokenSent: !!(d.nextContext && d.nextContext.user && d.nextContext.user.token), result: d.result === undefined ? null : d.result, message: d.message || null});
            if (d.messageType === 'UI_UPDATE' && d.nextModalState && d.nextModalState.integration && !window.shown) {
              window.shown = true;
              call('updateContainerStyle', [{isModalShown: true}]);
              call('onOpen', []);
              call('updateLocalState', []);
              setTimeout(() => call('triggerSDKEvent', [{type: 'onIntegrationInstall', integrationId: 'int-slack', integrationType: 'slack'}]), 300);
              setTimeout(() => call('onClose', []), 600);
            }
          });
        </script>`, 'text/html');
      }
      if (p.endsWith('/sdk/actions/oauth-nonce')) {
        return send(200, `<!doctype html><body>nonce<script>opener.postMessage({type:'oauth-nonce-loaded'}, '*');</script>`, 'text/html');
      }
      if (p.endsWith('/sdk/actions/build-oauth')) { return send(200, { redirectUrl: `${api}/landing` }); }
      if (p === '/landing') { connected = true; return send(200, '<!doctype html><body>landing<script>setTimeout(()=>close(),200)</script>', 'text/html'); }
      if (/\/sdk\/actions\/session-id\//.test(p)) {
        if (req.method === 'DELETE') { return send(200, {}); }
        polls++;
        return send(200, polls >= 2 ? { connectCredentialId: 'cred-1' } : {});
      }
      if (/\/sdk\/credentials\/cred-1$/.test(p)) { return send(200, cred('cred-1')); }
      if (p.endsWith('/sdk/credentials') && req.method === 'POST') { connected = true; return send(200, cred('cred-1')); }
      if (p.endsWith('/sdk/credentials') && req.method === 'GET') { return send(200, { id: 'cred-1', integration: 'slack', accountAuth: null }); }
      if (/\/sdk\/integrations\//.test(p) && req.method === 'DELETE') { connected = false; return send(200, {}); }
      send(404, { message: 'not recorded' });
    });
  });
  api = `http://localhost:${server.address().port}`;
  const hostURL = `http://127.0.0.1:${host.address().port}/`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onbehalf-discover-'));
  const ctx = await chromium.launchPersistentContext(dir, { executablePath: process.env.ONBEHALF_CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1', '--disable-features=DnsOverHttps,AsyncDns'] });
  ctx.on('page', (pg) => { note('popup', { url: pg.url() }); pg.on('framenavigated', (f) => f === pg.mainFrame() && note('popupNavigated', { url: f.url() })); });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.on('console', (m) => note('console', { type: m.type(), text: m.text().slice(0, 300) }));
  await page.goto(hostURL);
  const step = async (name, fn) => {
    note('step', { name });
    try { note('result', { name, value: await page.evaluate(fn, { api, token }) }); } catch (e) { note('result', { name, error: String(e.message).slice(0, 400) }); }
  };
  await step('configure+authenticate', async ({ api, token }) => {
    const { paragon } = window.Paragon;
    paragon.configureGlobal({ host: api }, { CONNECT_PUBLIC_URL: api, ZEUS_PUBLIC_URL: api, WORKER_PROXY_PUBLIC_URL: api, PASSPORT_PUBLIC_URL: api, DASHBOARD_PUBLIC_URL: api, HERMES_PUBLIC_URL: api, CDN_PUBLIC_URL: api, PASSPORT_PRODUCTION_URL: api, API_TRIGGER_KIT_PUBLIC_URL: api });
    await paragon.authenticate('proj-1', token);
    const f = document.querySelector('iframe');
    return { iframeSrc: f && f.src, iframeDisplay: f && f.style.display };
  });
  await new Promise((r) => setTimeout(r, 800));
  await step('connect', ({ api }) => new Promise((resolve) => {
    const { paragon } = window.Paragon;
    const seen = [];
    const f = () => document.querySelector('iframe').style.display;
    paragon.connect('slack', {
      onOpen: (e) => seen.push(['onOpen', e, f()]), onClose: (e) => { seen.push(['onClose', e, f()]); resolve(seen); },
      onSuccess: (e, u) => seen.push(['onSuccess', e, Object.keys(u)]), onError: (e) => seen.push(['onError', String(e)]),
    }).then((v) => seen.push(['resolved', v]), (e) => seen.push(['rejected', String(e)]));
    setTimeout(() => resolve(seen.concat([['timeout']])), 5000);
  }));
  await step('uninstall', async () => { await window.Paragon.paragon.uninstallIntegration('slack', {}); return window.Paragon.paragon.getUser().integrations.slack; });
  await step('installIntegration (popup, not headless)', () => window.Paragon.paragon.installIntegration('slack', {}).then((v) => v));
  await step('getIntegrationAccount', () => window.Paragon.paragon.getIntegrationAccount('slack', { includeAccountAuth: true }));
  await step('setUserMetadata', () => window.Paragon.paragon.setUserMetadata({ Email: 'a@b.c', plan: 'pro' }).then((u) => u.meta));
  await step('uninstall again', async () => { await window.Paragon.paragon.uninstallIntegration('slack', {}); return 'ok'; });
  await step('completeInstall', async () => { await window.Paragon.paragon.completeInstall('slack', { authorizationCode: 'code-1', redirectUrl: 'https://app.example/cb' }); return window.Paragon.paragon.getUser().integrations.slack.credentialId; });
  await step('setHeadless+install', async () => { window.Paragon.paragon.setHeadless(true); await window.Paragon.paragon.uninstallIntegration('slack', {}); return window.Paragon.paragon.installIntegration('slack', {}); });
  await ctx.close();
  host.close(); server.close();
  for (const l of log) { console.log(JSON.stringify(l)); }
}
main().catch((e) => { console.error(e); process.exit(2); });
