// Exports over HTTP: every format of every guichet it applies to, read back
// with GDAL (ogrinfo, ogr2ogr) and, for BAL 1.4, with the reference
// validator (tests/bal-validate.cjs: zero errors); incremental batches
// (Insert, Update, Delete; an empty batch right after), full snapshots,
// scopes; the files as recorded (SHA-256, sizes, ETag, 304, 404, 410);
// the event log; jobs (taken over, abandoned, failed, shared between two
// servers); authorisation and parameters; the preview; `guichet export`.
//
// Each group of tests places its objects in its own communes and scopes its
// batches to them, so that groups do not see each other's objects:
//   BD TOPO formats  Toulouse (31555)            erp, equipco, full snapshots
//   BAL              Toulouse, Péguilhan (31412) adresse, full
//   incremental      Blagnac (31069)             erp
//   BAL incremental  Colomiers (31149), Tournefeuille (31557)
//   scopes           Balma (31044), Montpellier (34172), Lattes (34129)
//   preview          L'Union (31561)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startServer, psql, runGuichet, makeTemp, rmTemp, sleep, waitFor, assertErrorBody, REFDATA,
  pointsIn as harnessPointsIn,
} from './harness.mjs';
import { Client, TokenClient, FAST_ARGON2, addOrg, addUser } from './accounts.mjs';
import {
  FORMS, BAL_COLUMNS, CSV_OO, sha256, bdtopoColumns, ask, finished, exported, download, fetchFiles,
  ogrSummary, ogrFeatures, balValidate, balRows, ringArea, siret,
} from './exports-lib.mjs';

let srv;
let exportDir;	// the server's export_dir
let work;	// downloaded files
const O = {};	// organisations
const U = {};	// accounts
const C = {};	// signed-in clients
const FAKED = new Set();	// batches marked done with psql (no writer, no event)

const ORGS = {
  tls: ['Commune de Toulouse', 'commune', null, '31555'],
  peg: ['Commune de Péguilhan', 'commune', null, '31412'],
  openig: ['OPenIG', 'openig', '31,34', null],
};
const ACCOUNTS = {
  contributor: ['tls', 'contributor'],
  reviewer: ['tls', 'reviewer'],
  org_admin: ['tls', 'org_admin'],
  pegauthor: ['peg', 'contributor'],
  author: ['openig', 'contributor'],	// covers 31 and 34
  admin: ['openig', 'admin'],
};

before(async () => {
  assert.ok(REFDATA.length > 0, 'TEST_REFDATA must name the reference data (make sets it)');
  exportDir = makeTemp('guichet-exports-');
  work = makeTemp('guichet-exports-dl-');
  srv = await startServer({ env: { ...FAST_ARGON2, GUICHET_EXPORT_DIR: exportDir }, refdata: true });
  for (const [k, [name, kind, departements, communes]] of Object.entries(ORGS)) {
    O[k] = addOrg(srv.db, { name, kind, departements, communes });
  }
  for (const [k, [org, role]] of Object.entries(ACCOUNTS)) {
    U[k] = addUser(srv.db, { email: `${k}@exports.test`, name: `Nom ${k}`, org: O[org], role });
    C[k] = new Client(srv.base);
    await C[k].login(U[k].email, U[k].password);
  }
  C.anon = new Client(srv.base);
});

after(async () => {
  await srv?.stop();
  rmTemp(exportDir);
  rmTemp(work);
});

// --- helpers -----------------------------------------------------------------------

const sub = (g, id = '') => `/api/v1/guichets/${g}/submissions${id === '' ? '' : `/${id}`}`;

const pointsIn = (code, n) => harnessPointsIn(srv.db, code, n);

/** A square around a point (counterclockwise unless cw), side 2·h degrees. */
function square([x, y], h = 0.0004, cw = false) {
  const r = (v) => Number(v.toFixed(6));
  const ring = [[r(x - h), r(y - h)], [r(x + h), r(y - h)], [r(x + h), r(y + h)], [r(x - h), r(y + h)], [r(x - h), r(y - h)]];
  return cw ? ring.reverse() : ring;
}

/** Creates and submits a record, then validates it as the platform admin; returns it. */
async function validated(c, g, attributes, geometry) {
  const r = await c.req('POST', sub(g), { attributes, geometry, submit: true, confirm_warnings: true });
  assert.equal(r.status, 201, `create ${g}: ${r.text}`);
  const v = await C.admin.req('POST', `${sub(g, r.json.id)}/transitions`, { action: 'validate' });
  assert.equal(v.status, 200, `validate ${g} ${r.json.id}: ${v.text}`);
  assert.equal(v.json.state, 'validated');
  const got = await C.admin.req('GET', sub(g, r.json.id));
  return got.json;
}

/** Amends validated object obj (modify with attributes/geometry, or delete), validated by the admin. */
async function amend(c, g, obj, { attributes, geometry, operation = 'modify' } = {}) {
  const body = operation === 'delete'
    ? { attributes: {}, amends: obj.id, operation, submit: true, confirm_warnings: true }
    : { attributes, geometry: geometry ?? obj.geometry, amends: obj.id, operation, submit: true, confirm_warnings: true };
  const r = await c.req('POST', sub(g), body);
  assert.equal(r.status, 201, `amend ${g} ${obj.id}: ${r.text}`);
  const v = await C.admin.req('POST', `${sub(g, r.json.id)}/transitions`, { action: 'validate' });
  assert.equal(v.status, 200, v.text);
  return (await C.admin.req('GET', sub(g, obj.id))).json;
}

