// Bulk imports over HTTP: upload (CSV in UTF-8 or Windows-1252, with ; , or
// tab; GeoJSON; GeoPackage), the suggested mapping, the dry run through the
// same checks as a hand-entered submission, and its report per row.
//
//   10,000 ERP rows    SDIS 31: a Windows-1252 file with faults at known
//                      lines; the report must be exactly the expected one
//   encodings          UTF-8 with and without BOM, Windows-1252; ; , tab;
//                      lon/lat (decimal commas), x/y in Lambert-93, WKT
//   BAL round trip     a commune's BAL export imported back as addresses
//   GDAL formats       GeoJSON, GeoPackage in EPSG:2154
//   mapping            suggestions, the organisation's last mapping,
//                      value_map, PATCH errors, validate
//   limits             unreadable files, import_max_bytes, territory, access
//   the job            a second check replaces the report; the list
//
// Each test has its own organisation (the last mapping an organisation
// checked is suggested for its next file). A dry run saves no submission,
// so the look-alike searches only meet the rows of the same file and the
// addresses of the BAL group; points of one file are 200 m apart or more
// (spaced), so that only the look-alikes made on purpose are found.
// A test named for what the server should do and does not yet fails until
// it does (the import's known bugs).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startServer, psql, makeTemp, rmTemp, assertErrorBody, pointsIn, spawnCollect, rawRequest, SLOW, REFDATA,
} from './harness.mjs';
import { Client, FAST_ARGON2, addOrg, addUser } from './accounts.mjs';
import { exported, fetchFiles, balRows, siret } from './exports-lib.mjs';
import {
  cp1252, csvText, lineBreaks, upload, uploaded, patched, settled, checked, allRows, shape, parseCsv, reportCsv, psqlAsync,
} from './imports-lib.mjs';

let srv;
let dir;	// the server's import_dir
let work;	// files made for the tests
const C = {};	// signed-in clients
const U = {};	// accounts

let members = 0;
/** A new organisation with one signed-in account: {org, user, c}. */
async function member(kind, { departements, communes, role = 'contributor', org } = {}) {
  const n = ++members;
  const o = org ?? addOrg(srv.db, { name: `Organisation ${kind} ${n}`, kind, departements, communes });
  const user = addUser(srv.db, { email: `membre${n}@imports.test`, org: o, role });
  const c = new Client(srv.base);
  await c.login(user.email, user.password);
  return { org: o, user, c };
}

before(async () => {
  assert.ok(REFDATA.length > 0, 'TEST_REFDATA must name the reference data (make sets it)');
  dir = makeTemp('guichet-imports-');
  work = makeTemp('guichet-imports-work-');
  srv = await startServer({ env: { ...FAST_ARGON2, GUICHET_IMPORT_DIR: dir }, refdata: true });
  const sdis31 = addOrg(srv.db, { name: 'SDIS 31', kind: 'sdis', departements: '31' });
  const tls = addOrg(srv.db, { name: 'Commune de Toulouse', kind: 'commune', communes: '31555' });
  const sdis34 = addOrg(srv.db, { name: 'SDIS 34', kind: 'sdis', departements: '34' });
  const openig = addOrg(srv.db, { name: 'OPenIG', kind: 'openig', departements: '31,34' });
  for (const [k, org, role] of [['sdis', sdis31, 'contributor'], ['sdis2', sdis31, 'contributor'], ['tls', tls, 'contributor'],
    ['away', sdis34, 'contributor'], ['admin', openig, 'admin']]) {
    U[k] = addUser(srv.db, { email: `${k}@imports.test`, name: `Nom ${k}`, org, role });
    C[k] = new Client(srv.base);
    await C[k].login(U[k].email, U[k].password);
  }
});

after(async () => {
  await srv?.stop();
  rmTemp(dir);
  rmTemp(work);
});

// --- helpers -------------------------------------------------------------------------------

/** The stored geometry of each row of an import: {line: [lon, lat]}. */
function rowPoints(id) {
  const out = {};
  for (const l of psql(srv.db, `SELECT line, ST_X(geom), ST_Y(geom) FROM import_rows WHERE import_id = ${id} AND geom IS NOT NULL`).split('\n').filter(Boolean)) {
    const [line, x, y] = l.split('|').map(Number);
    out[line] = [x, y];
  }
  return out;
}

/**
 * n points of a 250 m grid inside commune code (300 m from its edge), as
 * [lon, lat] with 6 decimals: never two within the 50 m of the ERP
 * look-alike search, whatever their names.
 */
async function spaced(code, n) {
  const out = await psqlAsync(srv.db, `WITH c AS (SELECT geom FROM ref_zones WHERE kind = 'commune' AND code = '${code}'),
    b AS (SELECT ST_Transform(geom, 2154) b FROM c), g AS (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(x, y), 2154), 4326) p FROM b,
    generate_series(floor(ST_XMin(b))::int, ceil(ST_XMax(b))::int, 250) x, generate_series(floor(ST_YMin(b))::int, ceil(ST_YMax(b))::int, 250) y)
    SELECT round(ST_X(p)::numeric, 6) || ' ' || round(ST_Y(p)::numeric, 6) FROM g, c WHERE ST_Contains(ST_Buffer(c.geom, -0.003), p)
    ORDER BY md5(ST_AsText(p)) LIMIT ${n}`);
  const pts = out.split('\n').map((l) => l.split(' ').map(Number));
  assert.equal(pts.length, n, `points in ${code}`);
  return pts;
}

/** Lambert-93 (x, y) of WGS 84 points, by PostGIS, to the centimetre. */
function toL93(pts) {
  const values = pts.map(([x, y], i) => `(${i}, ${x}, ${y})`).join(', ');
  return psql(srv.db, `SELECT round(ST_X(q)::numeric, 2) || ' ' || round(ST_Y(q)::numeric, 2) FROM (SELECT i,
    ST_Transform(ST_SetSRID(ST_MakePoint(x, y), 4326), 2154) q FROM (VALUES ${values}) v(i, x, y)) t ORDER BY i`)
    .split('\n').map((l) => l.split(' ').map(Number));
}

/** The distance in metres between a stored row's geometry and PostGIS's transform of a Lambert-93 point. */
function metresFromL93(id, line, [x, y]) {
  return Number(psql(srv.db, `SELECT ST_Distance(geom::geography, ST_Transform(ST_SetSRID(ST_MakePoint(${x}, ${y}), 2154),
    4326)::geography) FROM import_rows WHERE import_id = ${id} AND line = ${line}`));
}

/** Asserts |a - b| <= tol for each coordinate. */
function near(a, b, tol, what) {
  assert.equal(a.length, b.length, what);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= tol, `${what}: ${a} vs ${b} (± ${tol})`));
}

const sub = (g, id = '') => `/api/v1/guichets/${g}/submissions${id === '' ? '' : `/${id}`}`;

/** Creates and submits a record as c, then validates it as the platform admin; returns it. */
async function validated(c, g, attributes, geometry) {
  const r = await c.req('POST', sub(g), { attributes, geometry, submit: true, confirm_warnings: true });
  assert.equal(r.status, 201, `create ${g}: ${r.text}`);
  const v = await C.admin.req('POST', `${sub(g, r.json.id)}/transitions`, { action: 'validate' });
  assert.equal(v.status, 200, `validate ${g} ${r.json.id}: ${v.text}`);
  return (await C.admin.req('GET', sub(g, r.json.id))).json;
}

const MSG = {
  required: "« Nom de l'établissement » est obligatoire.",
  control: "« Nom de l'établissement » contient un caractère de contrôle.",
  categorie: (v) => `« Catégorie » : « ${v} » n'est pas une valeur de la liste.`,
  siret: '« Numéro SIRET » doit compter 14 chiffres et avoir une clé de contrôle valide.',
  petit: 'Le type PE désigne un petit établissement de 5e catégorie.',
  outside: (x, y) => `L'objet est hors du territoire couvert par le guichet (${x.toFixed(5)} ${y.toFixed(5)}).`,
  mismatch: (nom, code, given) => `L'objet est dans la commune ${nom} (${code}), pas dans ${given}.`,
  inFile: (line) => `Cette ligne ressemble à la ligne ${line} du même fichier.`,
  wide: (n, cols) => `La ligne compte ${n} valeurs pour ${cols} colonnes.`,
};

// --- 1. 10,000 ERP rows -----------------------------------------------------------------------

// The file an SDIS exports from its own base: Windows-1252, ';', CRLF,
// accents (including the 0x80-0x9F letters œ, Œ, ’, €), quoted names with
// ';' and '"', remarks holding line breaks (CRLF, LF, a lone CR), rows
// shorter than the header.
// Faults, by the row's number i (1-based, data rows only):
//   i % 97  a catégorie not in the list      categorie:field_enum
//   i % 89  a SIRET with a wrong key         numero_siret:field_siret
//   i % 83  a point outside Occitanie        geometry:geometry_outside
//   i % 79  no name                          libelle:field_required
//   i % 73  a commune not the point's        insee_commune:commune_mismatch
//   i % 67  type PE in 4e catégorie          categorie:petit_erp_5e (warning)
//   i % 1009 a line break in the name        libelle:field_control_character
//   WIDE    one value too many               row_unreadable
//   DUPS    an exact copy of an earlier row  geometry:duplicate_in_file (warning)
// and a blank line after row 5000. The points are those of a 200 m grid
// around Toulouse (16 km), 300 m inside their commune, so that only the copies
// look alike.
const BIG = 10_000;
const HEADER = ['Nom', 'Catégorie', 'Type', 'SIRET', 'Capacité', 'Longitude', 'Latitude', 'Commune', 'Remarques'];
const NAMES = ['Salle des fêtes', 'École élémentaire Jules-Ferry', 'Théâtre Garonne', 'Crèche « Les Pitchous »',
  'Cœur de ville', 'Boulangerie L’Épi d’or', 'Église Saint-Étienne', 'Œuvre hospitalière', 'Musée des Augustins',
  'Gymnase Léo-Lagrange', 'Café à 2 €'];
const TYPES = ['L', 'M', 'N', 'W', 'X', 'S', 'T', 'Y', 'R'];
const OUTSIDE = [[-0.57918, 44.837789], [2.352222, 48.856613], [4.835659, 45.764043], [5.36978, 43.296482], [0, 0]];
const BAD_CATEGORIES = ['6', '5e', 'cinquième', '0'];
const WIDE = new Set([1234, 4321, 8765]);
const FAR = '31412';	// Péguilhan, 70 km from the grid: the commune of the mismatches

