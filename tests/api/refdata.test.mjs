// guichet load-refdata: what it loads and says, idempotence, --replace of
// the kinds loaded, and refusals that leave the data as it was.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createDatabase, dropDatabase, migrate, psql, runGuichet, makeTemp, rmTemp, REFDATA } from './harness.mjs';

let db;
let tmp;
const outlines = () => REFDATA.find((p) => fs.existsSync(path.join(p, 'region.geojson')));
const count = (kind) => Number(psql(db, `SELECT count(*) FROM ref_zones WHERE kind = '${kind}'`));

before(() => {
  assert.ok(outlines(), 'TEST_REFDATA must name the shared outlines');
  db = createDatabase();
  migrate({ PGDATABASE: db });
  tmp = makeTemp();
});

after(() => {
  dropDatabase(db);
  rmTemp(tmp);
});

test('loads every outline and the COG list in one go, and says what it loaded', () => {
  const r = runGuichet(['load-refdata', ...REFDATA], { PGDATABASE: db });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /1 region\(s\), 13 département\(s\), 4485 commune outline\(s\), \d{5} COG commune entries/);
  assert.deepEqual([count('region'), count('departement'), count('commune')], [1, 13, 4485]);
  assert.equal(psql(db, "SELECT nom FROM ref_communes WHERE code = '31555' AND type = 'commune-actuelle'"), 'Toulouse');
  assert.equal(psql(db, 'SELECT count(*) FROM ref_zones WHERE NOT ST_IsValid(geom)'), '0');
});

test('a second load changes nothing', () => {
  const r = runGuichet(['load-refdata', outlines()], { PGDATABASE: db });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(count('commune'), 4485);
});

test('--replace empties the kinds loaded, and only those', () => {
  psql(db, "INSERT INTO ref_zones SELECT 'commune', '99999', 'Disparue', geom FROM ref_zones WHERE kind = 'commune' AND code = '31555'");
  const r = runGuichet(['load-refdata', '--replace', path.join(outlines(), 'communes-31.geojson')], { PGDATABASE: db });
  assert.equal(r.status, 0, r.stderr);
  const n31 = Number(psql(db, "SELECT count(*) FROM ref_zones WHERE kind = 'commune' AND code LIKE '31%'"));
  assert.equal(count('commune'), n31);
  assert.equal(count('departement'), 13);
});

test('a bad file is refused, naming it, and nothing is loaded', () => {
  const before1 = count('commune');
  const bad = path.join(tmp, 'communes-bad.geojson');
  fs.writeFileSync(bad, JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: { nom: 'Sans code' }, geometry: { type: 'Point', coordinates: [1, 43] } }] }));
  const r = runGuichet(['load-refdata', '--replace', path.join(outlines(), 'communes-34.geojson'), bad], { PGDATABASE: db });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /communes-bad\.geojson: 1 feature\(s\) without code, nom or geometry/);
  assert.match(r.stderr, /nothing was loaded/);
  assert.equal(count('commune'), before1);
  const missing = runGuichet(['load-refdata', path.join(tmp, 'nope')], { PGDATABASE: db });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nope/);
});