/** A folder for the files of batch b. */
function folder(b) {
  const d = path.join(work, String(b.id));
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/** The object's geometry in Lambert-93 as the BD TOPO files carry it (polygons as multi), full precision. */
function l93(obj) {
  return JSON.parse(psql(srv.db, `SELECT ST_AsGeoJSON(ST_Transform(CASE WHEN GeometryType(geom) = 'POLYGON'
    THEN ST_Multi(geom) ELSE geom END, 2154), 9) FROM submissions WHERE id = ${obj.id}`));
}

/** Asserts two coordinate trees are equal within tol. */
function assertCoords(actual, expected, tol, what) {
  if (typeof expected === 'number') {
    assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (± ${tol})`);
    return;
  }
  assert.equal(actual.length, expected.length, `${what}: lengths`);
  expected.forEach((e, i) => assertCoords(actual[i], e, tol, what));
}

/** The numbers of a WKT text, as [x, y] pairs. */
function wktPairs(wkt) {
  const n = wkt.match(/-?\d+(\.\d+)?/g).map(Number);
  const out = [];
  for (let i = 0; i < n.length; i += 2) out.push([n[i], n[i + 1]]);
  return out;
}
const flatPairs = (geom) => (geom.type === 'Point' ? [geom.coordinates]
  : geom.type === 'Polygon' ? geom.coordinates.flat() : geom.coordinates.flat(2));

/**
 * The BD TOPO properties of an object as its form exports them, with JSON
 * types (integers as numbers, booleans as booleans, lists joined).
 */
function expectedProps(g, obj, orgName, { shp = false } = {}) {
  const key = shp ? 'shp' : 'bdtopo';
  const cols = bdtopoColumns(g, { shp });
  const p = Object.fromEntries(cols.map(([n]) => [n, null]));
  p[cols[0][0]] = obj.uid;
  const extra = [];
  for (const f of FORMS[g].fields) {
    const name = f.export?.[key];
    if (!name) continue;
    const v = obj.attributes[f.name];
    if (name === cols[1][0]) {
      if (v != null) extra.push(v);
      continue;
    }
    if (v == null) continue;
    p[name] = f.type === 'enum_list' ? v.join(f.export.separator ?? '/') : v;
  }
  p[cols[1][0]] = [orgName, ...extra].join(' / ');
  return p;
}

/**
 * GDAL's reading of a CSV row, keyed as expected: an empty cell is "" (text)
 * or no property at all (numbers) where we wrote nothing.
 */
function csvNormalise(props, expected) {
  assert.deepEqual(Object.keys(props).filter((k) => !(k in expected)), [], 'no other column');
  return Object.fromEntries(Object.keys(expected).map((k) => [k, props[k] === '' || props[k] === undefined ? null : props[k]]));
}

const today = () => new Date().toISOString().slice(0, 10);

// --- BD TOPO formats --------------------------------------------------------------------

describe('BD TOPO formats (full snapshots of Toulouse)', () => {
  const objs = { erp: [], equipco: [] };
  const orgOf = new Map();	// object id → organisation name
  const batches = {};

  before(async () => {
    const p = pointsIn('31555', 6);
    const e = [
      [C.contributor, { libelle: 'Café "Le Zinc", bar', categorie: '5', type_principal: 'N', types_secondaires: ['L', 'M'],
        public: true, ouvert: false, capacite_d_accueil_du_public: 80, numero_siret: siret('7328293200007'),
        adresse_numero: '12', adresse_nom_1: 'Rue du Taur', code_postal: '31000', sources: 'Relevé terrain' }],
      [C.contributor, { libelle: 'Théâtre du Capitole', categorie: '1', type_principal: 'L', capacite_d_accueil_du_public: 1156 }],
      [C.author, { libelle: 'Hôtel Tèrra', categorie: '4', type_principal: 'O', capacite_d_hebergement: 40, etat_de_l_objet: 'En projet' }],
    ];
    for (let i = 0; i < e.length; i++) {
      const o = await validated(e[i][0], 'erp', e[i][1], p[i]);
      objs.erp.push(o);
      orgOf.set(o.id, e[i][0] === C.author ? 'OPenIG' : 'Commune de Toulouse');
    }
    const q = [
      [C.contributor, { categorie: 'Santé', nature: 'Hôpital', toponyme: 'Hôpital de Purpan', gestionnaire: 'CHU de Toulouse' }, p[3]],
      [C.author, { categorie: 'Culture et loisirs', nature: 'Parc', toponyme: 'Jardin des Plantes', nom_commercial: 'Le Jardin' },
        { type: 'Polygon', coordinates: [square(p[4].coordinates)] }],
      [C.author, { categorie: 'Industriel et commercial', nature: 'Marché', toponyme: 'Marché Victor Hugo' },
        { type: 'MultiPolygon', coordinates: [[square(p[5].coordinates, 0.0002)],
          [square([p[5].coordinates[0] + 0.001, p[5].coordinates[1]], 0.0002)]] }],
    ];
    for (const [c, a, geom] of q) {
      const o = await validated(c, 'equipco', a, geom);
      objs.equipco.push(o);
      orgOf.set(o.id, c === C.author ? 'OPenIG' : 'Commune de Toulouse');
    }
  });

  /** The full snapshot of guichet g in format f, scoped to Toulouse (asked once). */
  async function batch(g, f) {
    batches[`${g} ${f}`] ??= exported(C.admin, { guichet: g, format: f, mode: 'full', communes: ['31555'] });
    return batches[`${g} ${f}`];
  }

  for (const g of ['erp', 'equipco']) {
    const layer = FORMS[g].exports.bdtopo;

    test(`${g} gpkg: layer ${layer}, the form's fields and types, EPSG:2154, feature count`, async () => {
      const b = await batch(g, 'gpkg');
      assert.deepEqual(b.counts, { create: 3 });
      assert.deepEqual(b.files.map((f) => [f.name, f.media_type, f.rows]),
        [[`${g}_complet_lot${b.id}.gpkg`, 'application/geopackage+sqlite3', 3]]);
      await fetchFiles(C.admin, b, folder(b));
      const file = path.join(folder(b), b.files[0].name);
      const s = ogrSummary(file);
      assert.equal(s.layer, layer);
      assert.equal(s.geometry, g === 'erp' ? 'Point' : 'Unknown (any)');
      assert.equal(s.count, 3);
      assert.equal(s.epsg, 2154, s.text);
      assert.equal(s.geometryColumn, 'geometrie');
      assert.deepEqual(s.fields, bdtopoColumns(g));
    });

    test(`${g} gpkg: values and geometries (polygons as MultiPolygon, Lambert-93)`, async () => {
      const b = await batch(g, 'gpkg');
      const feats = ogrFeatures(path.join(folder(b), b.files[0].name));
      assert.equal(feats.length, 3);
      for (const o of objs[g]) {
        const f = feats.find((x) => x.properties.identifiants_sources === o.uid);
        assert.ok(f, `feature of ${o.uid}`);
        assert.deepEqual(f.properties, expectedProps(g, o, orgOf.get(o.id)));
        const want = l93(o);
        assert.equal(f.geometry.type, want.type);
        assertCoords(f.geometry.coordinates, want.coordinates, 0.001, `${g} ${o.id}`);
      }
    });

    test(`${g} geojson: RFC 7946 lon/lat, BD TOPO properties, identifiants_sources = uid, sources = organisation`, async () => {
      const b = await batch(g, 'geojson');
      assert.deepEqual(b.files.map((f) => [f.name, f.media_type, f.rows]),
        [[`${g}_complet_lot${b.id}.geojson`, 'application/geo+json', 3]]);
      const files = await fetchFiles(C.admin, b, folder(b));
      const fc = JSON.parse(files[b.files[0].name].toString('utf8'));
      assert.equal(fc.type, 'FeatureCollection');
      assert.ok(!('crs' in fc), 'RFC 7946: no crs member');
      assert.equal(fc.features.length, 3);
      const names = bdtopoColumns(g).map(([n]) => n);
      for (const o of objs[g]) {
        const f = fc.features.find((x) => x.id === o.uid);
        assert.ok(f, `feature ${o.uid}`);
        assert.equal(f.type, 'Feature');
        assert.deepEqual(Object.keys(f.properties), names);
        assert.deepEqual(f.properties, expectedProps(g, o, orgOf.get(o.id)));
        assert.deepEqual(f.geometry, o.geometry, 'WGS 84 longitude, latitude as entered');
      }
    });

    test(`${g} geojson: read back by ogrinfo (WGS 84, types)`, async () => {
      const b = await batch(g, 'geojson');
      const file = path.join(folder(b), b.files[0].name);
      const s = ogrSummary(file);
      assert.equal(s.count, 3);
      assert.equal(s.epsg, 4326, s.text);
      const types = Object.fromEntries(s.fields.map(([n, t]) => [n, t]));
      for (const [n, t] of bdtopoColumns(g)) {
        // (A column null in every feature is read as String.)
        if (t !== 'String' && objs[g].every((o) => expectedProps(g, o, '')[n] === null)) continue;
        assert.equal(types[n], t, `type of ${n}`);
      }
      const feats = ogrFeatures(file);
      for (const o of objs[g]) {
        const f = feats.find((x) => x.properties.identifiants_sources === o.uid);
        assert.deepEqual(f.properties, expectedProps(g, o, orgOf.get(o.id)));
      }
    });

    test(`${g} csv: header, CRLF, CSVT types; read by GDAL's CSV driver with WKT in Lambert-93`, async () => {
      const b = await batch(g, 'csv');
      const stem = `${g}_complet_lot${b.id}`;
      assert.deepEqual(b.files.map((f) => [f.name, f.media_type, f.rows]),
        [[`${stem}.csv`, 'text/csv; charset=utf-8', 3], [`${stem}.csvt`, 'text/plain; charset=utf-8', 1]]);
      const files = await fetchFiles(C.admin, b, folder(b));
      const cols = bdtopoColumns(g);
      const text = files[`${stem}.csv`].toString('utf8');
      assert.ok(text.endsWith('\r\n') && !/[^\r]\n/.test(text), 'CRLF line breaks');
      assert.equal(text.split('\r\n')[0], ['WKT', ...cols.map(([n]) => n)].join(','));
      assert.equal(files[`${stem}.csvt`].toString('utf8'),
        `${['"WKT"', ...cols.map(([, t]) => `"${t}"`)].join(',')}\r\n`);
      const file = path.join(folder(b), `${stem}.csv`);
      const s = ogrSummary(file, CSV_OO);
      assert.equal(s.count, 3);
      assert.deepEqual(s.fields.map(([n, t]) => [n, t]), cols.map(([n, t]) => [n, t]));
      const feats = ogrFeatures(file, CSV_OO);
      for (const o of objs[g]) {
        const f = feats.find((x) => x.properties.identifiants_sources === o.uid);
        assert.ok(f, `row of ${o.uid}`);
        const want = expectedProps(g, o, orgOf.get(o.id));
        assert.deepEqual(csvNormalise(f.properties, want), want);
        const geom = l93(o);
        assert.equal(f.geometry.type, geom.type);
        assertCoords(f.geometry.coordinates, geom.coordinates, 0.0051, `${g} ${o.id} (to the centimetre)`);
      }
    });

    test(`${g} csv_shp: Shapefile column names (10 characters at most), same values`, async () => {
      const b = await batch(g, 'csv_shp');
      const stem = `${g}_complet_lot${b.id}`;
      assert.deepEqual(b.files.map((f) => f.name), [`${stem}.csv`, `${stem}.csvt`]);
      const files = await fetchFiles(C.admin, b, folder(b));
      const cols = bdtopoColumns(g, { shp: true });
      const header = files[`${stem}.csv`].toString('utf8').split('\r\n')[0].split(',');
      assert.deepEqual(header, ['WKT', ...cols.map(([n]) => n)]);
      for (const n of header) assert.ok(n.length <= 10 && /^[A-Z0-9_]+$/.test(n), `Shapefile name ${n}`);
      assert.equal(new Set(header).size, header.length, 'distinct names');
      const file = path.join(folder(b), `${stem}.csv`);
      const s = ogrSummary(file, CSV_OO);
      assert.equal(s.count, 3);
      assert.deepEqual(s.fields.map(([n, t]) => [n, t]), cols.map(([n, t]) => [n, t]));
      const feats = ogrFeatures(file, CSV_OO);
      for (const o of objs[g]) {
        const f = feats.find((x) => x.properties.ID_SOURCE === o.uid);
        const want = expectedProps(g, o, orgOf.get(o.id), { shp: true });
        assert.deepEqual(csvNormalise(f.properties, want), want);
      }
    });

    test(`${g} ign: transactions {comment, actions: [{table: ${layer}, state: Insert, data: {…, geometrie: WKT EPSG:4326}}]}`, async () => {
      const b = await batch(g, 'ign');
      assert.deepEqual(b.files.map((f) => [f.name, f.media_type, f.rows]),
        [[`${g}_complet_lot${b.id}.json`, 'application/json', 3]]);
      const files = await fetchFiles(C.admin, b, folder(b));
      const t = JSON.parse(files[b.files[0].name].toString('utf8'));
      assert.deepEqual(Object.keys(t), ['comment', 'actions']);
      assert.equal(typeof t.comment, 'string');
      assert.equal(t.actions.length, 3);
      const names = [...bdtopoColumns(g).map(([n]) => n), 'geometrie'];
      for (const o of objs[g]) {
        const a = t.actions.find((x) => x.data.identifiants_sources === o.uid);
        assert.ok(a, `action of ${o.uid}`);
        assert.deepEqual(Object.keys(a), ['table', 'state', 'data']);
        assert.equal(a.table, layer);
        assert.equal(a.state, 'Insert');
        assert.deepEqual(Object.keys(a.data), names);
        const { geometrie, ...props } = a.data;
        assert.deepEqual(props, expectedProps(g, o, orgOf.get(o.id)));
        assert.match(geometrie, new RegExp(`^${o.geometry.type.toUpperCase()}\\(`));
        assertCoords(wktPairs(geometrie), flatPairs(o.geometry), 1e-7, `${g} ${o.id} lon/lat`);
      }
    });
  }

  test('GeoJSON polygons follow the right-hand rule (RFC 7946 §3.1.6: exterior rings counterclockwise)', async () => {
    // Entered clockwise, as a digitiser may; the file must still say it counterclockwise.
    const [p] = pointsIn('31555', 1);
    const o = await validated(C.author, 'equipco', { categorie: 'Santé', nature: 'Hôpital', toponyme: 'Clinique Pasteur' },
      { type: 'Polygon', coordinates: [square(p.coordinates, 0.0003, true)] });
    try {
      assert.ok(ringArea(o.geometry.coordinates[0]) < 0, 'stored as entered (clockwise)');
      const b = await exported(C.admin, { guichet: 'equipco', format: 'geojson', mode: 'full', communes: ['31555'] });
      const files = await fetchFiles(C.admin, b, folder(b));
      const f = JSON.parse(files[b.files[0].name].toString('utf8')).features.find((x) => x.id === o.uid);
      for (const poly of f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates) {
        assert.ok(ringArea(poly[0]) > 0, `exterior ring counterclockwise: ${JSON.stringify(poly[0])}`);
        for (const hole of poly.slice(1)) assert.ok(ringArea(hole) < 0, 'holes clockwise');
      }
    } finally {
      // (Back to what the other groups expect: three equipco objects in Toulouse.)
      await amend(C.author, 'equipco', o, { operation: 'delete' });
    }
  });
});

