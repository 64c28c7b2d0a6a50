#!/usr/bin/env node
// Runs sdk_client.cjs against record_server.cjs and prints what went over the wire (FINDINGS.md evidence).
// Usage: node discover.cjs [case]   (cases below; default: all)
'use strict';
const { execFile } = require('child_process');
const path = require('path');
const { start } = require('./record_server.cjs');

function b64url(o) {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}
const now = Math.floor(Date.now() / 1000);
const token = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url({ sub: 'user-1', iat: now, exp: now + 3600 })}.c2ln`;
const expired = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url({ sub: 'user-1', iat: now - 7200, exp: now - 3600 })}.c2ln`;
const R = (status, body, contentType) => ({ 'x-rec-respond': JSON.stringify({ status, body, contentType }) });

const cases = {
  basic: {
    scenarios: [
      { name: 'get-default', integration: 'salesforce', path: '/services/data/v59.0/sobjects?q=1&b=a%20b', options: {} },
      { name: 'get-explicit', integration: 'salesforce', path: '/x', options: { method: 'GET' } },
      { name: 'no-slash', integration: 'slack', path: 'chat.postMessage', options: { method: 'POST', body: { channel: 'C1', text: 'hi' } } },
      { name: 'full-url', integration: 'googleSheets', path: 'https://sheets.googleapis.com/v4/x?y=1', options: {} },
      { name: 'full-url-slash', integration: 'googleSheets', path: '/https://sheets.googleapis.com/v4/x', options: {} },
      { name: 'custom-slug', integration: 'custom.tasklab', path: '/tasks', options: { method: 'PUT', body: '{"a":1}' } },
      { name: 'custom-id', integration: 'custom/0f3c-uuid', path: '/tasks', options: { method: 'DELETE' } },
      { name: 'string-body', integration: 'slack', path: '/x', options: { method: 'POST', body: 'a=1&b=2', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } } },
      { name: 'lower-ct-header', integration: 'slack', path: '/x', options: { method: 'POST', body: { a: 1 }, headers: { 'content-type': 'application/json' } } },
      { name: 'credential', integration: 'slack', path: '/x', options: { selectedCredentialId: 'cred-123' } },
      { name: 'credential-header', integration: 'slack', path: '/x', options: { headers: { 'X-Paragon-Credential': 'cred-9', 'X-Paragon-Use-Raw-Response': 'true', Authorization: 'Bearer nope' } } },
      { name: 'get-with-body', integration: 'slack', path: '/x', options: { method: 'GET', body: { a: 1 } } },
      { name: 'lower-authz', integration: 'slack', path: '/x', options: { headers: { authorization: 'Bearer nope', accept: 'text/csv' } } },
      { name: 'patch-lower', integration: 'slack', path: '/x', options: { method: 'patch', body: { a: 1 } } },
    ],
  },
  answers: {
    scenarios: [
      { name: 'output-obj', integration: 'slack', path: '/x', options: { headers: R(200, { output: { a: 1 } }) } },
      { name: 'output-null', integration: 'slack', path: '/x', options: { headers: R(200, { output: null }) } },
      { name: 'output-array', integration: 'slack', path: '/x', options: { headers: R(200, { output: [1, 2] }) } },
      { name: 'no-output-obj', integration: 'slack', path: '/x', options: { headers: R(200, { a: 1 }) } },
      { name: 'array', integration: 'slack', path: '/x', options: { headers: R(200, [1, 2]) } },
      { name: 'json-number', integration: 'slack', path: '/x', options: { headers: R(200, '0') } },
      { name: 'json-charset', integration: 'slack', path: '/x', options: { headers: R(200, { output: 'x' }, 'application/json; charset=utf-8') } },
      { name: 'vnd-json', integration: 'slack', path: '/x', options: { headers: R(200, { output: 'x' }, 'application/vnd.api+json') } },
      { name: 'text', integration: 'slack', path: '/x', options: { headers: R(200, 'hello', 'text/plain') } },
      { name: 'text-json-looking', integration: 'slack', path: '/x', options: { headers: R(200, '{"output":1}', 'text/plain') } },
      { name: 'bad-json', integration: 'slack', path: '/x', options: { headers: R(200, '{nope', 'application/json') } },
      { name: 'empty-200', integration: 'slack', path: '/x', options: { headers: R(200, '', 'application/json') } },
      { name: 'empty-204', integration: 'slack', path: '/x', options: { headers: R(204, '', null) } },
      { name: 'created-201', integration: 'slack', path: '/x', options: { headers: R(201, { output: { id: 7 } }) } },
      { name: 'redirect-302', integration: 'slack', path: '/x', options: { headers: R(302, '', null) } },
    ],
  },
  errors: {
    scenarios: [
      { name: 'e400', integration: 'slack', path: '/x', options: { headers: R(400, { message: 'bad thing', code: '1234', status: 400 }) } },
      { name: 'e400-array', integration: 'slack', path: '/x', options: { headers: R(400, { message: [{ constraints: { a: 'must be a', b: 'must be b' } }], code: '1', status: 400 }) } },
      { name: 'e404-nomsg', integration: 'slack', path: '/x', options: { headers: R(404, { code: '9', status: 404 }) } },
      { name: 'e502-meta', integration: 'slack', path: '/x', options: { headers: R(502, { message: 'upstream', code: '7000', status: 502, meta: { isIntegrationError: true, status: 500, body: { err: 1 } } }) } },
      { name: 'e400-meta-notint', integration: 'slack', path: '/x', options: { headers: R(400, { message: 'm', code: '7', status: 400, meta: { foo: 1 }, headers: { h: 1 } }) } },
      { name: 'e500-text', integration: 'slack', path: '/x', options: { headers: R(500, 'boom text', 'text/plain') } },
      { name: 'e500-empty', integration: 'slack', path: '/x', options: { headers: R(500, '', null) } },
      { name: 'e401', integration: 'slack', path: '/x', options: { headers: R(401, { message: 'Unauthorized', code: '401', status: 401 }) } },
      { name: 'e403', integration: 'slack', path: '/x', options: { headers: R(403, { message: 'This domain is invalid for the current integration', code: '403', status: 403 }) } },
      { name: 'e403-7210', integration: 'slack', path: '/x', options: { headers: R(403, { message: 'perm', code: '7210', status: 403 }) } },
      { name: 'e401-meta', integration: 'slack', path: '/x', options: { headers: R(401, { message: 'upstream 401', code: '7001', status: 401, meta: { isIntegrationError: true, status: 401 } }) } },
      { name: 'after', integration: 'slack', path: '/x', options: {} },
    ],
  },
  redirects: {
    scenarios: [
      { name: 'r301-get', integration: 'googleSheets', path: 'https://sheets.googleapis.com/v4/x', options: { headers: { 'x-rec-respond': JSON.stringify({ status: 301, location: '/pfx/projects/proj-1/sdk/proxy/googleSheets/https:/sheets.googleapis.com/v4/x' }) } } },
      { name: 'r301-post', integration: 'googleSheets', path: 'https://sheets.googleapis.com/v4/x', options: { method: 'POST', body: { a: 1 }, headers: { 'x-rec-respond': JSON.stringify({ status: 301, location: '/pfx/projects/proj-1/sdk/proxy/googleSheets/https:/sheets.googleapis.com/v4/x' }) } } },
      { name: 'r308-post', integration: 'googleSheets', path: 'https://sheets.googleapis.com/v4/x', options: { method: 'POST', body: { a: 1 }, headers: { 'x-rec-respond': JSON.stringify({ status: 308, location: '/pfx/projects/proj-1/sdk/proxy/googleSheets/https:/sheets.googleapis.com/v4/x' }) } } },
      { name: 'dotdot', integration: 'slack', path: '/a/../b/./c//d?x=/../y', options: {} },
      { name: 'encoded', integration: 'slack', path: '/a%2Fb/ü x?q=ü x&r=%41', options: {} },
      { name: 'fragment', integration: 'slack', path: '/a#frag', options: {} },
      { name: 'empty-path', integration: 'slack', path: '', options: {} },
      { name: 'slash-path', integration: 'slack', path: '/', options: {} },
      { name: 'formdata', integration: 'slack', path: '/upload', options: { method: 'POST', headers: {} } },
    ],
  },
  proxy401thenMe401: {
    me: (() => { let n = 0; return () => (++n === 1 ? { integrations: {} } : { __respond: { status: 401, contentType: 'application/json', body: '{"message":"Unauthorized","code":"401","status":401}' } }); })(),
    scenarios: [
      { name: 'e401', integration: 'slack', path: '/x', options: { headers: R(401, { message: 'Unauthorized', code: '401', status: 401 }) } },
      { name: 'after', integration: 'slack', path: '/x', options: {} },
    ],
  },
  proxy403thenMe500: {
    me: (() => { let n = 0; return () => (++n === 1 ? { integrations: {} } : { __respond: { status: 500, contentType: 'application/json', body: '{"message":"me broke","code":"500","status":500}' } }); })(),
    scenarios: [
      { name: 'e403', integration: 'slack', path: '/x', options: { headers: R(403, { message: 'Forbidden', code: '403', status: 403 }) } },
      { name: 'after', integration: 'slack', path: '/x', options: {} },
    ],
  },
  richAuth: {
    me: {
      integrations: {
        slack: {
          enabled: true,
          credentialId: 'cred-1',
          credentialStatus: 'VALID',
          providerId: 'T1',
          providerData: {},
          allCredentials: [{ id: 'cred-1', status: 'VALID', isPreviewCredential: false, providerId: 'T1', configurations: [{ id: 'cfg-1', connectCredentialId: 'cred-1', isDefault: true, workflowSettings: {}, sharedSettings: {}, configMeta: {} }] }],
          configuredWorkflows: {},
          sharedSettings: {},
        },
      },
      meta: { email: 'u@example.com' },
      resources: [],
    },
    integrations: [
      { id: 'int-1', type: 'slack', isActive: true, name: 'Slack', brandColor: '#4A154B', configs: [{ values: {} }], customIntegration: null },
      { id: 'int-2', type: 'custom', isActive: true, name: 'TaskLab', brandColor: '#000', configs: [{ values: {} }], customIntegration: { id: 'ci-1', name: 'TaskLab', slug: 'custom.tasklab', icon: null } },
    ],
    scenarios: [{ name: 'after-rich', integration: 'slack', path: '/x', options: {} }],
  },
  meFails401: { me: { __respond: { status: 401, contentType: 'application/json', body: '{"message":"Unauthorized","code":"401","status":401}' } }, scenarios: [{ name: 'x', integration: 'slack', path: '/x', options: {} }] },
  meFails500: { me: { __respond: { status: 500, contentType: 'text/plain', body: 'nope' } }, scenarios: [] },
  meNoIntegrations: { me: {}, scenarios: [] },
  meNull: { me: { __respond: { status: 200, contentType: 'application/json', body: 'null' } }, scenarios: [] },
  meEntryNoCreds: { me: { integrations: { slack: { enabled: true } } }, scenarios: [] },
  intsObject: { integrations: {}, scenarios: [] },
  intsEmpty200: { integrations: { __respond: { status: 200, contentType: 'application/json', body: '' } }, scenarios: [] },
  intsBadItem: { integrations: [{ id: 'x' }, { id: 'y', type: 'custom', configs: [{ values: {} }] }], scenarios: [] },
  expiredToken: { token: expired, scenarios: [] },
  badToken: { token: 'not-a-jwt', scenarios: [{ name: 'x', integration: 'slack', path: '/x', options: {} }] },
  prefixWithProxy: { prefix: '/api/proxy', scenarios: [] },
};

async function runCase(name, c) {
  const srv = await start({ me: c.me, integrations: c.integrations });
  const base = `http://127.0.0.1:${srv.port}${c.prefix === undefined ? '/pfx' : c.prefix}`;
  const env = { ...process.env, ONBEHALF_BASE: base, ONBEHALF_PROJECT: 'proj-1', ONBEHALF_TOKEN: c.token || token, ONBEHALF_SCENARIOS: JSON.stringify(c.scenarios) };
  const { code, stdout, stderr } = await new Promise((resolve) => {
    execFile(process.execPath, [path.join(__dirname, 'sdk_client.cjs')], { env, cwd: __dirname }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr })
    );
  });
  srv.server.close();
  console.log(`===== ${name} (exit ${code})`);
  console.log('--- wire');
  for (const r of srv.log) console.log(JSON.stringify(r));
  console.log('--- stdout');
  console.log(stdout.trim());
  if (stderr.trim()) console.log('--- stderr\n' + stderr.trim().slice(0, 3000));
}

(async () => {
  const only = process.argv[2];
  for (const [n, c] of Object.entries(cases)) if (!only || only === n) await runCase(n, c);
})();