function faultsOf(i) {
  return {
    badcat: i % 97 === 0, badsiret: i % 89 === 0, outside: i % 83 === 0, noname: i % 79 === 0, mismatch: i % 73 === 0,
    pe: i % 67 === 0, ctl: i % 1009 === 0, wide: WIDE.has(i),
  };
}
const isClean = (i) => !Object.values(faultsOf(i)).some(Boolean);

/** Rows k that copy row j, exactly: both without any fault. */
function duplicatePairs() {
  const pairs = new Map();
  for (const target of [600, 2400, 4800, 7200, 9600]) {
    let k = target;
    while (!isClean(k) || !isClean(k - 517)) k++;
    pairs.set(k, k - 517);
  }
  return pairs;
}

/**
 * The file and what its report must be: {buf, recs: [{i, line, values,
 * errors, warnings, status, label, commune, faults, dupOf}]}.
 */
function bigFile(points) {
  const dups = duplicatePairs();
  const recs = [];
  let line = 2;
  let text = csvText([HEADER]);
  for (let i = 1; i <= BIG; i++) {
    const f = faultsOf(i);
    let rec;
    if (dups.has(i)) {
      const j = recs[dups.get(i) - 1];
      rec = { ...j, i, dupOf: j, faults: f, warnings: [...j.warnings, 'geometry:duplicate_in_file'].sort() };
      rec.status = rec.errors.length ? 'error' : 'warning';
    } else {
      const p = points[i - 1];
      let name = `${NAMES[i % NAMES.length]} ${i}`;
      if (i % 31 === 0) name = `Salle "Le Foyer"; annexe ${i}`;
      if (f.ctl) name = `Salle\npolyvalente ${i}`;
      if (i % 11 === 0) name = `  ${name} `;
      if (f.noname) name = '';
      const cat = f.badcat ? BAD_CATEGORIES[i % 4] : f.pe ? '4' : ['5', '4', '3'][i % 3];
      const capacity = f.pe ? 250 : cat === '5' ? i % 150 : cat === '4' ? 200 + (i % 100) : 301 + (i % 300);
      const good = siret(String(1_000_000_000_000 + i));
      const sir = f.badsiret ? good.slice(0, 13) + ((Number(good[13]) + 1) % 10) : i % 2 === 0 ? good : '';
      const [x, y] = f.outside ? OUTSIDE[i % OUTSIDE.length] : [p.lon, p.lat];
      const num = (v) => (i % 7 === 0 ? v.toFixed(6).replace('.', ',') : v.toFixed(6));
      const remarks = i % 122 === 0 ? 'ligne 1\nligne 2\r\nligne 3' : i % 183 === 0 ? 'ancien accès\rnouvel accès'
        : i % 61 === 0 ? 'Accès PMR\r\nparking à 50 m'
        : i % 13 === 0 ? 'RAS' : '';
      const values = [name, cat, f.pe ? 'PE' : TYPES[i % TYPES.length], sir, String(capacity), num(x), num(y),
        f.mismatch ? FAR : p.code, remarks];
      if (remarks === '' && i % 5 === 0) values.pop();	// a row shorter than the header
      const errors = [];
      const warnings = [];
      if (f.noname) errors.push('libelle:field_required');
      if (f.ctl) errors.push('libelle:field_control_character');
      if (f.badcat) errors.push('categorie:field_enum');
      if (f.badsiret) errors.push('numero_siret:field_siret');
      if (f.outside) errors.push('geometry:geometry_outside');
      else if (f.mismatch) errors.push('insee_commune:commune_mismatch');
      if (f.pe) warnings.push('categorie:petit_erp_5e');
      rec = {
        i, values, faults: f, point: [x, y], pointCode: p.code, errors: errors.sort(), warnings: warnings.sort(),
        label: f.noname || f.ctl ? null : name.trim(), commune: f.mismatch ? FAR : p.code,
      };
      rec.status = errors.length ? 'error' : warnings.length ? 'warning' : 'valid';
      if (f.wide) {
        rec.values = [...values, ...(values.length < HEADER.length ? [''] : []), 'en trop'];
        Object.assign(rec, { errors: ['-:row_unreadable'], warnings: [], status: 'error', label: null, commune: null });
      }
    }
    rec = { ...rec, line };
    recs.push(rec);
    text += csvText([rec.values]);
    line += 1 + rec.values.reduce((n, v) => n + lineBreaks(v), 0);
    if (i === 5000) { text += '\r\n'; line++; }
  }
  return { buf: cp1252(text), recs, dups };
}