// --- BAL ------------------------------------------------------------------------------

describe('BAL 1.4 (full, Toulouse and Péguilhan)', () => {
  const addr = {};
  let b;
  let files;

  before(async () => {
    const t = pointsIn('31555', 5);
    const p = pointsIn('31412', 2);
    const mk = async (k, c, attrs, geom) => { addr[k] = await validated(c, 'adresse', attrs, geom); };
    await mk('taur1', C.contributor, { voie_nom: 'Rue du Taur', numero: 1, position: 'entrée', certification_commune: true,
      voie_nom_oci: 'Carrièra del Taur' }, t[0]);
    await mk('taur1bis', C.contributor, { voie_nom: 'Rue du Taur', numero: 1, suffixe: 'bis', position: 'bâtiment',
      certification_commune: true, cad_parcelles: '310555000AB0001|310555000AB0002' }, t[1]);
    await mk('taur3ter', C.contributor, { voie_nom: 'Rue du Taur', numero: 3, suffixe: 'ter', position: 'entrée',
      lieudit_complement_nom: 'Le Capitole' }, t[2]);
    await mk('alsace2a', C.contributor, { voie_nom: "Rue d'Alsace-Lorraine", code_voie: 'A123', numero: 2, suffixe: 'A',
      position: 'délivrance postale', certification_commune: true }, t[3]);
    await mk('escalier', C.author, { voie_nom: 'Allée Jean Jaurès', numero: 10, position: 'cage d’escalier' }, t[4]);
    await mk('lunax', C.pegauthor, { voie_nom: 'Chemin de Lunax', numero: 5, position: 'entrée', commune_deleguee_insee: '31307',
      certification_commune: true }, p[0]);
    await mk('peg', C.pegauthor, { voie_nom: 'Route de Boulogne', numero: 12, position: 'entrée' }, p[1]);
    b = await exported(C.admin, { guichet: 'adresse', format: 'bal', mode: 'full', communes: ['31555', '31412'] });
    files = await fetchFiles(C.admin, b, folder(b));
  });

  test('one file per commune, named AAAAMMJJ_bal_<SIREN>_<commune>.csv', () => {
    assert.deepEqual(b.counts, { create: 7 });
    const names = b.files.map((f) => f.name);
    assert.equal(names.length, 2, names.join(' '));
    const day = names[0].slice(0, 8);
    const y = new Date(Date.now() - 86400e3).toISOString().slice(0, 10).replaceAll('-', '');
    const tmr = new Date(Date.now() + 86400e3).toISOString().slice(0, 10).replaceAll('-', '');
    assert.ok(day >= y && day <= tmr, `today's date: ${day}`);
    // SIRENs of the communes in the COG (213105554 Toulouse, 200064210 Péguilhan).
    assert.deepEqual(names, [`${day}_bal_200064210_peguilhan.csv`, `${day}_bal_213105554_toulouse.csv`]);
    for (const f of b.files) assert.equal(f.media_type, 'text/csv; charset=utf-8');
  });

  test('";" between columns, no quotes, UTF-8, the 1.4 columns in their order', () => {
    for (const [name, buf] of Object.entries(files)) {
      const text = buf.toString('utf8');
      assert.ok(Buffer.from(text, 'utf8').equals(buf), `${name}: UTF-8`);
      assert.ok(!text.includes('"'), `${name}: no quote character`);
      assert.ok(!text.startsWith('\ufeff'), `${name}: no BOM`);
      const { header } = balRows(buf);
      assert.deepEqual(header, BAL_COLUMNS);
    }
  });

  test('Toulouse: rows, suffixes, cle_interop, positions, parcels, certification, the 99999 row of the lieu-dit', () => {
    const name = b.files.find((f) => f.name.includes('toulouse')).name;
    const { rows } = balRows(files[name]);
    assert.equal(b.files.find((f) => f.name === name).rows, rows.length);
    const by = Object.fromEntries(rows.map((r) => [r.cle_interop, r]));
    const date = today();
    const within = (d) => Math.abs(new Date(d) - new Date(date)) <= 86400e3;
    const r1 = by['31555_xxxx_00001'];
    assert.ok(r1, Object.keys(by).join(' '));
    assert.deepEqual({ ...r1, date_der_maj: undefined, x: undefined, y: undefined, long: undefined, lat: undefined }, {
      cle_interop: '31555_xxxx_00001', commune_insee: '31555', commune_nom: 'Toulouse', commune_deleguee_insee: '',
      commune_deleguee_nom: '', voie_nom: 'Rue du Taur', lieudit_complement_nom: '', numero: '1', suffixe: '',
      position: 'entrée', cad_parcelles: '', source: 'Commune de Toulouse', certification_commune: '1',
      voie_nom_oci: 'Carrièra del Taur', voie_nom_cat: '', date_der_maj: undefined, x: undefined, y: undefined,
      long: undefined, lat: undefined,
    });
    assert.ok(within(r1.date_der_maj), r1.date_der_maj);
    assert.match(r1.long, /^\d+\.\d{7}$/);
    assert.match(r1.lat, /^\d+\.\d{7}$/);
    assert.match(r1.x, /^\d+\.\d{2}$/);
    assert.match(r1.y, /^\d+\.\d{2}$/);
    assert.equal(Number(r1.long), addr.taur1.geometry.coordinates[0]);
    assert.equal(Number(r1.lat), addr.taur1.geometry.coordinates[1]);
    const [x, y] = psql(srv.db, `SELECT to_char(ST_X(p), 'FM99999990.00') || ' ' || to_char(ST_Y(p), 'FM99999990.00')
      FROM (SELECT ST_Transform(geom, 2154) p FROM submissions WHERE id = ${addr.taur1.id}) q`).split(' ');
    assert.deepEqual([r1.x, r1.y], [x, y], 'x, y: Lambert-93 to the centimetre');
    const bis = by['31555_xxxx_00001_bis'];
    assert.deepEqual([bis.numero, bis.suffixe, bis.position, bis.cad_parcelles, bis.certification_commune],
      ['1', 'bis', 'bâtiment', '310555000AB0001|310555000AB0002', '1']);
    const ter = by['31555_xxxx_00003_ter'];
    assert.deepEqual([ter.suffixe, ter.lieudit_complement_nom, ter.certification_commune], ['ter', 'Le Capitole', '0']);
    const a = by['31555_a123_00002_a'];
    assert.deepEqual([a.voie_nom, a.suffixe, a.position], ["Rue d'Alsace-Lorraine", 'A', 'délivrance postale']);
    assert.equal(by['31555_xxxx_00010'].position, 'cage d’escalier');
    assert.equal(by['31555_xxxx_00010'].source, 'OPenIG');
    // The lieu-dit named as a complement exists as a toponym: numero 99999, no position.
    const topo = rows.filter((r) => r.numero === '99999');
    assert.equal(topo.length, 1);
    assert.deepEqual([topo[0].cle_interop, topo[0].voie_nom, topo[0].lieudit_complement_nom, topo[0].suffixe, topo[0].position],
      ['31555_xxxx_99999', 'Le Capitole', '', '', '']);
    // Rows of this commune only, every validated address of it.
    assert.ok(rows.every((r) => r.commune_insee === '31555'));
    const n = Number(psql(srv.db, "SELECT count(*) FROM submissions WHERE guichet = 'adresse' AND state = 'validated' AND operation = 'create' AND insee_commune = '31555'"));
    assert.equal(rows.length, n + 1);
  });

  test('Péguilhan: the commune déléguée (Lunax) by code and name', () => {
    const name = b.files.find((f) => f.name.includes('peguilhan')).name;
    const { rows } = balRows(files[name]);
    assert.equal(rows.length, 2);
    const l = rows.find((r) => r.voie_nom === 'Chemin de Lunax');
    assert.deepEqual([l.cle_interop, l.commune_insee, l.commune_nom, l.commune_deleguee_insee, l.commune_deleguee_nom, l.source],
      ['31412_xxxx_00005', '31412', 'Péguilhan', '31307', 'Lunax', 'Commune de Péguilhan']);
    assert.equal(rows.find((r) => r.voie_nom === 'Route de Boulogne').commune_deleguee_insee, '');
  });

  test('the reference validator (@ban-team/validateur-bal, profile 1.4) finds no error', () => {
    const paths = b.files.map((f) => path.join(folder(b), f.name));
    const v = balValidate(paths);
    // The warnings and notices, for the record.
    for (const r of v.reports) console.log(`validateur-bal: ${r.level} ${r.code} row=${r.row} (${r.file})`);
    assert.deepEqual(v.reports.filter((r) => r.level === 'E'), [], v.stdout);
    assert.equal(v.status, 0, `${v.stdout}\n${v.stderr}`);
    assert.match(v.stdout, /valid for 1\.4/);
    // What the exporter is there to get right stays silent too.
    for (const code of ['row.lieudit_complement_nom_not_declared', 'row.longlat_xy_incoherents', 'row.commune_nom_invalide',
      'row.chef_lieu_invalide', 'row.position_manquante', 'cle_interop.voie_invalide']) {
      assert.deepEqual(v.reports.filter((r) => r.code === code), [], code);
    }
  });
});

