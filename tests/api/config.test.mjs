// Configuration: check-config, file and environment errors (one line naming
// the key and where it was set, exit 1), serve refusing a bad configuration.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  BIN, CONF, ROOT, SLOW, connect, freePort, guichetEnv, makeTemp, rmTemp, runGuichet, runGuichetAsync,
} from './harness.mjs';

/** Asserts a configuration failure: exit 1, stderr one line "guichet: ...", matching each of res. */
function assertConfigError(r, ...res) {
  assert.equal(r.status, 1, `exit status ${r.status}, stderr:\n${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0], /^guichet: /);
  for (const re of res) assert.match(lines[0], re);
  assert.equal(r.stdout, '', 'nothing on stdout');
  return lines[0];
}

let tmp;
before(() => { tmp = makeTemp('guichet-conf-'); });
after(() => rmTemp(tmp));

function confFile(name, text) {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
}

describe('check-config', () => {
  test('the checked-in configuration is valid: every key printed, "configuration OK", exit 0', () => {
    const r = runGuichet(['check-config']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^configuration OK$/m);
    const keys = fs.readFileSync(CONF, 'utf8').split('\n')
      .map((l) => /^([a-z_]+)\s*=/.exec(l)?.[1]).filter(Boolean);
    assert.ok(keys.length > 10);
    for (const k of keys) assert.match(r.stdout, new RegExp(`^${k} = .*\\t# file$`, 'm'), k);
    assert.match(r.stdout, /^listen_port = 8080\t# file$/m);
    assert.match(r.stdout, /^listen_address = "127\.0\.0\.1"\t# file$/m);
  });

  test('without GUICHET_CONF, conf/guichet.conf of the working folder is read', () => {
    const r = runGuichet(['check-config'], { GUICHET_CONF: undefined });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^listen_port = 8080\t# file$/m);
  });

  test('without any file, defaults apply', () => {
    const r = runGuichet(['check-config'], { GUICHET_CONF: undefined, GUICHET_STATIC_DIR: path.join(ROOT, 'static'),
      GUICHET_MIGRATIONS_DIR: path.join(ROOT, 'migrations'), GUICHET_FORMS_DIR: path.join(ROOT, 'forms') }, { cwd: tmp });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^listen_port = 8080\t# default$/m);
    assert.match(r.stdout, /^static_dir = ".*"\t# environment$/m);
  });

  test('an invalid form file stops check-config, naming the file and the path', () => {
    const dir = path.join(tmp, 'forms-bad');
    fs.mkdirSync(dir, { recursive: true });
    for (const f of ['erp', 'equipco', 'adresse']) fs.copyFileSync(path.join(ROOT, 'forms', `${f}.json`), path.join(dir, `${f}.json`));
    const erp = JSON.parse(fs.readFileSync(path.join(dir, 'erp.json'), 'utf8'));
    erp.fields[2].type = 'menu';
    fs.writeFileSync(path.join(dir, 'erp.json'), JSON.stringify(erp));
    const r = runGuichet(['check-config'], { GUICHET_FORMS_DIR: dir });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^guichet: .*forms-bad\/erp\.json: fields\[2\]\.type: unknown type "menu"\n$/);
  });

  test('an environment variable overrides the file and is shown as such', () => {
    const r = runGuichet(['check-config'], { GUICHET_LISTEN_PORT: 9000, GUICHET_ACCESS_LOG: 'no' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^listen_port = 9000\t# environment$/m);
    assert.match(r.stdout, /^access_log = no\t# environment$/m);
  });

  test('-c FILE is read instead of GUICHET_CONF', () => {
    const p = confFile('port.conf', '# a comment\nlisten_port = 9001   # trailing comment\nframe_ancestors = "https://a.example https://b.example"\n');
    const r = runGuichet(['-c', p, 'check-config']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^listen_port = 9001\t# file$/m);
    assert.match(r.stdout, /^frame_ancestors = "https:\/\/a\.example https:\/\/b\.example"\t# file$/m);
    assert.match(r.stdout, /^workers = 0\t# default$/m);
  });

  test('GUICHET_CONF names the file when there is no -c', () => {
    const p = confFile('env.conf', 'listen_port = 9002\n');
    const r = runGuichet(['check-config'], { GUICHET_CONF: p });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^listen_port = 9002\t# file$/m);
  });

  test('the database string is never printed', () => {
    const r = runGuichet(['check-config'], { GUICHET_DATABASE: 'host=db.example password=s3cr3t-pw dbname=g' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!r.stdout.includes('s3cr3t-pw'));
    assert.match(r.stdout, /^database = \(set, not shown\)/m);
  });

  test('version prints "guichet X.Y.Z"', () => {
    const r = runGuichet(['version']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^guichet \d+\.\d+\.\d+\n$/);
  });

  test('no command or an unknown command → usage on stderr, exit 2', () => {
    for (const args of [[], ['bogus'], ['serve', 'extra']]) {
      const r = runGuichet(args);
      assert.equal(r.status, 2, `${args}: ${r.stderr}`);
      assert.match(r.stderr, /^usage: guichet/);
    }
  });
});

describe('errors in the file: exit 1, one line naming file:line and key', () => {
  test('an unknown key', () => {
    const p = confFile('unknown.conf', 'listen_port = 8080\n\nnope_key = 1\n');
    const line = assertConfigError(runGuichet(['-c', p, 'check-config']), /unknown key "nope_key"/);
    assert.ok(line.includes(`${p}:3:`), line);
  });

  test('a bad value', () => {
    const p = confFile('badval.conf', 'listen_port = 70000\n');
    const line = assertConfigError(runGuichet(['-c', p, 'check-config']), /listen_port/, /1 to 65535/);
    assert.ok(line.includes(`${p}:1:`), line);
  });

  test('a key set twice', () => {
    const p = confFile('twice.conf', 'workers = 1\nworkers = 2\n');
    const line = assertConfigError(runGuichet(['-c', p, 'check-config']), /workers/, /twice/);
    assert.ok(line.includes(`${p}:2:`), line);
  });

  test('a line without "="', () => {
    const p = confFile('noeq.conf', 'listen_port = 8080\nlisten_address\n');
    const line = assertConfigError(runGuichet(['-c', p, 'check-config']));
    assert.ok(line.includes(`${p}:2:`), line);
  });

  test('an unterminated quote', () => {
    const p = confFile('quote.conf', 'frame_ancestors = "https://a.example\n');
    const line = assertConfigError(runGuichet(['-c', p, 'check-config']), /frame_ancestors/);
    assert.ok(line.includes(`${p}:1:`), line);
  });

  test('a bad boolean, log level and address', () => {
    for (const [text, key] of [['access_log = maybe', 'access_log'], ['log_level = verbose', 'log_level'],
      ['listen_address = localhost', 'listen_address'], ['frame_ancestors = "a; script-src *"', 'frame_ancestors']]) {
      const p = confFile(`${key}.conf`, `${text}\n`);
      const line = assertConfigError(runGuichet(['-c', p, 'check-config']), new RegExp(key));
      assert.ok(line.includes(`${p}:1:`), line);
    }
  });

  test('a missing -c file', () => {
    const p = path.join(tmp, 'does-not-exist.conf');
    const line = assertConfigError(runGuichet(['-c', p, 'check-config']));
    assert.ok(line.includes(p), line);
  });

  test('a missing GUICHET_CONF file', () => {
    const p = path.join(tmp, 'missing-env.conf');
    const line = assertConfigError(runGuichet(['check-config'], { GUICHET_CONF: p }));
    assert.ok(line.includes(p), line);
  });

  test('a file with a NUL byte', () => {
    const p = confFile('nul.conf', 'listen_port = 8080\n\0\n');
    assertConfigError(runGuichet(['-c', p, 'check-config']), /NUL/);
  });
});

describe('errors in the environment: exit 1, one line naming the variable', () => {
  test('GUICHET_LISTEN_PORT=abc', () => {
    assertConfigError(runGuichet(['check-config'], { GUICHET_LISTEN_PORT: 'abc' }), /GUICHET_LISTEN_PORT/, /listen_port/);
  });

  for (const [name, value] of [['GUICHET_LISTEN_PORT', '0'], ['GUICHET_LISTEN_PORT', '8080x'], ['GUICHET_LISTEN_PORT', ''],
    ['GUICHET_WORKERS', '-1'], ['GUICHET_CONNECTION_TIMEOUT', '0'], ['GUICHET_MAX_HEADER_BYTES', '99999999999999999999'],
    ['GUICHET_BEHIND_TLS', 'perhaps'], ['GUICHET_LOG_LEVEL', 'loud'], ['GUICHET_LISTEN_ADDRESS', '999.1.1.1'],
    ['GUICHET_STATIC_DIR', '']]) {
    test(`${name}=${JSON.stringify(value)}`, () => {
      assertConfigError(runGuichet(['check-config'], { [name]: value }), new RegExp(name));
    });
  }

  test('a bad value holding a line break is still reported on one line', () => {
    // The message quotes the value: a raw CR/LF in it would split the line
    // (and let a value forge log lines).
    assertConfigError(runGuichet(['check-config'], { GUICHET_FRAME_ANCESTORS: "'none'\r\nX-Injected: 1" }),
      /GUICHET_FRAME_ANCESTORS/, /frame_ancestors/);
  });

  test('an unknown GUICHET_NOPE', () => {
    assertConfigError(runGuichet(['check-config'], { GUICHET_NOPE: '1' }), /GUICHET_NOPE/);
  });

  test('an unknown variable is refused by every command that reads the configuration', () => {
    for (const cmd of ['serve', 'migrate']) {
      assertConfigError(runGuichet([cmd], { GUICHET_NOPE: '1' }), /GUICHET_NOPE/);
    }
  });

  test('a missing static_dir is named', () => {
    const p = path.join(tmp, 'no-static');
    assertConfigError(runGuichet(['check-config'], { GUICHET_STATIC_DIR: p }), /static_dir/);
  });

  test('a missing migrations_dir is named', () => {
    const p = path.join(tmp, 'no-migrations');
    assertConfigError(runGuichet(['check-config'], { GUICHET_MIGRATIONS_DIR: p }), /migrations_dir/);
  });

  test('a badly named migration file is named', () => {
    const dir = path.join(tmp, 'badmig');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, '1_Bad-Name.sql'), 'SELECT 1;\n');
    assertConfigError(runGuichet(['check-config'], { GUICHET_MIGRATIONS_DIR: dir }), /1_Bad-Name\.sql/);
  });
});

describe('serve with a bad configuration', () => {
  test('exits 1 before listening', async () => {
    const port = await freePort();
    const r = await runGuichetAsync(['serve'], { GUICHET_LISTEN_PORT: port, GUICHET_WORKERS: 'many' }, { timeoutMs: 20_000 * SLOW });
    assertConfigError(r, /GUICHET_WORKERS/);
    assert.doesNotMatch(r.stderr, /listening/);
    await assert.rejects(connect(port), /ECONNREFUSED/);
  });

  test('a bad key in the file: exit 1 before listening', async () => {
    const port = await freePort();
    const p = confFile('serve-bad.conf', `listen_port = ${port}\nlisten_prot = 1\n`);
    const r = await runGuichetAsync(['-c', p, 'serve'], {}, { timeoutMs: 20_000 * SLOW });
    const line = assertConfigError(r, /listen_prot/);
    assert.ok(line.includes(`${p}:2:`), line);
    await assert.rejects(connect(port), /ECONNREFUSED/);
  });

  test('a port already taken: exit 1 with a message naming it', async () => {
    const net = await import('node:net');
    const blocker = net.createServer();
    await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address();
    try {
      const r = await runGuichetAsync(['serve'], { GUICHET_LISTEN_PORT: port,
        GUICHET_DATABASE: 'host=127.0.0.1 port=1 dbname=x connect_timeout=1' }, { timeoutMs: 30_000 * SLOW });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`port ${port}`));
    } finally {
      blocker.close();
    }
  });
});

test('the test harness passes no stray GUICHET_* variable to guichet', () => {
  const env = guichetEnv();
  const names = Object.keys(env).filter((k) => k.startsWith('GUICHET_'));
  assert.deepEqual(names, ['GUICHET_CONF']);
  assert.ok(fs.existsSync(BIN), `${BIN} missing`);
});