describe('10,000 ERP rows of an SDIS (Windows-1252, faults at known lines): the report, line by line', () => {
  let file;
  let imp;	// as uploaded
  let done;	// as checked
  let rows;
  let report;
  let checkMs;
  const polls = [];	// {state, progress, total} read while waiting
  const during = {};	// answers while the check ran

  before(async () => {
    // A 200 m grid around Toulouse, each point 300 m inside its commune.
    const grid = (await psqlAsync(srv.db, `WITH box AS (SELECT ST_Buffer(ST_Transform(ST_SetSRID(ST_MakePoint(1.44, 43.6), 4326), 2154),
      16000) b), g AS (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(x, y), 2154), 4326) p FROM box,
      generate_series(floor(ST_XMin(b))::int, ceil(ST_XMax(b))::int, 200) x,
      generate_series(floor(ST_YMin(b))::int, ceil(ST_YMax(b))::int, 200) y)
      SELECT round(ST_X(g.p)::numeric, 6) || ' ' || round(ST_Y(g.p)::numeric, 6) || ' ' || c.code FROM g JOIN ref_zones c
      ON c.kind = 'commune' AND c.code LIKE '31%' AND ST_Contains(c.geom, g.p) AND NOT ST_DWithin(ST_Boundary(c.geom), g.p, 0.003)
      ORDER BY md5(ST_AsText(g.p)) LIMIT ${BIG}`)).split('\n');
    assert.equal(grid.length, BIG);
    const points = grid.map((l) => { const [lon, lat, code] = l.split(' '); return { lon: Number(lon), lat: Number(lat), code }; });
    file = bigFile(points);
    imp = await uploaded(C.sdis, 'erp', 'ERP SDIS 31.csv', file.buf);
    await patched(C.sdis, imp.id, {
      mapping: { libelle: 'Nom', categorie: 'Catégorie', type_principal: 'Type', numero_siret: 'SIRET',
        capacite_d_accueil_du_public: 'Capacité', insee_commune: 'Commune' },
      geometry: { kind: 'lonlat', lon: 'Longitude', lat: 'Latitude' },
    });
    const t0 = Date.now();
    const r = await C.sdis.req('POST', `/api/v1/imports/${imp.id}/check`);
    assert.equal(r.status, 202, r.text);
    during.patch = await C.sdis.req('PATCH', `/api/v1/imports/${imp.id}`, { mapping: { libelle: 'Nom' } });
    during.check = await C.sdis.req('POST', `/api/v1/imports/${imp.id}/check`);
    done = await settled(C.sdis, imp.id, {
      timeoutMs: 900_000 * SLOW, intervalMs: 200, onPoll: (g) => polls.push({ state: g.state, progress: g.progress, total: g.total }),
    });
    checkMs = Date.now() - t0;
    assert.equal(done.state, 'checked', done.error);
    rows = await allRows(C.sdis, imp.id);
    report = await reportCsv(C.sdis, imp.id);
  });

  test('the upload reads Windows-1252 and ";": the columns, the first five rows as text', () => {
    assert.equal(imp.encoding, 'windows-1252');
    assert.equal(imp.separator, ';');
    assert.equal(imp.format, 'csv');
    assert.equal(imp.filename, 'ERP SDIS 31.csv');
    assert.equal(imp.bytes, file.buf.length);
    assert.deepEqual(imp.columns, HEADER);
    const expected = file.recs.slice(0, 5).map((r) => Object.fromEntries(r.values.map((v, k) => [HEADER[k], v]).filter(([, v]) => v !== '')));
    assert.deepEqual(imp.sample, expected);
    assert.equal(imp.sample[3].Nom, 'Cœur de ville 4', 'œ is 0x9C in Windows-1252');
  });

  test('the suggested mapping: SIRET and Catégorie by name, the point from Longitude and Latitude', () => {
    assert.deepEqual(imp.mapping, { categorie: 'Catégorie', numero_siret: 'SIRET' });
    assert.deepEqual(imp.geometry, { kind: 'lonlat', lon: 'Longitude', lat: 'Latitude' });
    assert.deepEqual(imp.value_map, {});
  });

  test(`the dry run of ${BIG} rows ends, and how long it took`, (t) => {
    const log = srv.stderr().match(new RegExp(`import ${imp.id} checked: (\\d+) rows in ([0-9.]+) s`));
    t.diagnostic(`dry run of ${BIG} rows: ${(checkMs / 1000).toFixed(1)} s from POST to checked` +
      `${log ? ` (the job's own log: ${log[1]} rows in ${log[2]} s)` : ''}`);
    assert.equal(done.total, BIG);
    assert.equal(done.progress, BIG);
    assert.ok(done.checked_at);
  });

  test('progress is reported while checking: state checking, progress rising from 0 to the total', () => {
    const checking = polls.filter((p) => p.state === 'checking');
    assert.ok(checking.some((p) => p.progress > 0 && p.progress < BIG), `progress seen: ${JSON.stringify(polls.slice(0, 20))}`);
    for (let k = 1; k < checking.length; k++) assert.ok(checking[k].progress >= checking[k - 1].progress, 'progress never goes back');
    assert.equal(polls.at(-1).state, 'checked');
  });

  test('while checking: PATCH gets 409 import_busy, and so does a second check', () => {
    assert.equal(during.patch.status, 409, during.patch.text);
    assertErrorBody(during.patch.text, 'import_busy');
    assert.equal(during.check.status, 409, during.check.text);
    assertErrorBody(during.check.text, 'import_busy');
  });

  test('the counts: valid, warning, error as the faults make them', () => {
    const count = (s) => file.recs.filter((r) => r.status === s).length;
    assert.deepEqual(done.counts, { valid: count('valid'), warning: count('warning'), error: count('error') });
    // The faults are many and of every kind (a guard on the generator itself).
    assert.ok(count('error') > 500 && count('warning') > 100 && count('valid') > 8000, JSON.stringify(done.counts));
  });

  test('every line: its number (blank lines and line breaks in quotes counted), status, errors and warnings', () => {
    assert.equal(rows.length, BIG);
    assert.deepEqual(rows.map(shape), file.recs.map((r) => ({ line: r.line, status: r.status, errors: r.errors, warnings: r.warnings })));
  });

  test('every line: the name (accents of Windows-1252, quotes, spaces trimmed) and the commune', () => {
    assert.deepEqual(rows.map((r) => [r.line, r.label, r.insee_commune]), file.recs.map((r) => [r.line, r.label, r.commune]));
    assert.ok(rows.some((r) => r.label === 'Boulangerie L’Épi d’or 5'), '’ is 0x92 in Windows-1252');
    assert.ok(rows.some((r) => r.label === 'Café à 2 € 10'), '€ is 0x80 in Windows-1252');
    assert.ok(rows.some((r) => r.label === 'Salle "Le Foyer"; annexe 31'));
  });

  test('every problem carries the message of its code', () => {
    // The names of the COG, as the commune index holds them (L'Union, where the outlines say Union).
    const noms = Object.fromEntries(psql(srv.db, "SELECT code || '|' || nom FROM ref_communes WHERE type = 'commune-actuelle' AND code LIKE '31%'")
      .split('\n').map((l) => l.split('|')));
    const byLine = new Map(file.recs.map((r) => [r.line, r]));
    for (const row of rows) {
      const rec = byLine.get(row.line);
      for (const p of [...row.errors, ...row.warnings]) {
        const expected = {
          field_required: MSG.required, field_control_character: MSG.control, field_enum: MSG.categorie(rec.values[1]), field_siret: MSG.siret,
          petit_erp_5e: MSG.petit, geometry_outside: MSG.outside(...rec.point),
          commune_mismatch: MSG.mismatch(noms[rec.pointCode], rec.pointCode, FAR),
          duplicate_in_file: rec.dupOf && MSG.inFile(rec.dupOf.line), row_unreadable: MSG.wide(HEADER.length + 1, HEADER.length),
        }[p.code];
        assert.equal(p.message, expected, `line ${row.line} ${p.code}`);
      }
    }
  });

  test('look-alikes inside the file: each copy is a warning naming the line it copies, the original stays valid', () => {
    const byLine = new Map(rows.map((r) => [r.line, r]));
    assert.equal(file.dups.size, 5);
    for (const k of file.dups.keys()) {
      const copy = file.recs[k - 1];
      assert.deepEqual(shape(byLine.get(copy.line)), { line: copy.line, status: 'warning', errors: [], warnings: ['geometry:duplicate_in_file'] });
      assert.deepEqual(shape(byLine.get(copy.dupOf.line)), { line: copy.dupOf.line, status: 'valid', errors: [], warnings: [] });
    }
    assert.equal(rows.filter((r) => r.warnings.some((w) => w.code === 'duplicate_in_file')).length, 5);
  });

  test('rows filtered by status, paged', async () => {
    for (const s of ['valid', 'warning', 'error']) {
      const r = await C.sdis.req('GET', `/api/v1/imports/${imp.id}/rows?status=${s}&limit=7&offset=3`);
      assert.equal(r.status, 200, r.text);
      const all = rows.filter((x) => x.status === s);
      assert.equal(r.json.total, all.length);
      assert.deepEqual(r.json.rows, all.slice(3, 10));
    }
  });

  test('report.csv: a BOM, ";", the header, one line per problem or per clean row, as the rows say', () => {
    assert.equal(report.status, 200, report.text);
    assert.match(report.headers.get('content-type'), /^text\/csv; charset=utf-8/);
    assert.match(report.headers.get('content-disposition'), new RegExp(`attachment; filename="import-${imp.id}-rapport\\.csv"`));
    assert.ok(report.body.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])), 'a UTF-8 BOM first');
    assert.ok(report.text.startsWith('ligne;statut;niveau;champ;code;message;nom\r\n'));
    const recs = parseCsv(report.text);
    assert.deepEqual(recs[0], ['ligne', 'statut', 'niveau', 'champ', 'code', 'message', 'nom']);
    const expected = [];
    for (const r of rows) {
      const problems = [...r.errors.map((p) => ['erreur', p]), ...r.warnings.map((p) => ['avertissement', p])];
      if (problems.length === 0) expected.push([String(r.line), r.status, '', '', '', '', r.label ?? '']);
      for (const [level, p] of problems) expected.push([String(r.line), r.status, level, p.field ?? '', p.code, p.message, r.label ?? '']);
    }
    assert.deepEqual(recs.slice(1), expected);
    // And the set of (line, status, code) is the file's, whatever the rows say.
    const seen = recs.slice(1).map((x) => `${x[0]} ${x[1]} ${x[4]}`).sort();
    const want = file.recs.flatMap((r) => (r.errors.length + r.warnings.length === 0 ? [`${r.line} ${r.status} `]
      : [...r.errors, ...r.warnings].map((c) => `${r.line} ${r.status} ${c.split(':')[1]}`))).sort();
    assert.deepEqual(seen, want);
  });

  test('report.csv: the exact lines of a clean row, a quoted name, and one row of each fault', () => {
    const lines = report.text.split('\r\n');
    const first = (pred) => file.recs.find(pred);
    const only = (key) => first((r) => !r.dupOf && r.faults[key] && Object.entries(r.faults).every(([k, v]) => k === key || !v)
      && r.i % 31 !== 0 && r.i % 11 !== 0);
    const clean = first((r) => r.status === 'valid' && r.i % 31 !== 0 && r.i % 11 !== 0);
    const quoted = first((r) => r.status === 'valid' && r.i % 31 === 0);
    const cat = only('badcat');
    const sir = only('badsiret');
    const out = only('outside');
    const noname = only('noname');
    const wide = only('wide');
    const copy = file.recs[[...file.dups.keys()][0] - 1];
    const pe = only('pe');
    for (const l of [
      `${clean.line};valid;;;;;${clean.label}`,
      `${quoted.line};valid;;;;;"Salle ""Le Foyer""; annexe ${quoted.i}"`,
      `${cat.line};error;erreur;categorie;field_enum;${MSG.categorie(cat.values[1])};${cat.label}`,
      `${sir.line};error;erreur;numero_siret;field_siret;${MSG.siret};${sir.label}`,
      `${out.line};error;erreur;geometry;geometry_outside;${MSG.outside(...out.point)};${out.label}`,
      `${noname.line};error;erreur;libelle;field_required;${MSG.required};`,
      `${wide.line};error;erreur;;row_unreadable;${MSG.wide(10, 9)};`,
      `${copy.line};warning;avertissement;geometry;duplicate_in_file;${MSG.inFile(copy.dupOf.line)};${copy.label}`,
      `${pe.line};warning;avertissement;categorie;petit_erp_5e;${MSG.petit};${pe.label}`,
    ]) assert.ok(lines.includes(l), `report.csv has no line ${JSON.stringify(l)}`);
  });

  test('the import in the list of its organisation, with its counts', async () => {
    const r = await C.sdis2.req('GET', '/api/v1/imports?guichet=erp');
    assert.equal(r.status, 200, r.text);
    const mine = r.json.imports.find((x) => x.id === imp.id);
    assert.ok(mine, JSON.stringify(r.json));
    assert.deepEqual([mine.state, mine.counts, mine.total], ['checked', done.counts, BIG]);
  });
});

// --- 2. encodings, separators, where the point comes from -------------------------------------