// --- incremental batches -------------------------------------------------------------------

describe('incremental batches (ERP of Blagnac): Insert, then Update and Delete, then nothing', () => {
  const scope = { communes: ['31069'] };
  const o = [];
  const last = {};	// format → last batch

  const inc = async (format) => {
    last[format] = await exported(C.admin, { guichet: 'erp', format, ...scope });
    return last[format];
  };
  const ign = async (b) => JSON.parse((await fetchFiles(C.admin, b, folder(b)))[b.files[0].name].toString('utf8'));
  const csv = async (b) => {
    await fetchFiles(C.admin, b, folder(b));
    return ogrFeatures(path.join(folder(b), b.files.find((f) => f.name.endsWith('.csv')).name), CSV_OO);
  };

  before(async () => {
    const p = pointsIn('31069', 3);
    for (let i = 0; i < 3; i++) {
      o.push(await validated(C.author, 'erp', { libelle: `Salle ${['Odyssud', 'Pierre Baudis', 'des fêtes'][i]}`,
        categorie: '3', type_principal: 'L', capacite_d_accueil_du_public: 300 + i }, p[i]));
    }
  });

  test('the first batch of a series inserts every validated object (counts, IGN Insert, csv creation)', async () => {
    const b = await inc('ign');
    assert.equal(b.mode, 'incremental');
    assert.equal(b.after_seq, 0);
    assert.deepEqual(b.counts, { create: 3 });
    const t = await ign(b);
    assert.deepEqual(t.actions.map((a) => [a.state, a.data.identifiants_sources]).sort(),
      o.map((x) => ['Insert', x.uid]).sort());
    const c = await inc('csv');
    assert.deepEqual(c.counts, { create: 3 });
    const rows = await csv(c);
    assert.deepEqual(rows.map((r) => [r.properties.operation, r.properties.identifiants_sources]).sort(),
      o.map((x) => ['creation', x.uid]).sort());
    const s = ogrSummary(path.join(folder(c), c.files[0].name), CSV_OO);
    assert.deepEqual(s.fields.at(-1), ['operation', 'String', 0]);
  });

  test('a modified and a deleted object: exactly one Update and one Delete (csv: modification, suppression)', async () => {
    o[0] = await amend(C.author, 'erp', o[0], { attributes: { ...o[0].attributes, capacite_d_accueil_du_public: 650 } });
    assert.equal(o[0].attributes.capacite_d_accueil_du_public, 650);
    const gone = await amend(C.author, 'erp', o[1], { operation: 'delete' });
    assert.equal(gone.state, 'deleted');
    const b = await inc('ign');
    assert.equal(b.after_seq, (await C.admin.req('GET', '/api/v1/exports?guichet=erp&limit=200')).json.batches
      .filter((x) => x.format === 'ign' && x.communes.join() === '31069' && x.id < b.id)[0].upto_seq, 'starts where the last one stopped');
    assert.deepEqual(b.counts, { modify: 1, delete: 1 });
    const t = await ign(b);
    assert.equal(t.actions.length, 2);
    const upd = t.actions.find((a) => a.state === 'Update');
    const del = t.actions.find((a) => a.state === 'Delete');
    assert.equal(upd.data.identifiants_sources, o[0].uid);
    assert.equal(upd.data.capacite_d_accueil_du_public, 650, 'the object as it is now');
    assert.equal(del.data.identifiants_sources, o[1].uid);
    assert.equal(upd.table, 'erp');
    assert.ok(!('operation' in upd.data), 'the IGN format says it in state');
    const rows = await csv(await inc('csv'));
    assert.deepEqual(rows.map((r) => [r.properties.identifiants_sources, r.properties.operation]).sort(),
      [[o[0].uid, 'modification'], [o[1].uid, 'suppression']].sort());
  });

  test('a batch right after is empty: 0 rows, counts {}', async () => {
    for (const f of ['ign', 'csv']) {
      const b = await inc(f);
      assert.deepEqual(b.counts, {}, f);
      assert.equal(b.total, 0);
      assert.equal(b.files.filter((x) => x.media_type !== 'text/plain; charset=utf-8').map((x) => x.rows).join(), '0', f);
    }
    const t = await ign(last.ign);
    assert.deepEqual(t.actions, []);
    assert.deepEqual(await csv(last.csv), []);
  });

  test('an empty GeoPackage still has its layer, the form\'s fields with operation, EPSG:2154', async () => {
    const first = await inc('gpkg');
    assert.deepEqual(first.counts, { create: 2 });
    const b = await inc('gpkg');
    assert.deepEqual(b.counts, {});
    await fetchFiles(C.admin, b, folder(b));
    const s = ogrSummary(path.join(folder(b), b.files[0].name));
    assert.deepEqual([s.layer, s.geometry, s.count, s.epsg], ['erp', 'Point', 0, 2154]);
    assert.deepEqual(s.fields, bdtopoColumns('erp', { incremental: true }));
  });

  test('a series of another format starts on its own: creations only, the deleted object left out', async () => {
    const b = await exported(C.admin, { guichet: 'erp', format: 'geojson', ...scope });
    assert.equal(b.after_seq, 0);
    assert.deepEqual(b.counts, { create: 2 }, 'created and deleted within the window: nothing to send');
    const fc = JSON.parse((await fetchFiles(C.admin, b, folder(b)))[b.files[0].name]);
    assert.deepEqual(fc.features.map((f) => [f.id, f.properties.operation]).sort(),
      [[o[0].uid, 'creation'], [o[2].uid, 'creation']].sort());
    assert.equal(fc.features.find((f) => f.id === o[0].uid).properties.capacite_d_accueil_du_public, 650);
  });

  test('a full snapshot holds every validated object and no deleted one', async () => {
    const b = await exported(C.admin, { guichet: 'erp', format: 'ign', mode: 'full', ...scope });
    assert.equal(b.after_seq, -1);
    assert.deepEqual(b.counts, { create: 2 });
    const t = await ign(b);
    assert.deepEqual(t.actions.map((a) => [a.state, a.data.identifiants_sources]).sort(),
      [['Insert', o[0].uid], ['Insert', o[2].uid]].sort());
    // A full snapshot does not move the incremental series.
    const next = await exported(C.admin, { guichet: 'erp', format: 'ign', ...scope });
    assert.deepEqual(next.counts, {});
    assert.equal(next.after_seq, last.ign.upto_seq);
  });
});

