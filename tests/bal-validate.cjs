#!/usr/bin/env node
// Validates BAL files with the reference validator (@ban-team/validateur-bal,
// pinned in package.json), offline.
//
//   node tests/bal-validate.cjs [--profile 1.4] [--online] file.csv...
//
// Prints one line per code the validator reports, as "<file>: <level> <code>
// row=<n>" (level E error, W warning, I information; n is the 0-based data
// row, "-" for the header and the whole file), then "<file>: valid|invalid
// for <profile>". Exit status: 0 when every file is valid for the profile
// (no E code at all), 1 when one is not, 2 when one could not be parsed (or
// read), 64 on bad usage. (The package's own CLI, `bal validate`, always
// exits 0: this script is what the tests run.)
//
// Network: the validator asks the BAN API for the id of each commune of a
// file (GET https://plateforme.adresse.data.gouv.fr/api/district/cog/<insee>)
// to check id_ban_commune. Our files carry no id_ban_* column, so the answer
// is never used; without --online the request is refused at once (fetch is
// replaced before the validator runs), so a run never waits on DNS or a
// firewall, and the validator's own "Impossible de récupèrer le cadastre"
// message is not printed.
'use strict';

const fs = require('node:fs');

function usage() {
  process.stderr.write('usage: node tests/bal-validate.cjs [--profile 1.4] [--online] file.csv...\n');
  process.exit(64);
}

const args = process.argv.slice(2);
let profile = '1.4';
let online = false;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--profile' && i + 1 < args.length) profile = args[++i];
  else if (args[i] === '--online') online = true;
  else if (args[i].startsWith('--')) usage();
  else files.push(args[i]);
}
if (files.length === 0) usage();

const BAN_API = 'https://plateforme.adresse.data.gouv.fr/';
if (!online) {
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (url, ...rest) => {
    if (String(url).startsWith(BAN_API)) throw new Error('offline: BAN API not asked');
    return realFetch(url, ...rest);
  };
  const realError = console.error;
  console.error = (...a) => {
    if (typeof a[0] === 'string' && a[0].startsWith('Impossible de récupèrer le cadastre')) return;
    realError(...a);
  };
}

const { validate, profiles } = require('@ban-team/validateur-bal');

if (!(profile in profiles)) {
  process.stderr.write(`unknown profile ${profile} (${Object.keys(profiles).join(', ')})\n`);
  process.exit(64);
}

async function check(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    console.log(`${file}: unreadable: ${e.message}`);
    return 2;
  }
  const report = await validate(buf, { profile });
  if (!report.parseOk) {
    for (const e of report.parseErrors ?? []) console.log(`${file}: parse error ${e.code ?? ''} row=${e.row ?? '-'} ${e.message ?? ''}`);
    console.log(`${file}: not parsed`);
    return 2;
  }
  const lines = [];
  let errors = 0;
  for (const f of report.notFoundFields ?? []) {
    lines.push(`${f.level} field.${f.schemaName}.missing row=-`);
    if (f.level === 'E') errors++;
  }
  for (const row of report.rows ?? []) {
    for (const e of row.errors ?? []) {
      lines.push(`${e.level} ${e.code} row=${row.line}`);
      if (e.level === 'E') errors++;
    }
  }
  for (const e of report.profilErrors ?? []) {
    // Row codes appear in each row above; only the file-level ones here.
    if (!/^(file|rows)\./.test(e.code)) continue;
    lines.push(`${e.level} ${e.code} row=-`);
    if (e.level === 'E') errors++;
  }
  for (const l of lines) console.log(`${file}: ${l}`);
  const valid = errors === 0 && report.profilesValidation?.[profile]?.isValid !== false;
  console.log(`${file}: ${valid ? 'valid' : 'invalid'} for ${profile} (${report.rows.length} row(s))`);
  return valid ? 0 : 1;
}

(async () => {
  let rc = 0;
  for (const f of files) rc = Math.max(rc, await check(f));
  process.exit(rc);
})().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(2);
});