describe('encodings and separators; the point from lon/lat, Lambert-93 x/y or WKT', () => {
  const six = (v) => v.toFixed(6);
  const comma = (v) => v.toFixed(6).replace('.', ',');

  test('UTF-8 without BOM, "," between columns, decimal commas in quoted lon/lat', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const pts = await spaced('31555', 2);
    const text = csvText([['libelle', 'categorie', 'type_principal', 'lon', 'lat'],
      ['Salle Héraclès', '5', 'L', comma(pts[0][0]), comma(pts[0][1])],
      ['Théâtre du Pavé', '5', 'L', six(pts[1][0]), six(pts[1][1])]], ',', '\n');
    assert.ok(text.includes('"1,') || text.includes(',"'), 'the decimal commas are quoted');
    const imp = await uploaded(c, 'erp', 'erp.csv', Buffer.from(text, 'utf8'));
    assert.deepEqual([imp.encoding, imp.separator], ['UTF-8', ',']);
    assert.deepEqual(imp.columns, ['libelle', 'categorie', 'type_principal', 'lon', 'lat']);
    assert.deepEqual(imp.mapping, { libelle: 'libelle', categorie: 'categorie', type_principal: 'type_principal' });
    assert.deepEqual(imp.geometry, { kind: 'lonlat', lon: 'lon', lat: 'lat' });
    assert.deepEqual(imp.sample[0], { libelle: 'Salle Héraclès', categorie: '5', type_principal: 'L',
      lon: comma(pts[0][0]), lat: comma(pts[0][1]) });
    const done = await checked(c, imp.id);
    assert.deepEqual(done.counts, { valid: 2, warning: 0, error: 0 });
    const rows = await allRows(c, imp.id);
    assert.deepEqual(rows.map((r) => [r.line, r.label, r.insee_commune]), [[2, 'Salle Héraclès', '31555'], [3, 'Théâtre du Pavé', '31555']]);
    const got = rowPoints(imp.id);
    near(got[2], pts[0], 1e-9, 'line 2');
    near(got[3], pts[1], 1e-9, 'line 3');
  });

  test('UTF-8 with a BOM and tabs: the BOM is not part of the first column; French labels suggest the fields', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const pts = await spaced('31555', 1);
    const text = `\ufeff${csvText([["Nom de l'établissement", 'Catégorie', 'Type principal', 'Longitude', 'Latitude'],
      ['Salle ; polyvalente', '5', 'L', six(pts[0][0]), six(pts[0][1])]], '\t', '\r\n')}`;
    const imp = await uploaded(c, 'erp', 'erp.tsv', Buffer.from(text, 'utf8'));
    assert.deepEqual([imp.encoding, imp.separator], ['UTF-8', '\t']);
    assert.equal(imp.columns[0], "Nom de l'établissement");
    assert.deepEqual(imp.mapping, { libelle: "Nom de l'établissement", categorie: 'Catégorie', type_principal: 'Type principal' });
    const done = await checked(c, imp.id);
    assert.deepEqual(done.counts, { valid: 1, warning: 0, error: 0 });
    assert.equal((await allRows(c, imp.id))[0].label, 'Salle ; polyvalente', 'a ";" is data in a tab-separated file');
  });

  test('Windows-1252 with ";" (Excel): accents read, decimal commas unquoted', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const pts = await spaced('31555', 2);
    const text = csvText([['Nom', 'Catégorie', 'Type', 'Longitude', 'Latitude'],
      ['Mairie annexe – salle n° 2', '5', 'W', comma(pts[0][0]), comma(pts[0][1])],
      ['Bibliothèque Œcuménique', '5', 'S', comma(pts[1][0]), comma(pts[1][1])]]);
    const imp = await uploaded(c, 'erp', 'erp.csv', cp1252(text));
    assert.deepEqual([imp.encoding, imp.separator], ['windows-1252', ';']);
    assert.deepEqual(imp.columns, ['Nom', 'Catégorie', 'Type', 'Longitude', 'Latitude']);
    await patched(c, imp.id, { mapping: { libelle: 'Nom', categorie: 'Catégorie', type_principal: 'Type' } });
    const done = await checked(c, imp.id);
    assert.deepEqual(done.counts, { valid: 2, warning: 0, error: 0 });
    assert.deepEqual((await allRows(c, imp.id)).map((r) => r.label), ['Mairie annexe – salle n° 2', 'Bibliothèque Œcuménique']);
    const got = rowPoints(imp.id);
    near(got[2], pts[0], 1e-9, 'line 2');
    near(got[3], pts[1], 1e-9, 'line 3');
  });

  test("x and y in Lambert-93 (one with a decimal comma): the point PostGIS's ST_Transform gives", async () => {
    const { c } = await member('sdis', { departements: '31' });
    const pts = await spaced('31555', 3);
    const l93 = toL93(pts);
    const text = csvText([['Nom', 'Catégorie', 'Type', 'X', 'Y'],
      ...l93.map(([x, y], k) => [`Salle ${k}`, '5', 'L', k === 2 ? x.toFixed(2).replace('.', ',') : x.toFixed(2),
        k === 2 ? y.toFixed(2).replace('.', ',') : y.toFixed(2)])]);
    const imp = await uploaded(c, 'erp', 'erp-l93.csv', Buffer.from(text));
    assert.deepEqual(imp.geometry, { kind: 'xy', x: 'X', y: 'Y' });
    await patched(c, imp.id, { mapping: { libelle: 'Nom', categorie: 'Catégorie', type_principal: 'Type' } });
    const done = await checked(c, imp.id);
    assert.deepEqual(done.counts, { valid: 3, warning: 0, error: 0 }, JSON.stringify(await allRows(c, imp.id)));
    for (let k = 0; k < 3; k++) {
      const m = metresFromL93(imp.id, k + 2, l93[k]);
      assert.ok(m < 0.001, `line ${k + 2}: ${m} m from ST_Transform`);
      near(rowPoints(imp.id)[k + 2], pts[k], 1e-6, `line ${k + 2} against the point the centimetres came from`);
    }
  });

  test('WKT in WGS 84, with an SRID=2154; prefix, and with srid=4326; in lower case', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const pts = await spaced('31555', 3);
    const [x, y] = toL93([pts[1]])[0];
    const text = csvText([['Nom', 'Catégorie', 'Type', 'WKT'],
      ['Salle A', '5', 'L', `POINT (${six(pts[0][0])} ${six(pts[0][1])})`],
      ['Salle B', '5', 'L', `SRID=2154;POINT (${x.toFixed(2)} ${y.toFixed(2)})`],
      ['Salle C', '5', 'L', `srid=4326;POINT(${six(pts[2][0])} ${six(pts[2][1])})`]]);
    const imp = await uploaded(c, 'erp', 'erp-wkt.csv', Buffer.from(text));
    assert.deepEqual(imp.geometry, { kind: 'wkt', column: 'WKT' });
    await patched(c, imp.id, { mapping: { libelle: 'Nom', categorie: 'Catégorie', type_principal: 'Type' } });
    const done = await checked(c, imp.id);
    assert.deepEqual(done.counts, { valid: 3, warning: 0, error: 0 }, JSON.stringify(await allRows(c, imp.id)));
    const got = rowPoints(imp.id);
    near(got[2], pts[0], 1e-9, 'line 2');
    assert.ok(metresFromL93(imp.id, 3, [x, y]) < 0.001, 'line 3: ST_Transform of the SRID=2154 point');
    near(got[4], pts[2], 1e-9, 'line 4');
  });

  test('a WKT of the wrong type is the form\'s geometry_type error', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const [[lon, lat]] = await spaced('31555', 1);
    const ring = [[lon, lat], [lon + 0.001, lat], [lon + 0.001, lat + 0.001], [lon, lat]].map((p) => p.join(' ')).join(', ');
    const text = csvText([['Nom', 'Catégorie', 'Type', 'WKT'], ['Salle A', '5', 'L', `POLYGON ((${ring}))`]]);
    const imp = await uploaded(c, 'erp', 'erp-wkt.csv', Buffer.from(text));
    await patched(c, imp.id, { mapping: { libelle: 'Nom', categorie: 'Catégorie', type_principal: 'Type' } });
    await checked(c, imp.id);
    assert.deepEqual((await allRows(c, imp.id)).map(shape), [{ line: 2, status: 'error', errors: ['geometry:geometry_type'], warnings: [] }]);
  });

  test('no coordinates at all: geometry_missing, in the words of a file', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const text = csvText([['Nom', 'Catégorie', 'Type', 'Longitude', 'Latitude'], ['Salle A', '5', 'L', '', ''], ['Salle B', '5', 'L']]);
    const imp = await uploaded(c, 'erp', 'erp.csv', Buffer.from(text));
    await patched(c, imp.id, { mapping: { libelle: 'Nom', categorie: 'Catégorie', type_principal: 'Type' } });
    await checked(c, imp.id);
    const rows = await allRows(c, imp.id);
    assert.deepEqual(rows.map(shape), [2, 3].map((line) => ({ line, status: 'error', errors: ['geometry:geometry_missing'], warnings: [] })));
    // Told about the file's row, not about a map to place it on.
    assert.equal(rows[0].errors[0].message, 'La ligne du fichier ne donne pas de géométrie (sa position est vide).');
  });

  test('coordinates or a WKT that cannot be read: one geometry_source error saying why, not also geometry_missing', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const [[lon, lat]] = await spaced('31555', 1);
    const text = csvText([['Nom', 'Catégorie', 'Type', 'Longitude', 'Latitude', 'WKT'],
      ['Salle A', '5', 'L', 'abc', six(lat), ''],
      ['Salle B', '5', 'L', six(lon), '', ''],
      ['Salle C', '5', 'L', '', '', 'POINT (1 2'],
      ['Salle D', '5', 'L', '', '', 'SRID=3857;POINT (160000 5400000)']]);
    const imp = await uploaded(c, 'erp', 'erp.csv', Buffer.from(text));
    await patched(c, imp.id, { mapping: { libelle: 'Nom', categorie: 'Catégorie', type_principal: 'Type' } });
    await checked(c, imp.id);
    const lonlatRows = await allRows(c, imp.id);
    await patched(c, imp.id, { geometry: { kind: 'wkt', column: 'WKT' } });
    await checked(c, imp.id);
    const wktRows = await allRows(c, imp.id);
    const msg = (rows, line) => rows.find((r) => r.line === line).errors.find((e) => e.code === 'geometry_source')?.message;
    assert.equal(msg(lonlatRows, 2), 'Les coordonnées (Longitude, Latitude) doivent être des nombres décimaux.');
    assert.equal(msg(lonlatRows, 3), 'Les coordonnées (Longitude, Latitude) doivent être des nombres décimaux.');
    assert.equal(msg(wktRows, 4), "Le WKT n'a pas pu être lu.");
    assert.equal(msg(wktRows, 5), 'Seuls les SRID 4326 et 2154 sont acceptés dans le WKT.');
    const one = (line) => ({ line, status: 'error', errors: ['geometry:geometry_source'], warnings: [] });
    assert.deepEqual(lonlatRows.filter((r) => r.line <= 3).map(shape), [one(2), one(3)]);
    assert.deepEqual(wktRows.filter((r) => r.line >= 4).map(shape), [one(4), one(5)]);
  });
  test('a UTF-8 file with one Windows-1252 row past the first 64 KiB: that row is reported, the next ones read', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const head = csvText([['Nom', 'Commune'], ...Array.from({ length: 2500 }, (_, k) => [`Salle n° ${k} à Toulouse`, '31555'])]);
    assert.ok(Buffer.byteLength(head) > 65536);
    const buf = Buffer.concat([Buffer.from(head), cp1252(csvText([['Salle Pépé', '31555']])), Buffer.from(csvText([['Salle Été', '31555']]))]);
    const imp = await uploaded(c, 'erp', 'erp.csv', buf);
    assert.equal(imp.encoding, 'UTF-8');
    await patched(c, imp.id, { mapping: { libelle: 'Nom' }, geometry: null });
    const done = await checked(c, imp.id);
    assert.equal(done.total, 2502);
    const rows = await allRows(c, imp.id);
    assert.deepEqual(shape(rows[2500]), { line: 2502, status: 'error', errors: ['-:row_unreadable'], warnings: [] });
    assert.equal(rows[2500].errors[0].message, "L'enregistrement n'est pas en UTF-8 alors que le début du fichier l'est : "
      + 'enregistrez tout le fichier en UTF-8.');
    assert.deepEqual([rows[2501].line, rows[2501].label], [2503, 'Salle Été']);
    assert.equal(rows[2499].label, 'Salle n° 2499 à Toulouse');
  });

  test('a quote never closed: the last record is reported at its first line, the ones before are read', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const imp = await uploaded(c, 'erp', 'erp.csv', Buffer.from('Nom;Commune\r\nSalle A;31555\r\n"Salle B;31555\r\nSalle C;31555\r\n'));
    await patched(c, imp.id, { mapping: { libelle: 'Nom' }, geometry: null });
    await checked(c, imp.id);
    const rows = await allRows(c, imp.id);
    assert.deepEqual(rows.map((r) => [r.label, shape(r)]), [
      ['Salle A', { line: 2, status: 'error', warnings: [],
        errors: ['categorie:field_required', 'geometry:geometry_missing', 'type_principal:field_required'] }],
      [null, { line: 3, status: 'error', errors: ['-:row_unreadable'], warnings: [] }]]);
    assert.equal(rows[1].errors[0].message, "Un guillemet ouvert n'est jamais fermé : le fichier se termine dans ce champ.");
  });

  test('columns without a name, or with the same name, get names of their own', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const imp = await uploaded(c, 'erp', 'erp.csv', Buffer.from('Nom;;Nom;Commune\nSalle;x;Autre;31555\n'));
    assert.deepEqual(imp.columns, ['Nom', 'colonne_2', 'Nom_colonne_3', 'Commune']);
    assert.deepEqual(imp.sample, [{ Nom: 'Salle', colonne_2: 'x', Nom_colonne_3: 'Autre', Commune: '31555' }]);
  });
});

