#!/usr/bin/env node
// Drives the official @useparagon/connect@2.4.0 SDK against an onbehalf handler.
//
// Env:
//   ONBEHALF_BASE       base URL the handler is mounted at, e.g. http://127.0.0.1:PORT/prefix
//                       (no trailing slash needed; must NOT contain the substring "proxy", see FINDINGS.md)
//   ONBEHALF_PROJECT    project id passed to paragon.authenticate()
//   ONBEHALF_TOKEN      user token (JWT) passed to paragon.authenticate()
//   ONBEHALF_SCENARIOS  JSON array of {name, integration, path, options:{method, body, headers, selectedCredentialId}}
//   ONBEHALF_TIMEOUT_MS optional per-call timeout (default 30000)
//
// Stdout: exactly one JSON line (see FINDINGS.md). Everything else goes to stderr.
// Exit code: 0 whenever that line was printed (scenario failures are data); non-zero on setup crash.
'use strict';

// Keep stdout clean: anything the SDK (or jsdom) logs goes to stderr.
const stdoutWrite = process.stdout.write.bind(process.stdout);
for (const k of ['log', 'info', 'debug', 'trace']) {
  console[k] = (...args) => console.error(`[console.${k}]`, ...args);
}

function fail(msg, err) {
  process.stderr.write(`sdk_client: ${msg}${err ? `: ${err && err.stack ? err.stack : err}` : ''}\n`);
  process.exit(2);
}

const base = (process.env.ONBEHALF_BASE || '').replace(/\/+$/, '');
const project = process.env.ONBEHALF_PROJECT || '';
const token = process.env.ONBEHALF_TOKEN || '';
const timeoutMs = Number(process.env.ONBEHALF_TIMEOUT_MS || 30000);
if (!base) fail('ONBEHALF_BASE is required');
let scenarios;
try {
  scenarios = JSON.parse(process.env.ONBEHALF_SCENARIOS || '[]');
  if (!Array.isArray(scenarios)) throw new Error('not an array');
} catch (e) {
  fail('ONBEHALF_SCENARIOS must be a JSON array', e);
}
if (/proxy/i.test(base)) {
  process.stderr.write('sdk_client: WARNING: ONBEHALF_BASE contains "proxy"; the SDK then treats /sdk/me as a proxy call and authenticate() breaks\n');
}

// --- browser globals (must exist BEFORE requiring the SDK: it builds a singleton at load time) ---
const { JSDOM } = require('jsdom');
const dom = new JSDOM('<!doctype html><html><head></head><body></body></html>', {
  url: 'http://localhost/', // a real origin, so window.localStorage works (the SDK persists state there)
  pretendToBeVisual: true,
  // default resources: jsdom fetches nothing (the SDK's hidden <iframe src=CONNECT_PUBLIC_URL/ui> is not loaded)
});
const { window } = dom;
globalThis.window = window;
globalThis.document = window.document;
globalThis.localStorage = window.localStorage;
globalThis.sessionStorage = window.sessionStorage;
for (const k of ['HTMLElement', 'HTMLIFrameElement', 'Element', 'Node', 'DOMParser', 'MutationObserver', 'getComputedStyle', 'requestAnimationFrame', 'cancelAnimationFrame']) {
  if (!(k in globalThis) && window[k]) globalThis[k] = typeof window[k] === 'function' && /^[a-z]/.test(k) ? window[k].bind(window) : window[k];
}
if (!globalThis.navigator) {
  Object.defineProperty(globalThis, 'navigator', { value: window.navigator, configurable: true, writable: true });
}
// NB: fetch/Response/Headers stay Node's own (undici); the SDK calls the global fetch and checks `instanceof Response`.

let sdk;
try {
  sdk = require('@useparagon/connect');
} catch (e) {
  fail('cannot load @useparagon/connect', e);
}
const paragon = sdk.paragon;

function withTimeout(p, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`sdk_client timeout after ${timeoutMs}ms: ${what}`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(t));
}

function jsonSafe(v) {
  if (v === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(v));
  } catch {
    return String(v);
  }
}

// The SDK throws, for a non-2xx proxy answer, ProxyRequestError (name "Error") with
//   .message  = body.message (string), or JSON.stringify(body.meta) if body.meta.isIntegrationError,
//               or JSON.stringify(body) if no string message, or the text body if not JSON
//   .response = the parsed JSON error body (minus a "headers" key), or the fetch Response if not JSON.
// Other failures are plain Errors.
function describeError(err) {
  const out = {
    message: err && err.message !== undefined ? String(err.message) : String(err),
    name: err && err.name,
    className: err && err.constructor ? err.constructor.name : typeof err,
    status: null,
    code: null,
    meta: null,
    response: null,
    raw: String(err),
  };
  const r = err && err.response;
  if (r !== undefined && r !== null) {
    if (typeof Response !== 'undefined' && r instanceof Response) {
      out.status = r.status;
      out.response = { isFetchResponse: true, status: r.status, statusText: r.statusText, contentType: r.headers.get('content-type') };
    } else if (typeof r === 'object') {
      out.response = jsonSafe(r);
      if ('status' in r) out.status = r.status;
      if ('code' in r) out.code = r.code;
      if ('meta' in r) out.meta = jsonSafe(r.meta);
    } else {
      out.response = jsonSafe(r);
    }
  }
  return out;
}

async function main() {
  paragon.configureGlobal(
    { host: new URL(base).host },
    {
      ZEUS_PUBLIC_URL: base,
      WORKER_PROXY_PUBLIC_URL: base,
      CONNECT_PUBLIC_URL: base,
      DASHBOARD_PUBLIC_URL: base,
      CDN_PUBLIC_URL: base,
      HERMES_PUBLIC_URL: base,
      PASSPORT_PUBLIC_URL: base,
      PASSPORT_PRODUCTION_URL: base,
      API_TRIGGER_KIT_PUBLIC_URL: base,
    }
  );
  paragon.setHeadless(true);

  const result = { authenticated: false, authError: null, results: [] };
  let authOK = false;
  try {
    await withTimeout(paragon.authenticate(project, token), 'authenticate');
    authOK = true;
  } catch (e) {
    result.authError = describeError(e);
  }
  // true only if authenticate() resolved AND the SDK considers the user signed in.
  result.authenticated = authOK && Boolean(paragon.getUser().authenticated);
  // What the SDK made of /sdk/me and /sdk/integrations (getUser() omits the token).
  result.user = jsonSafe(paragon.getUser());
  try {
    result.integrationMetadata = jsonSafe(paragon.getIntegrationMetadata());
  } catch (e) {
    result.integrationMetadata = { error: String(e) };
  }

  for (const sc of scenarios) {
    const name = sc && sc.name;
    try {
      const value = await withTimeout(paragon.request(sc.integration, sc.path, sc.options || {}), `request ${name}`);
      result.results.push({ name, ok: true, type: value === null ? 'null' : typeof value, value: jsonSafe(value) });
    } catch (e) {
      result.results.push({ name, ok: false, error: describeError(e) });
    }
    result.results[result.results.length - 1].authenticatedAfter = Boolean(paragon.getUser().authenticated);
  }
  result.authenticatedAtEnd = Boolean(paragon.getUser().authenticated);
  return result;
}

main().then(
  (result) => {
    stdoutWrite(JSON.stringify(result) + '\n', () => process.exit(0));
  },
  (e) => fail('setup crashed', e)
);
