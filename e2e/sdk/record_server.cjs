#!/usr/bin/env node
// Throwaway recording server used to discover what @useparagon/connect@2.4.0 sends (see FINDINGS.md).
// Listens on 127.0.0.1 only. Logs every request (method, raw URL, headers, body) and answers:
//   .../sdk/me            -> opts.me            (default {"integrations":{}})
//   .../sdk/integrations  -> opts.integrations  (default [])
//   anything else: if the request carries header `x-rec-respond: {"status":..,"contentType":..,"body":..}`
//   that answer is sent (body: string sent as is, otherwise JSON-encoded; contentType null = no header;
//   optional location: sets Location, and a request whose raw URL equals it gets the echo answer);
//   otherwise echo {"output": {method, url, headers, body}} with 200 application/json.
'use strict';
const http = require('http');

function start(opts = {}) {
  const log = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const rec = {
        method: req.method,
        url: req.url, // raw request-target, exactly as sent
        headers: req.rawHeaders.reduce((acc, v, i, a) => (i % 2 ? acc : acc.concat([[a[i], a[i + 1]]])), []),
        body: body.toString('utf8'),
        bodyLength: body.length,
      };
      log.push(rec);
      if (opts.onRequest) opts.onRequest(rec);
      const send = (status, contentType, payload) => {
        const headers = {};
        if (contentType) headers['Content-Type'] = contentType;
        res.writeHead(status, headers);
        res.end(payload);
      };
      const path = req.url.split('?')[0];
      if (/\/sdk\/me$/.test(path) && !/\/sdk\/proxy\//.test(path)) {
        const me = typeof opts.me === 'function' ? opts.me(rec) : opts.me;
        if (me && me.__respond) return send(me.__respond.status, me.__respond.contentType, me.__respond.body);
        return send(200, 'application/json', JSON.stringify(me === undefined ? { integrations: {} } : me));
      }
      if (/\/sdk\/integrations$/.test(path)) {
        const ints = typeof opts.integrations === 'function' ? opts.integrations(rec) : opts.integrations;
        if (ints && ints.__respond) return send(ints.__respond.status, ints.__respond.contentType, ints.__respond.body);
        return send(200, 'application/json', JSON.stringify(ints === undefined ? [] : ints));
      }
      const spec = req.headers['x-rec-respond'];
      if (spec) {
        const s = JSON.parse(spec);
        if (s.location && req.url === s.location) {
          // the redirect target: echo (so a followed redirect can be seen)
          return send(200, 'application/json', JSON.stringify({ output: { method: rec.method, url: rec.url, headers: rec.headers, body: rec.body } }));
        }
        if (s.location) res.setHeader('Location', s.location);
        const payload = s.body === undefined ? '' : typeof s.body === 'string' ? s.body : JSON.stringify(s.body);
        return send(s.status || 200, s.contentType === undefined ? 'application/json' : s.contentType, payload);
      }
      send(200, 'application/json', JSON.stringify({ output: { method: rec.method, url: rec.url, headers: rec.headers, body: rec.body } }));
    });
  });
  return new Promise((resolve) => {
    server.listen(opts.port || 0, '127.0.0.1', () => resolve({ server, log, port: server.address().port }));
  });
}

module.exports = { start };

if (require.main === module) {
  start({ port: Number(process.env.PORT || 0), onRequest: (r) => process.stdout.write(JSON.stringify(r) + '\n') }).then(({ port }) =>
    process.stderr.write(`record_server listening on http://127.0.0.1:${port}\n`)
  );
}