// --- 3. BAL round trip ------------------------------------------------------------------------------

describe('a BAL file exported by the portal, imported back into the adresse guichet', () => {
  const addr = {};
  let batch;
  let buf;
  let imp;

  before(async () => {
    const t = pointsIn(srv.db, '31555', 5);
    const mk = async (k, attrs, geom) => { addr[k] = await validated(C.tls, 'adresse', attrs, geom); };
    await mk('taur1', { voie_nom: 'Rue du Taur', numero: 1, position: 'entrée', certification_commune: true,
      voie_nom_oci: 'Carrièra del Taur' }, t[0]);
    await mk('taur1bis', { voie_nom: 'Rue du Taur', numero: 1, suffixe: 'bis', position: 'bâtiment',
      certification_commune: true, cad_parcelles: '310555000AB0001|310555000AB0002' }, t[1]);
    await mk('taur3ter', { voie_nom: 'Rue du Taur', numero: 3, suffixe: 'ter', position: 'entrée',
      lieudit_complement_nom: 'Le Capitole' }, t[2]);
    await mk('alsace2a', { voie_nom: "Rue d'Alsace-Lorraine", code_voie: 'A123', numero: 2, suffixe: 'A',
      position: 'délivrance postale', certification_commune: true }, t[3]);
    await mk('jaures10', { voie_nom: 'Allée Jean Jaurès', numero: 10, position: 'cage d’escalier' }, t[4]);
    batch = await exported(C.admin, { guichet: 'adresse', format: 'bal', mode: 'full', communes: ['31555'] });
    const d = path.join(work, 'bal');
    fs.mkdirSync(d);
    const files = await fetchFiles(C.admin, batch, d);
    assert.equal(batch.files.length, 1);
    buf = files[batch.files[0].name];
    imp = await uploaded(C.tls, 'adresse', batch.files[0].name, buf);
  });

  test('the upload: UTF-8, ";", the BAL 1.4 columns, each mapped to its field by the form\'s export names', () => {
    assert.deepEqual([imp.encoding, imp.separator], ['UTF-8', ';']);
    assert.deepEqual(imp.columns, balRows(buf).header);
    for (const f of ['commune_insee', 'commune_deleguee_insee', 'voie_nom', 'voie_nom_oci', 'voie_nom_cat', 'lieudit_complement_nom',
      'numero', 'suffixe', 'position', 'cad_parcelles', 'certification_commune']) assert.equal(imp.mapping[f], f, f);
    assert.deepEqual(imp.geometry, { kind: 'lonlat', lon: 'long', lat: 'lat' });
  });

  test('the round trip as a user runs it (the suggested mapping as it comes): zero errors', async () => {
    const done = await checked(C.tls, imp.id);
    const rows = await allRows(C.tls, imp.id);
    assert.equal(done.counts.error, 0, JSON.stringify(rows.filter((r) => r.status === 'error')));
  });

  test("the suggested mapping as it comes: the file's cle_interop gives no code_voie error", async () => {
    await patched(C.tls, imp.id, { mapping: imp.mapping, geometry: imp.geometry });
    await checked(C.tls, imp.id);
    const bad = (await allRows(C.tls, imp.id)).filter((r) => r.errors.some((e) => e.field === 'code_voie'));
    assert.deepEqual(bad.map((r) => [r.line, r.errors]), [], `code_voie is mapped to ${imp.mapping.code_voie}`);
  });

  test('the lieu-dit line (numero 99999), a place name and no address, is reported and left out: no error', async () => {
    const bal = balRows(buf).rows;
    const k = bal.findIndex((b) => b.numero === '99999');
    assert.deepEqual([bal[k].voie_nom, bal[k].long, bal[k].lat, bal[k].x, bal[k].y], ['Le Capitole', '', '', '', '']);
    await checked(C.tls, imp.id);
    const row = (await allRows(C.tls, imp.id)).find((r) => r.line === k + 2);
    assert.deepEqual([row.status, row.errors, row.warnings.map((w) => w.code)], ['skipped', [], ['lieudit_ignored']]);
  });

  test('each address already validated: exactly one duplicate_nearby warning, naming it, and nothing else', async () => {
    // The suggested mapping as it is: code_voie comes from cle_interop's second part.
    await checked(C.tls, imp.id);
    const rows = await allRows(C.tls, imp.id);
    const bal = balRows(buf).rows;
    assert.equal(bal.length, 6);
    const key = (r) => `${r.voie_nom}|${r.numero}|${r.suffixe}`;
    const ids = {
      'Rue du Taur|1|': addr.taur1.id, 'Rue du Taur|1|bis': addr.taur1bis.id, 'Rue du Taur|3|ter': addr.taur3ter.id,
      "Rue d'Alsace-Lorraine|2|A": addr.alsace2a.id, 'Allée Jean Jaurès|10|': addr.jaures10.id,
    };
    const got = {};
    for (const r of rows) {
      const b = bal[r.line - 2];
      if (b.numero === '99999') continue;	// the lieu-dit line, left out (above)
      assert.equal(r.label, b.voie_nom, `line ${r.line}`);
      if (!(key(b) in ids)) {
        assert.deepEqual(r.warnings, [], `line ${r.line} (${key(b)}): no warning`);
        continue;
      }
      assert.deepEqual([r.status, r.errors, r.insee_commune], ['warning', [], '31555'], `line ${r.line}`);
      got[key(b)] = r.warnings.map((w) => [w.field, w.code, w.candidates?.map((x) => x.id)]);
    }
    assert.deepEqual(got, Object.fromEntries(Object.entries(ids).map(([k, id]) => [k, [['geometry', 'duplicate_nearby', [id]]]])));
  });
});

// --- 4. GeoJSON and GeoPackage ---------------------------------------------------------------------