describe('incremental series: concurrent asks, and a batch that fails after the next was asked', () => {
  test('asked at the same moment: each answer is 202 or 409 batch_in_progress, and the windows follow each other', async () => {
    const body = { guichet: 'equipco', format: 'csv_shp', communes: ['31069'] };
    const rs = await Promise.all([1, 2, 3, 4].map(() => C.admin.req('POST', '/api/v1/exports', body)));
    for (const r of rs) {
      assert.ok([202, 409].includes(r.status), r.text);
      if (r.status === 409) assertErrorBody(r.text, 'batch_in_progress');
    }
    const ok = rs.filter((r) => r.status === 202).map((r) => r.json).sort((p, q) => p.id - q.id);
    assert.ok(ok.length >= 1);
    for (let i = 1; i < ok.length; i++) assert.equal(ok[i].after_seq, ok[i - 1].upto_seq, 'chained');
    for (const b of ok) assert.equal((await finished(C.admin, b.id)).state, 'done');
  });

  test('one batch of a series at a time: asked while one is under way → 409; once it fails, the next covers its window', async () => {
    // Batch A is being written (live heartbeat): a second batch of the same series is
    // refused, so that A's window is never skipped. A then fails (a full disk, say):
    // the next batch starts where the last good one stopped and carries A's changes.
    const [p] = pointsIn('31069', 1);
    const e = await validated(C.author, 'equipco', { categorie: 'Sport', nature: 'Stade', toponyme: 'Stade de Blagnac' },
      { type: 'Polygon', coordinates: [square(p.coordinates, 0.0003)] });
    const scope = "guichet_scope('{}', '{31069}')";
    const a = Number(psql(srv.db, `INSERT INTO export_batches (guichet, format, mode, communes, scope, after_seq, upto_seq,
      created_by, state, attempts, started_at, heartbeat_at) SELECT 'equipco', 'ign', 'incremental', '{31069}', ${scope},
      coalesce((SELECT max(upto_seq) FROM export_batches WHERE guichet = 'equipco' AND format = 'ign' AND mode = 'incremental'
      AND state <> 'failed' AND scope = ${scope}), 0), (SELECT seq FROM event_head), ${U.admin.id}, 'running', 1, now(), now()
      RETURNING id`));
    FAKED.add(a);
    const busy = await C.admin.req('POST', '/api/v1/exports', { guichet: 'equipco', format: 'ign', communes: ['31069'] });
    assertErrorBody(busy.text, 'batch_in_progress');
    assert.equal(busy.status, 409);
    // Another scope, or a full snapshot, is another series.
    assert.equal((await C.admin.req('POST', '/api/v1/exports', { guichet: 'equipco', format: 'ign', mode: 'full', communes: ['31069'] })).status, 202);
    psql(srv.db, `UPDATE export_batches SET state = 'failed', error = 'disque plein', finished_at = now() WHERE id = ${a}`);
    const c = await exported(C.admin, { guichet: 'equipco', format: 'ign', communes: ['31069'] });
    const t = JSON.parse((await fetchFiles(C.admin, c, folder(c)))[c.files[0].name]);
    assert.ok(t.actions.some((x) => x.state === 'Insert' && x.data.identifiants_sources === e.uid),
      `the object validated in the failed batch's window was not sent (${JSON.stringify(c.counts)})`);
  });
});

describe('incremental series: an empty window', () => {
  test('a batch with nothing new is empty, and the series goes on after it', async () => {
    const body = { guichet: 'equipco', format: 'gpkg', communes: ['31069'] };
    const first = await exported(C.admin, body);
    const empty = await exported(C.admin, body);
    assert.equal(empty.after_seq, first.upto_seq);
    assert.deepEqual(empty.counts, {});
    const [p] = pointsIn('31069', 1);
    const e = await validated(C.author, 'equipco', { categorie: 'Sport', nature: 'Piscine', toponyme: 'Piscine de Blagnac' },
      { type: 'Polygon', coordinates: [square(p.coordinates, 0.0002)] });
    const r = await C.admin.req('POST', '/api/v1/exports', body);
    assert.equal(r.status, 202, `the series is blocked: ${r.text}`);
    const c = await finished(C.admin, r.json.id);
    assert.equal(c.state, 'done');
    assert.equal(c.counts.create, 1, JSON.stringify(c.counts));
    await fetchFiles(C.admin, c, folder(c));
    const f = ogrFeatures(path.join(folder(c), c.files[0].name));
    assert.ok(f.some((x) => x.properties.identifiants_sources === e.uid));
  });
});

describe('incremental BAL (Colomiers, Tournefeuille): the files of the communes that changed, whole', () => {
  const scope = { communes: ['31149', '31557'] };
  const a = {};
  const bal = async () => {
    const b = await exported(C.admin, { guichet: 'adresse', format: 'bal', ...scope });
    const files = await fetchFiles(C.admin, b, folder(b));
    const out = {};
    for (const [name, buf] of Object.entries(files)) out[/_bal_\d+_([a-z-]+)\.csv$/.exec(name)[1]] = balRows(buf).rows.map((r) => r.cle_interop).sort();
    return { b, files: out, paths: b.files.map((f) => path.join(folder(b), f.name)) };
  };

  before(async () => {
    const c = pointsIn('31149', 3);
    const t = pointsIn('31557', 1);
    for (const [k, n, p] of [['c1', 1, c[0]], ['c2', 2, c[1]], ['c3', 3, c[2]]]) {
      a[k] = await validated(C.author, 'adresse', { voie_nom: 'Rue du Centre', numero: n, position: 'entrée' }, p);
    }
    a.t1 = await validated(C.author, 'adresse', { voie_nom: 'Avenue du Marquisat', numero: 7, position: 'entrée' }, t[0]);
  });

  test('first batch: a file per commune, each valid for BAL 1.4', async () => {
    const { b, files, paths } = await bal();
    assert.deepEqual(b.counts, { create: 4 });
    assert.deepEqual(files, {
      colomiers: ['31149_xxxx_00001', '31149_xxxx_00002', '31149_xxxx_00003'],
      tournefeuille: ['31557_xxxx_00007'],
    });
    const v = balValidate(paths);
    assert.equal(v.status, 0, v.stdout);
  });

  test('an address moved to another commune: both communes’ files are sent again', async () => {
    const [p] = pointsIn('31557', 1);
    a.c1 = await amend(C.author, 'adresse', a.c1, { attributes: { ...a.c1.attributes, commune_insee: undefined }, geometry: p });
    assert.equal(a.c1.insee_commune, '31557');
    const { b, files } = await bal();
    assert.deepEqual(b.counts, { modify: 1 });
    assert.deepEqual(files.tournefeuille, ['31557_xxxx_00001', '31557_xxxx_00007']);
    // The BAN replaces a commune's addresses with the file it receives: without a new
    // Colomiers file, 31149_xxxx_00001 stays there.
    assert.deepEqual(files.colomiers, ['31149_xxxx_00002', '31149_xxxx_00003'],
      'the file of the commune the address left is missing');
  });

  test('a deleted address: its commune’s file without it', async () => {
    await amend(C.author, 'adresse', a.c2, { operation: 'delete' });
    const { b, files, paths } = await bal();
    assert.deepEqual(b.counts, { delete: 1 });
    assert.deepEqual(files, { colomiers: ['31149_xxxx_00003'] });
    assert.equal(balValidate(paths).status, 0);
  });

  test('then nothing: no file, counts {}', async () => {
    const { b, files } = await bal();
    assert.deepEqual(b.counts, {});
    assert.deepEqual(files, {});
  });
});

// --- scopes ----------------------------------------------------------------------------------

describe('scopes: départements and communes filter rows; each scope has its own series', () => {
  const obj = {};
  const uids = async (body) => {
    const b = await exported(C.admin, { guichet: 'erp', format: 'geojson', ...body });
    const fc = JSON.parse((await fetchFiles(C.admin, b, folder(b)))[b.files[0].name]);
    return { b, ids: fc.features.map((f) => f.id).sort() };
  };

  before(async () => {
    const [b1] = pointsIn('31044', 1);
    const [m1] = pointsIn('34172', 1);
    obj.balma = await validated(C.author, 'erp', { libelle: 'Salle polyvalente de Balma', categorie: '3', type_principal: 'L' }, b1);
    obj.mtp = await validated(C.author, 'erp', { libelle: 'Opéra Comédie', categorie: '1', type_principal: 'L' }, m1);
  });

  test('departements ["34"] holds Montpellier only; communes ["31044"] Balma only', async () => {
    assert.deepEqual((await uids({ departements: ['34'] })).ids, [obj.mtp.uid]);
    assert.deepEqual((await uids({ communes: ['31044'] })).ids, [obj.balma.uid]);
  });

  test('a batch of one scope does not consume another scope’s changes', async () => {
    assert.deepEqual((await uids({ departements: ['34'] })).ids, [], 'its own series: consumed');
    const both = await uids({ communes: ['31044', '34172'] });
    assert.equal(both.b.after_seq, 0, 'a new scope, a new series');
    assert.deepEqual(both.ids, [obj.balma.uid, obj.mtp.uid].sort());
  });

  test('a new object reaches the series of its scopes only', async () => {
    const [p] = pointsIn('34129', 1);
    obj.lattes = await validated(C.author, 'erp', { libelle: 'Musée Henri Prades', categorie: '4', type_principal: 'Y' }, p);
    assert.deepEqual((await uids({ departements: ['34'] })).ids, [obj.lattes.uid]);
    assert.deepEqual((await uids({ communes: ['31044'] })).ids, []);
    assert.deepEqual((await uids({ communes: ['31044', '34172'] })).ids, [], 'Lattes is outside');
  });

  test('the order of the codes does not make another scope', async () => {
    const prev = (await C.admin.req('GET', '/api/v1/exports?guichet=erp&limit=200')).json.batches
      .find((x) => x.format === 'geojson' && x.communes.join() === '31044,34172');
    const r = await uids({ communes: ['34172', '31044'] });
    assert.equal(r.b.after_seq, prev.upto_seq);
  });

  test('départements and communes together: the union', async () => {
    const r = await uids({ departements: ['34'], communes: ['31044'], mode: 'full' });
    assert.deepEqual(r.ids, [obj.balma.uid, obj.mtp.uid, obj.lattes.uid].sort());
  });

  test('another format has its own series over the same scope', async () => {
    const b = await exported(C.admin, { guichet: 'erp', format: 'csv', departements: ['34'] });
    assert.deepEqual(b.counts, { create: 2 });
  });
});

