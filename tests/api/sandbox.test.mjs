// Least privilege (app/sandbox.c): the switch from root to the account of
// the key `user`, and the seccomp allow-list of system calls.
//
// The allow-list's main evidence is the rest of this suite: every other
// file starts its servers with seccomp on (the default), so every route,
// export format (GDAL), import, mail, PostgreSQL restart and shutdown path
// they take runs under the filter, and a call missing from the list would
// fail them. This file checks what they cannot: that the filter is on in
// the server and in each of its threads, that it denies what it must
// (`guichet sandbox-check`), and the switch to an unprivileged account.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  MIGRATIONS_DIR, ROOT, SANITIZED, STATIC_DIR, freePort, makeTemp, rmTemp, runGuichet, runGuichetAsync,
  startServer, REFDATA, SLOW,
} from './harness.mjs';
import { Client, FAST_ARGON2, fixture } from './accounts.mjs';
import { exported } from './exports-lib.mjs';

const ROOT_RUN = process.getuid?.() === 0;
const NOT_ROOT = ROOT_RUN ? false : 'the tests do not run as root: there are no privileges to drop';

/** The fields of /proc/<pid>/status: {Uid: '65534\t65534\t65534\t65534', ...}. */
function procStatus(pid, task = null) {
  const file = task ? `/proc/${pid}/task/${task}/status` : `/proc/${pid}/status`;
  const out = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** uid and gid of an account, from id(1). */
function account(name) {
  const id = (flag) => Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** Copies folder src into dst, readable by anyone (files 0644, folders 0755). */
function copyReadable(src, dst) {
  fs.cpSync(src, dst, { recursive: true, dereference: true });
  const walk = (p) => {
    const st = fs.statSync(p);
    fs.chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  walk(dst);
}

describe('seccomp', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(async () => { await srv?.stop(); });

  test('the server and every one of its threads run under the filter (Seccomp: 2, NoNewPrivs: 1)', async () => {
    assert.match(srv.stderr(), /seccomp filter on: \d+ system calls allowed/);
    const n = Number(/seccomp filter on: (\d+) system calls allowed/.exec(srv.stderr())[1]);
    assert.ok(n > 50 && n < 200, `${n} system calls allowed`);
    const st = procStatus(srv.pid);
    assert.equal(st.Seccomp, '2');
    assert.equal(st.NoNewPrivs, '1');
    const tasks = fs.readdirSync(`/proc/${srv.pid}/task`);
    assert.ok(tasks.length > 2, `${tasks.length} threads`);
    for (const t of tasks) assert.equal(procStatus(srv.pid, t).Seccomp, '2', `thread ${t}`);
    const r = await fetch(`${srv.base}/healthz`);
    assert.equal(r.status, 200, await r.text());
  });

  test('root without `user` is warned about, naming the key', { skip: NOT_ROOT }, () => {
    assert.match(srv.stderr(), /warn running as root: set the key user \(GUICHET_USER\)/);
  });

  test('guichet sandbox-check: the filter denies program execution, raw sockets, W+X memory', () => {
    const r = runGuichet(['sandbox-check']);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^execve \(run a program\): denied \(Operation not permitted\)$/m);
    assert.match(r.stdout, /^socket\(AF_NETLINK\): denied/m);
    assert.match(r.stdout, /^mmap\(PROT_WRITE\|PROT_EXEC\): denied/m);
    assert.match(r.stdout, /^setuid: denied/m);
    if (!SANITIZED) {
      // The sanitizer build's leak checker needs both: they are allowed there.
      assert.match(r.stdout, /^fork: denied/m);
      assert.match(r.stdout, /^ptrace: denied/m);
    }
    assert.match(r.stdout, /^allowed calls: working$/m);
    assert.match(r.stdout, /^the seccomp filter holds$/m);
    assert.doesNotMatch(r.stdout, /NOT DENIED/);
  });

  test('seccomp = no: no filter, and a warning', async () => {
    const off = await startServer({ env: { GUICHET_SECCOMP: 'no' } });
    try {
      assert.equal(procStatus(off.pid).Seccomp, '0');
      assert.match(off.stderr(), /warn seccomp = no: the server runs without its allow-list/);
    } finally {
      await off.stop();
    }
  });
});

describe('the switch to an unprivileged account', { skip: NOT_ROOT }, () => {
  let tmp;
  let srv;
  let nobody;
  before(async () => {
    nobody = account('nobody');
    // What the account reads (static/, forms/, migrations/) is copied to a
    // folder it can reach: the checkout may sit under a folder closed to
    // others (a clone in /root); what it writes belongs to it.
    tmp = makeTemp('guichet-sandbox-');
    fs.chmodSync(tmp, 0o755);
    copyReadable(STATIC_DIR, path.join(tmp, 'static'));
    copyReadable(path.join(ROOT, 'forms'), path.join(tmp, 'forms'));
    copyReadable(MIGRATIONS_DIR, path.join(tmp, 'migrations'));
    for (const d of ['exports', 'imports']) {
      fs.mkdirSync(path.join(tmp, d), { mode: 0o700 });
      fs.chownSync(path.join(tmp, d), nobody.uid, nobody.gid);
    }
    // PostgreSQL trusts the user postgres on its socket and on 127.0.0.1
    // whatever the OS account; the socket is used when nobody can reach it
    // (the private cluster's folder may be closed to others).
    const sock = `${process.env.PGHOST}/.s.PGSQL.${process.env.PGPORT}`;
    const reach = spawnSync('runuser', ['-u', 'nobody', '--', 'test', '-w', sock]);
    const db = reach.status === 0 ? {} : { PGHOST: '127.0.0.1' };
    srv = await startServer({
      refdata: true,
      env: {
        ...FAST_ARGON2, ...db, GUICHET_USER: 'nobody', GUICHET_STATIC_DIR: path.join(tmp, 'static'),
        GUICHET_FORMS_DIR: path.join(tmp, 'forms'), GUICHET_MIGRATIONS_DIR: path.join(tmp, 'migrations'),
        GUICHET_EXPORT_DIR: path.join(tmp, 'exports'), GUICHET_IMPORT_DIR: path.join(tmp, 'imports'),
      },
    });
  });
  after(async () => {
    await srv?.stop();
    rmTemp(tmp);
  });

  test('every uid and gid is nobody\'s, no supplementary root group, no capability', () => {
    const st = procStatus(srv.pid);
    assert.equal(st.Uid, Array(4).fill(nobody.uid).join('\t'));
    assert.equal(st.Gid, Array(4).fill(nobody.gid).join('\t'));
    assert.ok(!st.Groups.split(/\s+/).includes('0'), `Groups: ${st.Groups}`);
    assert.equal(st.CapEff, '0000000000000000');
    assert.equal(st.CapPrm, '0000000000000000');
    assert.equal(st.Seccomp, '2');
    assert.match(srv.stderr(), new RegExp(`running as user nobody \\(uid ${nobody.uid}, gid ${nobody.gid}\\)`));
    assert.doesNotMatch(srv.stderr(), /running as root/);
  });

  test('/healthz and a static file answer 200', async () => {
    const h = await fetch(`${srv.base}/healthz`);
    const body = await h.json();
    assert.equal(h.status, 200, JSON.stringify(body));
    assert.equal(body.database, 'ok');
    assert.equal(body.containment, 'on');
    const s = await fetch(`${srv.base}/css/guichet.css`);
    assert.equal(s.status, 200);
    assert.ok((await s.text()).length > 100);
  });

  test('a login, a submission and an export written by the account', async () => {
    assert.ok(REFDATA.length > 0, 'TEST_REFDATA must name the reference data (make sets it)');
    const fx = fixture(srv.db);
    const agent = new Client(srv.base);
    await agent.login(fx.users.contributor.email, fx.users.contributor.password);
    const r = await agent.req('POST', '/api/v1/guichets/erp/submissions', {
      attributes: { libelle: 'Théâtre du Capitole', categorie: '2', type_principal: 'L',
        capacite_d_accueil_du_public: 1156 },
      geometry: { type: 'Point', coordinates: [1.4436, 43.6045] },
      submit: true,
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.state, 'submitted');
    const admin = new Client(srv.base);
    await admin.login(fx.users.admin.email, fx.users.admin.password);
    const b = await exported(admin, { guichet: 'erp', format: 'gpkg', mode: 'full' });
    const dir = path.join(tmp, 'exports', String(b.id));
    for (const f of fs.readdirSync(dir)) assert.equal(fs.statSync(path.join(dir, f)).uid, nobody.uid, f);
  });

  test('a user that does not exist stops serve and check-config, naming it', async () => {
    const port = await freePort();
    const r = await runGuichetAsync(['serve'], { GUICHET_USER: 'guichet-no-such-user', GUICHET_LISTEN_PORT: port },
      { timeoutMs: 30_000 * SLOW });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^guichet: user "guichet-no-such-user" \(key user, GUICHET_USER\): no such account$/m);
    assert.doesNotMatch(r.stderr, /listening/);
    const c = runGuichet(['check-config'], { GUICHET_USER: 'guichet-no-such-user' });
    assert.equal(c.status, 1);
    assert.match(c.stderr, /user "guichet-no-such-user"/);
    const bad = runGuichet(['check-config'], { GUICHET_USER: 'no body' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /GUICHET_USER: invalid value "no body" for user/);
  });
});