describe("GeoJSON and GeoPackage: the file's own geometries", () => {
  /** ogr2ogr args…, without blocking the server's log pipe. */
  async function ogr2ogr(...args) {
    const r = await spawnCollect('ogr2ogr', args);
    assert.equal(r.status, 0, `ogr2ogr ${args.join(' ')}:\n${r.stderr}`);
    return r.stdout;
  }

  const erpFeatures = (pts) => pts.map((p, k) => ({
    type: 'Feature', geometry: { type: 'Point', coordinates: p },
    properties: { libelle: `Salle ${['Aïda', 'Bérénice', 'Cœur'][k]}`, categorie: 5, type_principal: 'L', public: k === 0,
      capacite_d_accueil_du_public: 100 + k },
  }));
  const ERP_COLUMNS = ['libelle', 'categorie', 'type_principal', 'public', 'capacite_d_accueil_du_public'];
  const identity = Object.fromEntries(ERP_COLUMNS.map((k) => [k, k]));

  test('a GeoJSON of ERP (WGS 84): columns from the properties, native geometries, values typed by the form', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const pts = await spaced('31555', 3);
    const fc = { type: 'FeatureCollection', features: [...erpFeatures(pts),
      { type: 'Feature', geometry: null, properties: { libelle: 'Salle sans point', categorie: 5, type_principal: 'L' } }] };
    const imp = await uploaded(c, 'erp', 'erp.geojson', Buffer.from(JSON.stringify(fc)));
    assert.deepEqual([imp.format, imp.encoding, imp.separator], ['geojson', null, null]);
    assert.deepEqual(imp.columns, ERP_COLUMNS);
    assert.deepEqual(imp.mapping, identity);
    assert.deepEqual(imp.geometry, { kind: 'native' });
    assert.equal(imp.sample.length, 4);
    assert.deepEqual(imp.sample[0], { libelle: 'Salle Aïda', categorie: '5', type_principal: 'L', public: '1', capacite_d_accueil_du_public: '100' });
    const done = await checked(c, imp.id);
    assert.deepEqual(done.counts, { valid: 3, warning: 0, error: 1 });
    const rows = await allRows(c, imp.id);
    assert.deepEqual(rows.map(shape), [1, 2, 3].map((line) => ({ line, status: 'valid', errors: [], warnings: [] }))
      .concat([{ line: 4, status: 'error', errors: ['geometry:geometry_missing'], warnings: [] }]), 'lines are feature numbers');
    const got = rowPoints(imp.id);
    pts.forEach((p, k) => near(got[k + 1], p, 1e-9, `feature ${k + 1}`));
    const attrs = JSON.parse(psql(srv.db, `SELECT attributes FROM import_rows WHERE import_id = ${imp.id} AND line = 2`));
    assert.deepEqual(attrs, { libelle: 'Salle Bérénice', categorie: '5', type_principal: 'L', public: false,
      capacite_d_accueil_du_public: 101, insee_commune: '31555', etat_de_l_objet: 'En service' });
  });

  test('a GeoJSON of EquipCo polygons: the outline as given', async () => {
    const { c } = await member('ddt', { departements: '31' });
    const [[x, y]] = await spaced('31555', 1);
    const r6 = (v) => Number(v.toFixed(6));
    const ring = [[x, y], [x + 0.002, y], [x + 0.002, y + 0.0015], [x, y + 0.0015], [x, y]].map(([a, b]) => [r6(a), r6(b)]);
    const geometry = { type: 'Polygon', coordinates: [ring] };
    const fc = { type: 'FeatureCollection', features: [{ type: 'Feature', geometry,
      properties: { categorie: 'Sport', nature: 'Stade', toponyme: 'Stade Ernest-Wallon' } }] };
    const imp = await uploaded(c, 'equipco', 'stades.json', Buffer.from(JSON.stringify(fc)));
    assert.equal(imp.format, 'geojson', 'a .json file is GeoJSON');
    assert.deepEqual(imp.mapping, { categorie: 'categorie', nature: 'nature', toponyme: 'toponyme' });
    const done = await checked(c, imp.id);
    assert.deepEqual(done.counts, { valid: 1, warning: 0, error: 0 }, JSON.stringify(await allRows(c, imp.id)));
    assert.equal(psql(srv.db, `SELECT ST_Equals(geom, ST_SetSRID(ST_GeomFromGeoJSON('${JSON.stringify(geometry)}'), 4326))
      FROM import_rows WHERE import_id = ${imp.id}`), 't');
  });

  test('a GeoPackage in Lambert-93 (ogr2ogr): brought to WGS 84 as PostGIS would', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const pts = await spaced('31555', 3);
    const src = path.join(work, 'erp-4326.geojson');
    const gpkg = path.join(work, 'erp-2154.gpkg');
    fs.writeFileSync(src, JSON.stringify({ type: 'FeatureCollection', features: erpFeatures(pts) }));
    await ogr2ogr('-f', 'GPKG', '-s_srs', 'EPSG:4326', '-t_srs', 'EPSG:2154', '-nln', 'erp', gpkg, src);
    const l93 = JSON.parse(await ogr2ogr('-f', 'GeoJSON', '/vsistdout/', gpkg)).features.map((f) => f.geometry.coordinates);
    assert.ok(l93[0][0] > 100000 && l93[0][1] > 6000000, `the GeoPackage holds Lambert-93: ${l93[0]}`);
    const imp = await uploaded(c, 'erp', 'erp.gpkg', fs.readFileSync(gpkg));
    assert.deepEqual([imp.format, imp.encoding, imp.separator], ['gpkg', null, null]);
    assert.deepEqual(imp.columns, ERP_COLUMNS);
    assert.deepEqual(imp.geometry, { kind: 'native' });
    const done = await checked(c, imp.id);
    assert.deepEqual(done.counts, { valid: 3, warning: 0, error: 0 }, JSON.stringify(await allRows(c, imp.id)));
    const got = rowPoints(imp.id);
    l93.forEach((p, k) => {
      const m = metresFromL93(imp.id, k + 1, p);
      assert.ok(m < 0.001, `feature ${k + 1}: ${m} m from ST_Transform`);
      near(got[k + 1], pts[k], 1e-8, `feature ${k + 1} against the original`);
    });
  });

  test('a GeoPackage of EquipCo polygons in Lambert-93: every vertex transformed', async () => {
    const { c } = await member('ddt', { departements: '31' });
    const [[x, y]] = toL93(await spaced('31555', 1));
    const ring = [[x, y], [x + 150, y], [x + 150, y + 120], [x, y + 120], [x, y]];
    const src = path.join(work, 'equipco-2154.geojson');
    const gpkg = path.join(work, 'equipco-2154.gpkg');
    fs.writeFileSync(src, JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature',
      geometry: { type: 'Polygon', coordinates: [ring] }, properties: { toponyme: 'Gymnase Compans', categorie: 'Sport', nature: 'Gymnase' } }] }));
    await ogr2ogr('-f', 'GPKG', '-a_srs', 'EPSG:2154', '-nln', 'equipements', gpkg, src);
    const imp = await uploaded(c, 'equipco', 'equipements.gpkg', fs.readFileSync(gpkg));
    const done = await checked(c, imp.id);
    assert.deepEqual(done.counts, { valid: 1, warning: 0, error: 0 }, JSON.stringify(await allRows(c, imp.id)));
    const wkt = `POLYGON((${ring.map((p) => p.join(' ')).join(', ')}))`;
    const d = Number(psql(srv.db, `SELECT ST_HausdorffDistance(ST_Transform(geom, 2154), ST_GeomFromText('${wkt}', 2154))
      FROM import_rows WHERE import_id = ${imp.id}`));
    assert.ok(d < 0.001, `${d} m from the outline given`);
  });

  test('format= names the format whatever the file name', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const fc = { type: 'FeatureCollection', features: erpFeatures(await spaced('31555', 1)) };
    const imp = await uploaded(c, 'erp', 'export.txt', Buffer.from(JSON.stringify(fc)), { format: 'geojson' });
    assert.deepEqual([imp.format, imp.geometry], ['geojson', { kind: 'native' }]);
    const r = await upload(c, 'erp', 'export.geojson', Buffer.from('nom;commune\nSalle;31555\n'), { format: 'csv' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.format, 'csv');
  });
});

// --- 5. the mapping -----------------------------------------------------------------------------------