// --- files, hashes, downloads, events ----------------------------------------------------------

describe('files as recorded: SHA-256, sizes, ETag, 304, 404, 410; the export event', () => {
  let b;

  before(async () => {
    b = await exported(C.admin, { guichet: 'erp', format: 'csv', mode: 'full', communes: ['31555'] });
  });

  test('each file’s sha256 and bytes match the downloaded bytes and the file on disk', async () => {
    assert.equal(b.files.length, 2);
    for (const f of b.files) {
      const r = await download(C.admin, f.url);
      assert.equal(r.status, 200);
      assert.equal(r.body.length, f.bytes);
      assert.equal(sha256(r.body), f.sha256);
      assert.match(f.sha256, /^[0-9a-f]{64}$/);
      assert.ok(fs.readFileSync(path.join(exportDir, String(b.id), f.name)).equals(r.body), 'export_dir/<id>/<name>');
      assert.equal(f.url, `/api/v1/exports/${b.id}/files/${f.name}`);
    }
  });

  test('downloads again byte for byte; ETag "<sha256>", Content-Type, Content-Disposition attachment', async () => {
    for (const f of b.files) {
      const one = await download(C.admin, f.url);
      const two = await download(C.admin, f.url);
      assert.ok(one.body.equals(two.body));
      assert.equal(two.headers.get('etag'), `"${f.sha256}"`);
      assert.equal(two.headers.get('content-type'), f.media_type);
      assert.equal(two.headers.get('content-disposition'), `attachment; filename="${f.name}"`);
      assert.equal(two.headers.get('x-content-type-options'), 'nosniff');
    }
  });

  test('If-None-Match with the ETag → 304 without a body; another ETag → 200', async () => {
    const f = b.files[0];
    const r = await download(C.admin, f.url, { 'If-None-Match': `"${f.sha256}"` });
    assert.equal(r.status, 304);
    assert.equal(r.body.length, 0);
    assert.equal(r.headers.get('etag'), `"${f.sha256}"`);
    const o = await download(C.admin, f.url, { 'If-None-Match': `"${'0'.repeat(64)}"` });
    assert.equal(o.status, 200);
    assert.equal(o.body.length, f.bytes);
  });

  test('If-None-Match as a list, weak, or * → 304 (RFC 9110 §13.1.2, as static files answer)', async () => {
    const f = b.files[0];
    const got = {};
    for (const inm of [`"${'0'.repeat(64)}", "${f.sha256}"`, `W/"${f.sha256}"`, '*']) {
      got[inm] = (await download(C.admin, f.url, { 'If-None-Match': inm })).status;
    }
    assert.deepEqual(got, Object.fromEntries(Object.keys(got).map((k) => [k, 304])));
  });

  test('unknown batch, unknown file → 404; a name with a path in it → 400 path_invalid', async () => {
    const cases = ['/api/v1/exports/987654', '/api/v1/exports/987654/files/x.csv', `/api/v1/exports/${b.id}/files/nope.csv`,
      `/api/v1/exports/${b.id}/files/${b.files[0].name}.`, `/api/v1/exports/${b.id}/files/${b.files[0].name.toUpperCase()}`];
    for (const url of cases) {
      const r = await C.admin.req('GET', url);
      assert.equal(r.status, 404, `${url}: ${r.text}`);
      assertErrorBody(r.text, 'not_found');
    }
    for (const url of [`/api/v1/exports/${b.id}/files/..%2F..%2F..%2Fetc%2Fpasswd`,
      `/api/v1/exports/${b.id}/files/${encodeURIComponent(`../${b.id}/${b.files[0].name}`)}`]) {
      const r = await C.admin.req('GET', url);
      assert.equal(r.status, 400, `${url}: ${r.text}`);
      assertErrorBody(r.text, 'path_invalid');
    }
    // Another batch's file under this batch's id.
    const other = await exported(C.admin, { guichet: 'erp', format: 'geojson', mode: 'full', communes: ['31555'] });
    assert.equal((await C.admin.req('GET', `/api/v1/exports/${b.id}/files/${other.files[0].name}`)).status, 404);
  });

  test('a file gone from the disk, or changed in size → 410 file_gone', async () => {
    const x = await exported(C.admin, { guichet: 'erp', format: 'csv_shp', mode: 'full', communes: ['31555'] });
    const [csv, csvt] = x.files;
    fs.rmSync(path.join(exportDir, String(x.id), csv.name));
    let r = await C.admin.req('GET', csv.url);
    assert.equal(r.status, 410, r.text);
    assertErrorBody(r.text, 'file_gone');
    fs.appendFileSync(path.join(exportDir, String(x.id), csvt.name), 'x');
    r = await C.admin.req('GET', csvt.url);
    assert.equal(r.status, 410, r.text);
  });

  test('an "export" event records the batch and its files, by the admin who asked', async () => {
    const ev = JSON.parse(psql(srv.db, `SELECT json_build_object('actor', actor_id, 'submission', submission_id, 'payload', payload)
      FROM events WHERE kind = 'export' AND payload->>'batch' = '${b.id}'`));
    assert.equal(ev.actor, U.admin.id);
    assert.equal(ev.submission, null);
    assert.deepEqual({ ...ev.payload, files: undefined }, { batch: b.id, guichet: 'erp', format: 'csv', mode: 'full',
      counts: b.counts, files: undefined });
    assert.deepEqual(ev.payload.files.map((f) => [f.name, f.sha256, f.bytes, f.rows]).sort(),
      b.files.map((f) => [f.name, f.sha256, f.bytes, f.rows]).sort());
    const n = Number(psql(srv.db, `SELECT count(*) FROM events WHERE kind = 'export' AND payload->>'batch' = '${b.id}'`));
    assert.equal(n, 1);
  });

  test('recorded files are never rewritten (export_files is append-only)', () => {
    assert.throws(() => psql(srv.db, `UPDATE export_files SET bytes = 1 WHERE batch_id = ${b.id}`));
    assert.throws(() => psql(srv.db, `DELETE FROM export_files WHERE batch_id = ${b.id}`));
  });

  test('GET /api/v1/exports lists batches newest first, by guichet, limit', async () => {
    const r = await C.admin.req('GET', '/api/v1/exports?guichet=erp&limit=3');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.batches.length, 3);
    assert.ok(r.json.batches.every((x) => x.guichet === 'erp'));
    const ids = r.json.batches.map((x) => x.id);
    assert.deepEqual(ids, [...ids].sort((p, q) => q - p));
    const all = (await C.admin.req('GET', '/api/v1/exports')).json.batches;
    assert.ok(all.length <= 50);
    assert.ok(new Set(all.map((x) => x.guichet)).size >= 2, 'every guichet without the filter');
  });
});

// --- jobs -----------------------------------------------------------------------------------

