// The outbox sent by SMTP: an invitation reaches the relay with proper
// headers and its link, the row is marked sent; a refused recipient is
// recorded with the relay's answer and retried later.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, psql, waitFor } from './harness.mjs';
import { Client, FAST_ARGON2, fixture } from './accounts.mjs';
import { smtpSink } from './smtp-sink.mjs';

let sink;
let srv;
let fx;
let admin;

before(async () => {
  sink = await smtpSink();
  srv = await startServer({ env: { ...FAST_ARGON2, GUICHET_SMTP_HOST: '127.0.0.1', GUICHET_SMTP_PORT: sink.port,
    GUICHET_MAIL_FROM: 'guichet@openig.test', GUICHET_PUBLIC_URL: 'https://guichet.openig.test' } });
  fx = fixture(srv.db);
  admin = new Client(srv.base);
  await admin.login(fx.users.org_admin.email, fx.users.org_admin.password);
});

after(async () => {
  await srv?.stop();
  await sink?.close();
});

function decodeSubject(headers) {
  const raw = /^Subject:((?:.*\r\n(?=[ \t]))*.*)\r\n/m.exec(headers)[1];
  return raw.trim().split(/\s+/).map((w) => {
    const m = /^=\?UTF-8\?B\?(.*)\?=$/.exec(w);
    return m ? Buffer.from(m[1], 'base64').toString('utf8') : w;
  }).join('');
}

test('an invitation is sent through the relay, then marked sent', async () => {
  const r = await admin.req('POST', `/api/v1/organisations/${fx.home}/invitations`,
    { email: 'courrier@toulouse.test', display_name: 'Courrier', role: 'contributor' });
  assert.equal(r.status, 201);
  await waitFor(() => sink.messages.find((m) => m.to.includes('courrier@toulouse.test')), { what: 'the invitation at the relay' });
  const m = sink.messages.find((x) => x.to.includes('courrier@toulouse.test'));
  assert.equal(m.from, 'guichet@openig.test');
  const cut = m.data.indexOf('\r\n\r\n');
  const headers = m.data.slice(0, cut);
  const body = m.data.slice(cut + 4);
  assert.match(headers, /^From: Guichet <guichet@openig\.test>\r\nTo: <courrier@toulouse\.test>\r\n/);
  assert.equal(decodeSubject(`${headers}\r\n`), 'Invitation à rejoindre Guichet');
  assert.match(headers, /Content-Type: text\/plain; charset=utf-8/);
  assert.match(headers, /Message-ID: <outbox\.\d+\.\d+@/);
  assert.match(body, /https:\/\/guichet\.openig\.test\/invitation\.html#jeton=[A-Za-z0-9_-]{43}\r\n/);
  assert.doesNotMatch(body.replace(/\r\n/g, ''), /\n/, 'every line ends in CRLF');
  await waitFor(() => psql(srv.db, "SELECT sent_at IS NOT NULL FROM outbox WHERE to_addr = 'courrier@toulouse.test'") === 't',
    { what: 'sent_at' });
});

test('a refused recipient is recorded with the relay’s answer and kept for a retry', async () => {
  await admin.req('POST', `/api/v1/organisations/${fx.home}/invitations`,
    { email: 'refus@toulouse.test', display_name: 'Refus', role: 'contributor' });
  await waitFor(() => psql(srv.db, "SELECT attempts FROM outbox WHERE to_addr = 'refus@toulouse.test'") === '1',
    { what: 'a failed attempt' });
  const [sent, err] = psql(srv.db, "SELECT sent_at IS NULL, last_error FROM outbox WHERE to_addr = 'refus@toulouse.test'").split('|');
  assert.equal(sent, 't');
  assert.match(err, /^550 /);
  assert.match(srv.stderr(), /mail \d+ not sent: 550/);
});