describe('the mapping: suggestions, the organisation\'s last one, value_map, PATCH errors, validate', () => {
  const six = (v) => v.toFixed(6);

  test('suggestions from the labels, names and export names of the fields, whatever the accents and case', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const cols = ["NOM DE L'ÉTABLISSEMENT", 'catégorie', 'TYPE_1', 'Numéro SIRET', "Capacité d'accueil du public", 'CODE_INSEE', 'Etat',
      'code postal', 'OUVERT', 'x_l93', 'Y_L93', 'Remarque'];
    const imp = await uploaded(c, 'erp', 'erp.csv', cp1252(csvText([cols])));
    assert.deepEqual(imp.mapping, {
      libelle: "NOM DE L'ÉTABLISSEMENT", categorie: 'catégorie', type_principal: 'TYPE_1', numero_siret: 'Numéro SIRET',
      capacite_d_accueil_du_public: "Capacité d'accueil du public", insee_commune: 'CODE_INSEE', etat_de_l_objet: 'Etat',
      code_postal: 'code postal', ouvert: 'OUVERT',
    });
    assert.deepEqual(imp.geometry, { kind: 'xy', x: 'x_l93', y: 'Y_L93' });
  });

  test('suggestions for EquipCo: "NOM" is the toponyme (its label), BD TOPO and BPE column names, a WKT column', async () => {
    const { c } = await member('ddt', { departements: '31' });
    const imp = await uploaded(c, 'equipco', 'equipements.csv', Buffer.from(csvText([['NOM', 'Catégorie', 'NATURE', 'sources', 'TYPEQU', 'geometrie']])));
    assert.deepEqual(imp.mapping, { toponyme: 'NOM', categorie: 'Catégorie', nature: 'NATURE', gestionnaire: 'sources', type_bpe: 'TYPEQU' });
    assert.deepEqual(imp.geometry, { kind: 'wkt', column: 'geometrie' });
  });

  test('no column to suggest: an empty mapping and no geometry source', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const imp = await uploaded(c, 'erp', 'x.csv', Buffer.from('a;b;c\n1;2;3\n'));
    assert.deepEqual([imp.mapping, imp.geometry, imp.value_map], [{}, null, {}]);
  });

  test("the organisation's last checked mapping comes back for its next file with those columns, not for a file without them nor to another organisation", async () => {
    const m = await member('sdis', { departements: '31' });
    const cols = ['Désignation', 'Cat', 'Typ', 'Lon', 'Lat'];
    const file = async (names) => {
      const pts = await spaced('31555', names.length);
      return Buffer.from(csvText([cols, ...names.map((n, k) => [n, 'cinq', 'L', six(pts[k][0]), six(pts[k][1])])]));
    };
    const a = await uploaded(m.c, 'erp', 'a.csv', await file(['Salle A', 'Salle B']));
    assert.deepEqual([a.mapping, a.geometry], [{}, { kind: 'lonlat', lon: 'Lon', lat: 'Lat' }]);
    const mine = { mapping: { libelle: 'Désignation', categorie: 'Cat', type_principal: 'Typ' },
      geometry: { kind: 'lonlat', lon: 'Lon', lat: 'Lat' }, value_map: { categorie: { cinq: '5' } } };
    await patched(m.c, a.id, mine);
    const done = await checked(m.c, a.id);
    assert.deepEqual(done.counts, { valid: 2, warning: 0, error: 0 });
    const saved = (imp) => ({ mapping: imp.mapping, geometry: imp.geometry, value_map: imp.value_map });
    // Another account of the same organisation, the same columns.
    const colleague = await member('sdis', { org: m.org });
    assert.deepEqual(saved(await uploaded(colleague.c, 'erp', 'b.csv', await file(['Salle C']))), mine);
    // More columns, the mapped ones among them: it fits.
    const wider = Buffer.from(csvText([['Remarque', ...cols], ['RAS', 'Salle D', 'cinq', 'L', '1.44', '43.6']]));
    assert.deepEqual(saved(await uploaded(m.c, 'erp', 'c.csv', wider)), mine);
    // Without Cat and Typ: the suggestions from the names.
    const other = Buffer.from(csvText([['Désignation', 'Catégorie', 'Type', 'Lon', 'Lat'], ['Salle E', '5', 'L', '1.44', '43.6']]));
    assert.deepEqual(saved(await uploaded(m.c, 'erp', 'd.csv', other)),
      { mapping: { categorie: 'Catégorie' }, geometry: { kind: 'lonlat', lon: 'Lon', lat: 'Lat' }, value_map: {} });
    // Another organisation, the same columns: its own suggestions.
    const stranger = await member('sdis', { departements: '31' });
    assert.deepEqual(saved(await uploaded(stranger.c, 'erp', 'e.csv', await file(['Salle F']))),
      { mapping: {}, geometry: { kind: 'lonlat', lon: 'Lon', lat: 'Lat' }, value_map: {} });
    // Another guichet of the same organisation: nothing saved for it.
    assert.deepEqual(saved(await uploaded(m.c, 'equipco', 'f.csv', await file(['Salle G']))),
      { mapping: {}, geometry: { kind: 'lonlat', lon: 'Lon', lat: 'Lat' }, value_map: {} });
  });

  test("value_map: an SDIS's labels of catégorie and type become the form's codes", async () => {
    const { c } = await member('sdis', { departements: '31' });
    const pts = await spaced('31555', 4);
    const rows = [['Salle A', '1ère catégorie', 'Salle de spectacles'], ['Magasin B', '5ème catégorie', 'Magasin'],
      ['Restaurant C', '5', 'N'], ['Salle D', '7ème catégorie', 'Salle de spectacles']];
    const text = csvText([['Nom', 'Catégorie', 'Type', 'Longitude', 'Latitude'], ...rows.map((r, k) => [...r, six(pts[k][0]), six(pts[k][1])])]);
    const imp = await uploaded(c, 'erp', 'prevarisc.csv', cp1252(text));
    const value_map = { categorie: { '1ère catégorie': '1', '5ème catégorie': '5' }, type_principal: { 'Salle de spectacles': 'L', Magasin: 'M' } };
    const p = await patched(c, imp.id, { mapping: { libelle: 'Nom', categorie: 'Catégorie', type_principal: 'Type' }, value_map });
    assert.deepEqual(p.value_map, value_map);
    await checked(c, imp.id);
    assert.deepEqual((await allRows(c, imp.id)).map(shape), [
      { line: 2, status: 'valid', errors: [], warnings: [] },
      { line: 3, status: 'valid', errors: [], warnings: [] },
      { line: 4, status: 'valid', errors: [], warnings: [] },
      { line: 5, status: 'error', errors: ['categorie:field_enum'], warnings: [] },
    ]);
    const attrs = psql(srv.db, `SELECT line || ' ' || (attributes->>'categorie') || ' ' || (attributes->>'type_principal')
      FROM import_rows WHERE import_id = ${imp.id} AND line < 5 ORDER BY line`).split('\n');
    assert.deepEqual(attrs, ['2 1 L', '3 5 M', '4 5 N']);
  });

  test('value_map on a list field (types secondaires): each value of the cell is translated, not only a cell of one', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const pts = await spaced('31555', 2);
    const text = csvText([['Nom', 'Catégorie', 'Type', 'Types secondaires', 'Longitude', 'Latitude'],
      ['Galerie A', '5', 'M', 'Restaurant', six(pts[0][0]), six(pts[0][1])],
      ['Galerie B', '5', 'M', 'Restaurant/Salle de spectacles', six(pts[1][0]), six(pts[1][1])]]);
    const imp = await uploaded(c, 'erp', 'prevarisc.csv', Buffer.from(text));
    await patched(c, imp.id, {
      mapping: { libelle: 'Nom', categorie: 'Catégorie', type_principal: 'Type', types_secondaires: 'Types secondaires' },
      value_map: { types_secondaires: { Restaurant: 'N', 'Salle de spectacles': 'L' } },
    });
    await checked(c, imp.id);
    assert.deepEqual((await allRows(c, imp.id)).map(shape), [2, 3].map((line) => ({ line, status: 'valid', errors: [], warnings: [] })));
    assert.deepEqual(psql(srv.db, `SELECT attributes->>'types_secondaires' FROM import_rows WHERE import_id = ${imp.id} ORDER BY line`)
      .split('\n'), ['["N"]', '["N", "L"]']);
  });

  test('PATCH errors: 400 mapping_invalid naming the member at fault; the import unchanged', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const imp = await uploaded(c, 'erp', 'erp.csv', Buffer.from(csvText([['Nom', 'Catégorie', 'Longitude', 'Latitude'], ['Salle', '5', '1.44', '43.6']])));
    for (const [body, field] of [
      [{ mapping: { inconnu: 'Nom' } }, 'mapping'],
      [{ mapping: { libelle: 'Pas une colonne' } }, 'mapping'],
      [{ mapping: { libelle: 3 } }, 'mapping'],
      [{ mapping: ['Nom'] }, 'mapping'],
      [{ geometry: { kind: 'polaire' } }, 'geometry'],
      [{ geometry: {} }, 'geometry'],
      [{ geometry: { kind: 'native' } }, 'geometry'],
      [{ geometry: { kind: 'xy', x: 'Longitude' } }, 'geometry'],
      [{ geometry: { kind: 'lonlat', lon: 'Longitude', lat: 'Lat' } }, 'geometry'],
      [{ geometry: { kind: 'wkt', column: 'WKT' } }, 'geometry'],
      [{ value_map: { categorie: { cinq: '6' } } }, 'value_map'],
      [{ value_map: { categorie: { cinq: 5 } } }, 'value_map'],
      [{ value_map: { libelle: { a: 'b' } } }, 'value_map'],
      [{ value_map: { inconnu: { a: 'b' } } }, 'value_map'],
      [{ value_map: { categorie: '5' } }, 'value_map'],
      [{ mapping: { libelle: 'Nom' }, geometry: { kind: 'polaire' } }, 'geometry'],
    ]) {
      const r = await c.req('PATCH', `/api/v1/imports/${imp.id}`, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assertErrorBody(r.text, 'mapping_invalid', field);
    }
    const g = await c.req('GET', `/api/v1/imports/${imp.id}`);
    assert.deepEqual([g.json.mapping, g.json.geometry, g.json.value_map], [imp.mapping, imp.geometry, imp.value_map]);
    const none = await c.req('PATCH', '/api/v1/imports/999999', { mapping: {} });
    assert.equal(none.status, 404, none.text);
  });

  const ONE_ROW = Buffer.from('Nom;Commune\nSalle;31555\n');

  test('validate: true is refused to an organisation that is no authority of the guichet (a commune on erp): 403 not_competent', async () => {
    const imp = await uploaded(C.tls, 'erp', 'erp.csv', ONE_ROW);
    const r = await C.tls.req('PATCH', `/api/v1/imports/${imp.id}`, { validate: true });
    assert.equal(r.status, 403, r.text);
    assertErrorBody(r.text, 'not_competent', 'validate');
    assert.equal((await C.tls.req('GET', `/api/v1/imports/${imp.id}`)).json.validate, false);
    assert.equal((await patched(C.tls, imp.id, { validate: false })).validate, false, 'false is anyone\'s');
  });

  test('validate: true is accepted from an authority whose sign-off suffices (a commune on adresse, the DDT(M) on equipco)', async () => {
    const addr = await uploaded(C.tls, 'adresse', 'bal.csv', Buffer.from('voie_nom;numero\nRue du Taur;1\n'));
    assert.equal(addr.validate, false);
    assert.equal((await patched(C.tls, addr.id, { validate: true })).validate, true);
    assert.equal((await patched(C.tls, addr.id, { mapping: { voie_nom: 'voie_nom' } })).validate, true, 'kept by a PATCH that does not name it');
    assert.equal((await patched(C.tls, addr.id, { validate: false })).validate, false);
    const { c } = await member('ddt', { departements: '31' });
    const eq = await uploaded(c, 'equipco', 'equipements.csv', ONE_ROW);
    assert.equal((await patched(c, eq.id, { validate: true })).validate, true);
  });

  test('validate: true on erp, where the SDIS and the DDT(M) must both agree, is refused to the SDIS alone', async () => {
    // README: an ERP is validated by the SDIS and the DDT(M) of the place; an import validating alone would skip one.
    const { c } = await member('sdis', { departements: '31' });
    const imp = await uploaded(c, 'erp', 'erp.csv', ONE_ROW);
    const r = await c.req('PATCH', `/api/v1/imports/${imp.id}`, { validate: true });
    assert.equal(r.status, 403, r.text);
    assertErrorBody(r.text, 'not_competent', 'validate');
    assert.equal((await c.req('GET', `/api/v1/imports/${imp.id}`)).json.validate, false);
  });
});

// --- 6. limits and bad input; territory; access -------------------------------------------------------