describe('jobs: 202 then progress; taken over when the writer stops; abandoned; failed', () => {
  let failedError = null;
  /** A batch inserted as a server would have left it. */
  function insertBatch({ state = 'running', attempts = 1, heartbeat = "now() - interval '5 minutes'", format = 'csv' } = {}) {
    return Number(psql(srv.db, `INSERT INTO export_batches (guichet, format, mode, communes, scope, after_seq, upto_seq,
      created_by, state, attempts, started_at, heartbeat_at) VALUES ('erp', '${format}', 'full', '{31555}',
      guichet_scope('{}', '{31555}'), -1, (SELECT seq FROM event_head), ${U.admin.id}, '${state}', ${attempts},
      ${heartbeat}, ${heartbeat}) RETURNING id`));
  }

  test('POST answers 202 with the batch (queued); GET then shows it done with progress = total', async () => {
    const r = await C.admin.req('POST', '/api/v1/exports', { guichet: 'erp', format: 'geojson', mode: 'full', communes: ['31555'] });
    assert.equal(r.status, 202, r.text);
    const q = r.json;
    assert.ok(['queued', 'running'].includes(q.state), q.state);
    assert.deepEqual([q.guichet, q.format, q.mode, q.communes, q.departements, q.after_seq, q.progress, q.error, q.files],
      ['erp', 'geojson', 'full', ['31555'], [], -1, 0, null, []]);
    assert.equal(q.created_by, U.admin.id);
    assert.equal(q.created_by_name, 'Nom admin');
    const d = await finished(C.admin, q.id);
    assert.equal(d.state, 'done');
    assert.equal(d.total, 3);
    assert.equal(d.progress, 3);
    assert.ok(d.started_at && d.finished_at && d.finished_at >= d.started_at);
    assert.equal(Number(psql(srv.db, `SELECT attempts FROM export_batches WHERE id = ${q.id}`)), 1);
  });

  test('BAL: a done batch shows progress = total', async () => {
    // Toulouse has one lieu-dit row (99999) besides its addresses.
    const d = await exported(C.admin, { guichet: 'adresse', format: 'bal', mode: 'full', communes: ['31555'] });
    assert.ok(d.progress <= d.total, `progress ${d.progress} of total ${d.total}`);
    assert.equal(d.progress, d.total);
  });

  test('a running batch whose heartbeat stopped is taken over and finished', async () => {
    const id = insertBatch();
    const d = await finished(C.admin, id);
    assert.equal(d.state, 'done', d.error);
    assert.deepEqual(d.counts, { create: 3 });
    assert.equal(Number(psql(srv.db, `SELECT attempts FROM export_batches WHERE id = ${id}`)), 2);
    for (const f of d.files) assert.equal(sha256(fs.readFileSync(path.join(exportDir, String(id), f.name))), f.sha256);
  });

  test('a running batch with a live heartbeat is left to its writer', async () => {
    const id = insertBatch({ heartbeat: 'now()' });
    await sleep(2500);
    const r = (await C.admin.req('GET', `/api/v1/exports/${id}`)).json;
    assert.equal(r.state, 'running');
    assert.equal(Number(psql(srv.db, `SELECT attempts FROM export_batches WHERE id = ${id}`)), 1);
    psql(srv.db, `UPDATE export_batches SET state = 'failed', error = 'test' WHERE id = ${id}`);
  });

  test('a batch tried three times is abandoned (failed, in French)', async () => {
    const id = insertBatch({ attempts: 3 });
    const d = await finished(C.admin, id);
    assert.equal(d.state, 'failed');
    assert.equal(d.error, 'abandonné après 3 tentatives');
    assert.deepEqual(d.files, []);
  });

  test('an export_dir that cannot be written: the batch fails with a French message; the next one takes its window', async () => {
    const tmp = makeTemp('guichet-exports-bad-');
    fs.writeFileSync(path.join(tmp, 'a-file'), 'not a folder');
    const s2 = await startServer({ env: { ...FAST_ARGON2, GUICHET_EXPORT_DIR: path.join(tmp, 'a-file', 'exports') } });
    try {
      const org = addOrg(s2.db, { name: 'OPenIG', kind: 'openig', departements: '31' });
      const u = addUser(s2.db, { email: 'admin@exports.test', org, role: 'admin' });
      const c = new Client(s2.base);
      await c.login(u.email, u.password);
      const q = await ask(c, { guichet: 'erp', format: 'geojson' });
      const d = await finished(c, q.id);
      assert.equal(d.state, 'failed');
      assert.deepEqual(d.files, []);
      assert.ok(d.error && d.error.length > 0);
      assert.equal(psql(s2.db, `SELECT count(*) FROM events WHERE kind = 'export'`), '0', 'no event for a failed batch');
      const q2 = await ask(c, { guichet: 'erp', format: 'geojson' });
      assert.equal(q2.after_seq, q.after_seq, 'a failed batch leaves its window to the next');
      failedError = d.error;
    } finally {
      await s2.stop();
      rmTemp(tmp);
    }
  });

  test('the message of that failure is French (what the admin reads)', () => {
    assert.ok(failedError, 'the previous test failed a batch');
    // A French sentence, not only the system's (English) strerror after the path.
    assert.match(failedError, /impossible|dossier|répertoire|écrire|écriture|créer|création/i, `French: ${failedError}`);
  });

  test('two servers share the queue: each batch written once', async () => {
    const s2 = await startServer({ db: srv.db, migrate: false, env: { ...FAST_ARGON2, GUICHET_EXPORT_DIR: exportDir, GUICHET_EXPORT_WORKERS: 2 } });
    try {
      const ids = [];
      for (const format of ['gpkg', 'geojson', 'csv', 'csv_shp', 'ign', 'geojson']) {
        ids.push((await ask(C.admin, { guichet: 'equipco', format, mode: 'full', communes: ['31555'] })).id);
      }
      for (const id of ids) {
        const d = await finished(C.admin, id);
        assert.equal(d.state, 'done', d.error);
        assert.deepEqual(d.counts, { create: 3 });
      }
      const rows = psql(srv.db, `SELECT b.attempts, (SELECT count(*) FROM events e WHERE e.kind = 'export'
        AND e.payload->>'batch' = b.id::text) FROM export_batches b WHERE b.id IN (${ids.join(',')}) ORDER BY b.id`);
      assert.deepEqual(rows.split('\n'), ids.map(() => '1|1'));
    } finally {
      await s2.stop();
    }
  });
});

// --- authorisation and parameters ----------------------------------------------------------------

describe('authorisation: admins only (ACT_EXPORT), tokens with the export scope', () => {
  let b;
  const routes = () => [
    ['POST', '/api/v1/exports', { guichet: 'erp', format: 'csv', mode: 'full', communes: ['31555'] }, 202],
    ['GET', '/api/v1/exports', undefined, 200],
    ['POST', '/api/v1/exports/preview', { guichet: 'erp', format: 'csv', communes: ['31555'] }, 200],
    ['GET', `/api/v1/exports/${b.id}`, undefined, 200],
    ['GET', b.files[0].url, undefined, 200],
  ];

  before(async () => {
    b = await exported(C.admin, { guichet: 'erp', format: 'ign', mode: 'full', communes: ['31555'] });
  });

  for (const [role, status, code] of [['anon', 401, 'authentication_required'], ['contributor', 403, 'forbidden'],
    ['reviewer', 403, 'forbidden'], ['org_admin', 403, 'forbidden']]) {
    test(`${role} → ${status} on every export route`, async () => {
      for (const [method, url, body] of routes()) {
        const r = await C[role].req(method, url, body);
        assert.equal(r.status, status, `${method} ${url}: ${r.text}`);
        assertErrorBody(r.text, code);
      }
    });
  }

  test('the platform admin → 2xx on every export route', async () => {
    for (const [method, url, body, status] of routes()) {
      const r = await C.admin.req(method, url, body);
      assert.equal(r.status, status, `${method} ${url}: ${r.text}`);
    }
  });

  test('an admin’s token: with the export scope it may; with read only → 403 scope_missing', async () => {
    const mk = async (scopes) => {
      const r = await C.admin.req('POST', '/api/v1/account/tokens', { name: `export ${scopes.join(' ')}`, scopes });
      assert.equal(r.status, 201, r.text);
      return new TokenClient(srv.base, r.json.token);
    };
    const good = await mk(['export']);
    const bad = await mk(['read']);
    for (const [method, url, body, status] of routes()) {
      const r = await good.req(method, url, body);
      assert.equal(r.status, status, `token export: ${method} ${url}: ${r.text}`);
      const x = await bad.req(method, url, body);
      assert.equal(x.status, 403, `token read: ${method} ${url}: ${x.text}`);
      assertErrorBody(x.text, 'scope_missing');
    }
    const d = await download(good, b.files[0].url);
    assert.equal(sha256(d.body), b.files[0].sha256);
  });

  test('a contributor cannot give a token the export scope', async () => {
    const r = await C.contributor.req('POST', '/api/v1/account/tokens', { name: 'export', scopes: ['export'] });
    assert.equal(r.status, 400, r.text);
    assertErrorBody(r.text, 'scope_not_allowed', 'scopes');
  });
});