describe('limits and bad input; the territory of the account that imports; access', () => {
  let m;
  const count = () => Number(psql(srv.db, `SELECT count(*) FROM imports WHERE organisation_id = ${m.org}`));

  before(async () => { m = await member('sdis', { departements: '31' }); });

  /** Uploads buf and asserts 422 file_unreadable (field "file") and that nothing was recorded; the message. */
  async function unreadable(name, buf, opts) {
    const before = count();
    const r = await upload(m.c, 'erp', name, buf, opts);
    assert.equal(r.status, 422, `${name}: ${r.text}`);
    const e = assertErrorBody(r.text, 'file_unreadable', 'file');
    assert.equal(count(), before, `${name}: no import recorded`);
    return e.message;
  }

  test('an empty file (0 bytes): 422 file_unreadable', async () => {
    await unreadable('vide.csv', Buffer.alloc(0));
  });

  test('blank lines only, or a BOM alone: 422 file_unreadable, « vide »', async () => {
    assert.match(await unreadable('blancs.csv', Buffer.from('\r\n\r\n\n')), /vide/);
    assert.match(await unreadable('bom.csv', Buffer.from([0xef, 0xbb, 0xbf])), /vide/);
  });

  test('an Excel workbook sent as CSV (a ZIP, a NUL in its first line): 422', async () => {
    const xlsx = Buffer.concat([Buffer.from('PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00', 'latin1'), Buffer.alloc(64, 0x41)]);
    assert.match(await unreadable('erp.csv', xlsx), /pas un texte CSV/);
  });

  test('a PNG image sent as CSV: 422, binary data is not a CSV', async () => {
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]),
      Buffer.from('IHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa', 'latin1'), Buffer.alloc(200, 0)]);
    await unreadable('plan.csv', png);
  });

  test('UTF-16 (Excel\'s « Texte Unicode »): 422 saying so', async () => {
    const text = Buffer.from('\ufeffNom\tCommune\r\nSalle\t31555\r\n', 'utf16le');
    assert.match(await unreadable('erp.txt', text), /UTF-16/);
  });

  test('a GeoJSON that is not JSON, or cut short: 422', async () => {
    await unreadable('erp.geojson', Buffer.from('Nom;Commune\nSalle;31555\n'));
    await unreadable('erp.geojson', Buffer.from('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Po'));
  });

  test('a CSV named .gpkg, or a GeoPackage that is not one: 422', async () => {
    await unreadable('erp.gpkg', Buffer.from('Nom;Commune\nSalle;31555\n'));
    await unreadable('erp.csv', Buffer.from('SQLite format 3\x00', 'latin1'), { format: 'gpkg' });
  });

  test('a header and no rows: 201, and a dry run of nothing', async () => {
    const imp = await uploaded(m.c, 'erp', 'entete.csv', Buffer.from('Nom;Catégorie;Type\r\n'));
    assert.deepEqual([imp.columns, imp.sample], [['Nom', 'Catégorie', 'Type'], []]);
    const done = await checked(m.c, imp.id);
    assert.deepEqual([done.counts, done.total], [{ valid: 0, warning: 0, error: 0 }, 0]);
    assert.deepEqual((await m.c.req('GET', `/api/v1/imports/${imp.id}/rows`)).json, { total: 0, rows: [] });
  });

  test('an import never checked: no rows, a report with its header only', async () => {
    const imp = await uploaded(m.c, 'erp', 'erp.csv', Buffer.from('Nom;Commune\nSalle;31555\n'));
    assert.deepEqual((await m.c.req('GET', `/api/v1/imports/${imp.id}/rows`)).json, { total: 0, rows: [] });
    const rep = await reportCsv(m.c, imp.id);
    assert.equal(rep.status, 200);
    assert.equal(rep.text, 'ligne;statut;niveau;champ;code;message;nom\r\n');
  });

  test('a file over import_max_bytes: 413 body_too_large, announced or chunked, and nothing stored', async () => {
    const dir2 = makeTemp('guichet-imports-small-');
    const small = await startServer({ env: { ...FAST_ARGON2, GUICHET_IMPORT_DIR: dir2, GUICHET_IMPORT_MAX_BYTES: 2048 } });
    try {
      const org = addOrg(small.db, { name: 'SDIS 31', kind: 'sdis', departements: '31' });
      const u = addUser(small.db, { email: 'prevision@sdis31.test', org, role: 'contributor' });
      const c = new Client(small.base);
      await c.login(u.email, u.password);
      const sized = (n) => {
        const head = 'Nom;Commune\r\n';
        const pad = n - head.length - ';31555\r\n'.length;
        return Buffer.from(`${head}${'S'.repeat(pad)};31555\r\n`);
      };
      const files = () => fs.readdirSync(dir2, { recursive: true }).filter((f) => fs.statSync(path.join(dir2, f)).isFile());
      const imports = () => Number(psql(small.db, 'SELECT count(*) FROM imports'));
      // The list tells the limit, for the UI to refuse a larger file before sending it.
      assert.equal((await c.req('GET', '/api/v1/imports')).json.max_bytes, 2048);

      const big = await upload(c, 'erp', 'gros.csv', sized(2049));
      assert.equal(big.status, 413, big.text);
      assertErrorBody(big.text, 'body_too_large');
      // Chunked: no length announced, the limit is met on the way.
      const chunk = (b) => `${b.length.toString(16)}\r\n${b}\r\n`;
      const body = sized(3000).toString('latin1');
      const raw = await rawRequest(small.port, '/api/v1/imports?guichet=erp&filename=gros.csv', {
        method: 'POST',
        headers: { Cookie: c.cookie, 'X-CSRF-Token': c.csrf, 'Content-Type': 'text/csv', 'Transfer-Encoding': 'chunked' },
        body: `${chunk(body.slice(0, 1000))}${chunk(body.slice(1000, 2000))}${chunk(body.slice(2000))}0\r\n\r\n`,
      });
      assert.equal(raw.response?.status, 413, raw.text);
      assertErrorBody(raw.response.text, 'body_too_large');
      assert.deepEqual([imports(), files()], [0, []], 'nothing stored, not even a temporary file');

      const ok = await uploaded(c, 'erp', 'juste.csv', sized(2048));
      assert.equal(ok.bytes, 2048);
      assert.deepEqual([imports(), files()], [1, [`${ok.id}.csv`]]);
      assert.equal(fs.readFileSync(path.join(dir2, `${ok.id}.csv`)).length, 2048);
    } finally {
      await small.stop();
      rmTemp(dir2);
    }
  });

  test("the file as uploaded is kept, and its SHA-256 recorded", async () => {
    const buf = Buffer.from('Nom;Commune\nSalle;31555\n');
    const imp = await uploaded(m.c, 'erp', 'erp.csv', buf);
    const { createHash } = await import('node:crypto');
    assert.equal(imp.sha256, createHash('sha256').update(buf).digest('hex'));
    assert.ok(fs.readFileSync(path.join(dir, `${imp.id}.csv`)).equals(buf));
  });

  test("rows outside the importing account's territory are errors: outside_territory on the commune", async () => {
    const [tls] = await spaced('31555', 1);
    const mtp = await spaced('34172', 3);
    const six = (v) => v.toFixed(6);
    const text = csvText([['Nom', 'Catégorie', 'Type', 'Longitude', 'Latitude', 'Commune'],
      ['Salle de Toulouse', '5', 'L', six(tls[0]), six(tls[1]), '31555'],
      ['Salle de Montpellier', '5', 'L', six(mtp[0][0]), six(mtp[0][1]), '34172'],
      ['Salle sans commune', '5', 'L', six(mtp[1][0]), six(mtp[1][1]), ''],
      ['Salle mal placée', '5', 'L', six(mtp[2][0]), six(mtp[2][1]), '31555']]);
    const imp = await uploaded(m.c, 'erp', 'erp.csv', Buffer.from(text));
    // The organisation's last mapping (of the header-only file above) fits these columns: the point is set here.
    await patched(m.c, imp.id, { mapping: { libelle: 'Nom', categorie: 'Catégorie', type_principal: 'Type', insee_commune: 'Commune' },
      geometry: { kind: 'lonlat', lon: 'Longitude', lat: 'Latitude' } });
    await checked(m.c, imp.id);
    const rows = await allRows(m.c, imp.id);
    assert.deepEqual(rows.map(shape), [
      { line: 2, status: 'valid', errors: [], warnings: [] },
      { line: 3, status: 'error', errors: ['insee_commune:outside_territory'], warnings: [] },
      { line: 4, status: 'error', errors: ['insee_commune:outside_territory'], warnings: [] },
      // The territory is where the point lies, not the commune written.
      { line: 5, status: 'error', errors: ['insee_commune:commune_mismatch', 'insee_commune:outside_territory'], warnings: [] },
    ]);
    assert.deepEqual(rows.map((r) => r.insee_commune), ['31555', '34172', '34172', '31555']);
    assert.equal(rows[1].errors[0].message, "Cette commune est hors du territoire du compte qui importe.");
  });

  test('another organisation gets 404 on every route of the import and does not list it; a platform admin sees it', async () => {
    const imp = await uploaded(m.c, 'erp', 'erp.csv', Buffer.from('Nom;Commune\nSalle;31555\n'));
    const base = `/api/v1/imports/${imp.id}`;
    for (const [method, url, body] of [['GET', base], ['PATCH', base, { mapping: {} }], ['POST', `${base}/check`],
      ['GET', `${base}/rows`], ['GET', `${base}/report.csv`]]) {
      const r = await C.away.req(method, url, body);
      assert.equal(r.status, 404, `${method} ${url}: ${r.text}`);
      assertErrorBody(r.text, 'not_found');
    }
    assert.equal((await C.away.req('GET', '/api/v1/imports')).json.imports.some((x) => x.id === imp.id), false);
    assert.equal((await C.admin.req('GET', base)).status, 200);
    assert.equal((await C.admin.req('GET', `${base}/rows`)).status, 200);
    assert.ok((await C.admin.req('GET', '/api/v1/imports?limit=200')).json.imports.some((x) => x.id === imp.id));
    const anon = new Client(srv.base);
    assert.equal((await anon.req('GET', base)).status, 401);
    assert.equal((await upload(anon, 'erp', 'erp.csv', Buffer.from('Nom\nSalle\n'))).status, 401);
  });
});

// --- 7. the job ---------------------------------------------------------------------------------------

describe('the job: a second check replaces the report; the list of imports', () => {
  test('a second check re-runs with the new mapping and replaces the report, rows and counts', async () => {
    const { c } = await member('sdis', { departements: '31' });
    const pts = await spaced('31555', 20);
    const text = csvText([['Nom', 'Catégorie', 'Type', 'Longitude', 'Latitude'],
      ...pts.map((p, k) => [`Salle ${String.fromCharCode(65 + k)}${k}`, '5', 'L', p[0].toFixed(6), p[1].toFixed(6)])]);
    const imp = await uploaded(c, 'erp', 'erp.csv', Buffer.from(text));
    await patched(c, imp.id, { mapping: { libelle: 'Nom', categorie: 'Catégorie', type_principal: 'Type' } });
    const first = await checked(c, imp.id);
    assert.deepEqual(first.counts, { valid: 20, warning: 0, error: 0 });
    const p = await patched(c, imp.id, { mapping: { libelle: 'Nom', type_principal: 'Type' } });
    assert.equal(p.state, 'uploaded', 'a new mapping waits for a new check');
    const second = await checked(c, imp.id);
    assert.deepEqual([second.counts, second.total], [{ valid: 0, warning: 0, error: 20 }, 20]);
    assert.ok(new Date(second.checked_at) >= new Date(first.checked_at));
    const rows = await allRows(c, imp.id);
    assert.deepEqual(rows.map(shape), pts.map((_, k) => ({ line: k + 2, status: 'error', errors: ['categorie:field_required'], warnings: [] })));
    assert.equal(psql(srv.db, `SELECT count(*) FROM import_rows WHERE import_id = ${imp.id}`), '20', 'the first report is gone');
    // A third check with nothing changed gives the same report again.
    const third = await checked(c, imp.id);
    assert.deepEqual(third.counts, second.counts);
    assert.deepEqual((await allRows(c, imp.id)).map(shape), rows.map(shape));
  });

  test('the list: newest first, by guichet, paged, the organisation\'s only', async () => {
    const m = await member('sdis', { departements: '31' });
    const csv = Buffer.from('Nom;Commune\nSalle;31555\n');
    const a = await uploaded(m.c, 'erp', 'a.csv', csv);
    const b = await uploaded(m.c, 'adresse', 'b.csv', csv);
    const d = await uploaded(m.c, 'erp', 'd.csv', csv);
    const ids = async (q) => {
      const r = await m.c.req('GET', `/api/v1/imports${q}`);
      assert.equal(r.status, 200, r.text);
      return r.json.imports.map((x) => x.id);
    };
    assert.deepEqual(await ids(''), [d.id, b.id, a.id]);
    assert.deepEqual(await ids('?limit=2'), [d.id, b.id]);
    assert.deepEqual(await ids('?limit=1&offset=1'), [b.id]);
    assert.deepEqual(await ids('?guichet=erp'), [d.id, a.id]);
    assert.deepEqual(await ids('?guichet=adresse'), [b.id]);
    const listed = (await m.c.req('GET', '/api/v1/imports')).json.imports[0];
    assert.deepEqual([listed.filename, listed.guichet, listed.state, listed.organisation_id, listed.created_by],
      ['d.csv', 'erp', 'uploaded', m.org, m.user.id]);
    const bad = await m.c.req('GET', '/api/v1/imports?guichet=autre');
    assert.equal(bad.status, 400, bad.text);
  });
});