describe('parameters: 400 naming the field; formats that do not apply → 422', () => {
  const base = { guichet: 'erp', format: 'csv' };
  const bad = [
    [{ format: 'csv' }, 'guichet', 'param_missing'],
    [{ guichet: 'erp' }, 'format', 'param_missing'],
    [{ ...base, guichet: 'routes' }, 'guichet', 'param_invalid'],
    [{ ...base, guichet: 3 }, 'guichet', 'param_invalid'],
    [{ ...base, format: 'shp' }, 'format', 'param_invalid'],
    [{ ...base, format: 'GPKG' }, 'format', 'param_invalid'],
    [{ ...base, mode: 'partial' }, 'mode', 'param_invalid'],
    [{ ...base, mode: null }, 'mode', 'param_invalid'],
    [{ ...base, departements: ['311'] }, 'departements', 'param_invalid'],
    [{ ...base, departements: '31' }, 'departements', 'param_invalid'],
    [{ ...base, departements: ['31', '31'] }, 'departements', 'param_invalid'],
    [{ ...base, communes: ['3155'] }, 'communes', 'param_invalid'],
    [{ ...base, communes: [31555] }, 'communes', 'param_invalid'],
    [{ ...base, communes: ['31555', '31555'] }, 'communes', 'param_invalid'],
  ];
  for (const route of ['/api/v1/exports', '/api/v1/exports/preview']) {
    for (const [body, field, code] of bad) {
      test(`POST ${route} ${JSON.stringify(body)} → 400 ${code} ${field}`, async () => {
        const r = await C.admin.req('POST', route, body);
        assert.equal(r.status, 400, r.text);
        assertErrorBody(r.text, code, field);
      });
    }
    for (const [g, f] of [['erp', 'bal'], ['equipco', 'bal'], ['adresse', 'gpkg'], ['adresse', 'csv'], ['adresse', 'ign']]) {
      test(`POST ${route} ${g} in ${f} → 422 format_not_applicable`, async () => {
        const r = await C.admin.req('POST', route, { guichet: g, format: f });
        assert.equal(r.status, 422, r.text);
        assertErrorBody(r.text, 'format_not_applicable', 'format');
      });
    }
  }

  test('no batch is recorded for a refused request', async () => {
    const n = psql(srv.db, 'SELECT count(*) FROM export_batches');
    await C.admin.req('POST', '/api/v1/exports', { guichet: 'adresse', format: 'gpkg' });
    await C.admin.req('POST', '/api/v1/exports', { guichet: 'erp', format: 'nope' });
    assert.equal(psql(srv.db, 'SELECT count(*) FROM export_batches'), n);
  });

  for (const [url, field, code, status] of [
    ['/api/v1/exports?limit=0', 'limit', 'param_invalid'],
    ['/api/v1/exports?limit=201', 'limit', 'param_invalid'],
    ['/api/v1/exports?limit=x', 'limit', 'param_invalid'],
    ['/api/v1/exports?limit=1&limit=2', 'limit', 'param_repeated'],
    ['/api/v1/exports?guichet=routes', 'guichet', 'param_invalid'],
    ['/api/v1/exports/0', 'id', 'param_invalid', 404],
    ['/api/v1/exports/abc', 'id', 'param_invalid', 404],
    ['/api/v1/exports/abc/files/x.csv', 'id', 'param_invalid', 404],
    [`/api/v1/exports/1/files/${'a'.repeat(201)}`, 'name', 'param_invalid', 404],
  ]) {
    // (A path that cannot name a resource is 404, the parameter still named.)
    test(`GET ${url.length > 60 ? `${url.slice(0, 60)}…` : url} → ${status ?? 400} ${code} ${field}`, async () => {
      const r = await C.admin.req('GET', url);
      assert.equal(r.status, status ?? 400, r.text);
      assertErrorBody(r.text, code, field);
    });
  }
});

// --- preview -------------------------------------------------------------------------------------

describe('POST /api/v1/exports/preview: columns and the first rows (20 at most)', () => {
  const objs = [];
  const scope = { communes: ['31561'] };

  before(async () => {
    const p = pointsIn('31561', 21);
    for (let i = 0; i < 21; i++) {
      objs.push(await validated(C.author, 'erp', { libelle: `Commerce ${i + 1} de L'Union`, categorie: '5', type_principal: 'M',
        public: i % 2 === 0, capacite_d_accueil_du_public: 10 + i }, p[i]));
    }
  });

  test('BD TOPO formats: WKT then the columns; 20 rows of text, in the order of the file', async () => {
    for (const format of ['csv', 'gpkg', 'geojson', 'ign']) {
      const r = await C.admin.req('POST', '/api/v1/exports/preview', { guichet: 'erp', format, mode: 'full', ...scope });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.columns, ['WKT', ...bdtopoColumns('erp').map(([n]) => n)], format);
      assert.equal(r.json.rows.length, 20);
      for (const row of r.json.rows) assert.equal(row.length, r.json.columns.length);
      assert.deepEqual(r.json.rows.map((x) => x[1]), objs.slice(0, 20).map((o) => o.uid));
      const first = Object.fromEntries(r.json.columns.map((c, i) => [c, r.json.rows[0][i]]));
      assert.match(first.WKT, /^POINT\(\d+(\.\d+)? \d+(\.\d+)?\)$/);
      assert.equal(first.sources, 'OPenIG');
      assert.equal(first.capacite_d_accueil_du_public, '10');
      assert.equal(first.activite_principale, null);
    }
  });

  test('csv_shp previews the Shapefile names', async () => {
    const r = await C.admin.req('POST', '/api/v1/exports/preview', { guichet: 'erp', format: 'csv_shp', mode: 'full', ...scope });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.columns, ['WKT', ...bdtopoColumns('erp', { shp: true }).map(([n]) => n)]);
  });

  test('BAL: the columns of the file and its lines', async () => {
    const r = await C.admin.req('POST', '/api/v1/exports/preview', { guichet: 'adresse', format: 'bal', mode: 'full', communes: ['31412'] });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.columns, BAL_COLUMNS);
    assert.deepEqual(r.json.rows.map((x) => x[0]).sort(), ['31412_xxxx_00005', '31412_xxxx_00012']);
  });

  test('incremental: the window the next batch of the series would have, with the operation column', async () => {
    let r = await C.admin.req('POST', '/api/v1/exports/preview', { guichet: 'erp', format: 'csv', mode: 'incremental', ...scope });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.columns.at(-1), 'operation');
    assert.equal(r.json.rows.length, 20);
    assert.ok(r.json.rows.every((x) => x.at(-1) === 'creation'));
    const b = await exported(C.admin, { guichet: 'erp', format: 'csv', mode: 'incremental', ...scope });
    assert.deepEqual(b.counts, { create: 21 });
    r = await C.admin.req('POST', '/api/v1/exports/preview', { guichet: 'erp', format: 'csv', mode: 'incremental', ...scope });
    assert.deepEqual(r.json.rows, []);
    assert.equal(Number(r.json.after_seq), b.upto_seq);
  });

  test('without mode, the preview shows what POST /api/v1/exports with the same body would hold (incremental)', async () => {
    // POST /api/v1/exports defaults to incremental; the series of csv over L'Union was just sent.
    const body = { guichet: 'erp', format: 'csv', ...scope };
    const r = await C.admin.req('POST', '/api/v1/exports/preview', body);
    assert.equal(r.status, 200, r.text);
    const b = await exported(C.admin, body);
    assert.equal(b.mode, 'incremental');
    assert.deepEqual(b.counts, {});
    assert.deepEqual(r.json.rows, [], 'the preview showed rows the batch does not hold');
  });

  test('a preview writes nothing', async () => {
    const n = psql(srv.db, "SELECT count(*) || '/' || (SELECT count(*) FROM events) FROM export_batches");
    await C.admin.req('POST', '/api/v1/exports/preview', { guichet: 'erp', format: 'gpkg', ...scope });
    assert.equal(psql(srv.db, "SELECT count(*) || '/' || (SELECT count(*) FROM events) FROM export_batches"), n);
  });
});

// --- the command line --------------------------------------------------------------------------------

describe('guichet export', () => {
  test('--guichet erp --format geojson --mode full writes a batch and prints its files', async () => {
    const r = runGuichet(['export', '--guichet', 'erp', '--format', 'geojson', '--mode', 'full', '--communes', '31555'],
      { PGDATABASE: srv.db, GUICHET_EXPORT_DIR: exportDir });
    assert.equal(r.status, 0, r.stderr);
    const id = Number(/^batch (\d+) in (.*):$/m.exec(r.stdout)?.[1]);
    assert.ok(id > 0, r.stdout);
    const b = (await C.admin.req('GET', `/api/v1/exports/${id}`)).json;
    assert.equal(b.state, 'done');
    assert.equal(b.created_by, null, 'asked on the command line');
    assert.deepEqual(b.counts, { create: 3 });
    assert.equal(b.files.length, 1);
    for (const f of b.files) {
      assert.match(r.stdout, new RegExp(`^ +${f.name.replaceAll('.', '\\.')} +${f.rows} row\\(s\\) +${f.bytes} bytes +sha256 ${f.sha256}$`, 'm'),
        `stdout lists ${f.name}:\n${r.stdout}`);
      const d = await download(C.admin, f.url);
      assert.equal(sha256(d.body), f.sha256);
    }
    const ev = psql(srv.db, `SELECT coalesce(actor_id::text, 'null') FROM events WHERE kind = 'export' AND payload->>'batch' = '${id}'`);
    assert.equal(ev, 'null');
  });

  test('bad usage → status 2 and the usage line', () => {
    for (const args of [['--guichet', 'erp'], ['--guichet', 'erp', '--format', 'bal'], ['--guichet', 'adresse', '--format', 'csv'],
      ['--guichet', 'erp', '--format', 'csv', '--mode', 'partial'], ['--guichet', 'erp', '--format', 'csv', '--communes', "31555'"],
      ['--guichet', 'erp', '--format', 'csv', '--what', 'x']]) {
      const r = runGuichet(['export', ...args], { PGDATABASE: srv.db, GUICHET_EXPORT_DIR: exportDir });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /usage: guichet export/);
    }
  });
});

// --- the event log ------------------------------------------------------------------------------------

describe('the event log', () => {
  test('one export event per batch written; guichet audit verify: intact', async () => {
    const rows = psql(srv.db, `SELECT b.id || ' ' || (SELECT count(*) FROM events e WHERE e.kind = 'export'
      AND e.payload->>'batch' = b.id::text) FROM export_batches b WHERE b.state = 'done' ORDER BY b.id`);
    for (const l of rows.split('\n')) {
      if (!FAKED.has(Number(l.split(' ')[0]))) assert.match(l, / 1$/, `batch ${l}`);
    }
    const failed = psql(srv.db, `SELECT count(*) FROM events e JOIN export_batches b ON e.payload->>'batch' = b.id::text
      WHERE e.kind = 'export' AND b.state <> 'done'`);
    assert.equal(failed, '0');
    const r = runGuichet(['audit', 'verify'], { PGDATABASE: srv.db });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^intact: \d+ event\(s\)/);
  });
});
