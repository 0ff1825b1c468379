// Golden files of the exports: a fixed data set (records entered through
// the API at fixed places, then given fixed uids and dates with psql) is
// exported in every text format, and each file is compared byte for byte
// with its copy under tests/golden/exports/.
//
// When a change of the formats is intended, regenerate the copies and
// review the diff before committing them:
//
//   GOLDEN_UPDATE=1 make api API_FILES=tests/api/exports-golden.test.mjs
//   git diff tests/golden/
//
// What is normalised: uids (00000000-0000-4000-8000-<id on 12 digits>), the
// date of the last change (2025-06-15), batch numbers in file names
// (lot<N>), and the date that starts BAL file names (AAAAMMJJ). GeoPackage
// files are binary and carry their own timestamps: exports.test.mjs reads
// them back with ogrinfo instead.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, psql, makeTemp, rmTemp, ROOT, REFDATA } from './harness.mjs';
import { Client, FAST_ARGON2, addOrg, addUser } from './accounts.mjs';
import { exported, fetchFiles, balValidate } from './exports-lib.mjs';

const GOLDEN = path.join(ROOT, 'tests', 'golden', 'exports');
const UPDATE = process.env.GOLDEN_UPDATE === '1';

let srv;
let exportDir;
let work;
const C = {};

const sub = (g, id = '') => `/api/v1/guichets/${g}/submissions${id === '' ? '' : `/${id}`}`;
const pt = (x, y) => ({ type: 'Point', coordinates: [x, y] });
const sq = (x, y, h) => [[[x - h, y - h], [x + h, y - h], [x + h, y + h], [x - h, y + h], [x - h, y - h]]
  .map(([a, b]) => [Number(a.toFixed(6)), Number(b.toFixed(6))])];

// The data set, entered in this order (ids 1, 2, …): [key, client, guichet, attributes, geometry].
const DATA = () => [
  ['zinc', C.tls, 'erp', { libelle: 'Café "Le Zinc", bar', categorie: '5', type_principal: 'N', types_secondaires: ['L', 'M'],
    public: true, ouvert: false, capacite_d_accueil_du_public: 80, numero_siret: '73282932000074', adresse_numero: '12',
    adresse_nom_1: 'Rue du Taur', code_postal: '31000', sources: 'Relevé terrain' }, pt(1.4432, 43.6062)],
  ['capitole', C.tls, 'erp', { libelle: 'Théâtre du Capitole', categorie: '1', type_principal: 'L',
    capacite_d_accueil_du_public: 1156 }, pt(1.4436, 43.6045)],
  ['hotel', C.openig, 'erp', { libelle: 'Hôtel Tèrra', categorie: '4', type_principal: 'O', capacite_d_hebergement: 40,
    etat_de_l_objet: 'En projet' }, pt(1.4481, 43.6031)],
  ['purpan', C.tls, 'equipco', { categorie: 'Santé', nature: 'Hôpital', toponyme: 'Hôpital de Purpan',
    gestionnaire: 'CHU de Toulouse' }, pt(1.3985, 43.6105)],
  ['plantes', C.openig, 'equipco', { categorie: 'Culture et loisirs', nature: 'Parc', toponyme: 'Jardin des Plantes',
    nom_commercial: 'Le Jardin' }, { type: 'Polygon', coordinates: sq(1.4508, 43.5928, 0.0008) }],
  ['marche', C.openig, 'equipco', { categorie: 'Industriel et commercial', nature: 'Marché', toponyme: 'Marché Victor Hugo' },
    { type: 'MultiPolygon', coordinates: [sq(1.4466, 43.6071, 0.0002), sq(1.4476, 43.6071, 0.0002)] }],
  ['taur1', C.tls, 'adresse', { voie_nom: 'Rue du Taur', numero: 1, position: 'entrée', certification_commune: true,
    voie_nom_oci: 'Carrièra del Taur' }, pt(1.4430, 43.6050)],
  ['taur1bis', C.tls, 'adresse', { voie_nom: 'Rue du Taur', numero: 1, suffixe: 'bis', position: 'bâtiment',
    certification_commune: true, cad_parcelles: '310555000AB0001|310555000AB0002' }, pt(1.4431, 43.6051)],
  ['taur3ter', C.tls, 'adresse', { voie_nom: 'Rue du Taur', numero: 3, suffixe: 'ter', position: 'entrée',
    lieudit_complement_nom: 'Le Capitole' }, pt(1.4433, 43.6053)],
  ['alsace', C.tls, 'adresse', { voie_nom: "Rue d'Alsace-Lorraine", code_voie: 'A123', numero: 2, suffixe: 'A',
    position: 'cage d’escalier', lieudit_complement_nom: 'Les Carmes', certification_commune: true }, pt(1.4452, 43.6010)],
  ['lunax', C.peg, 'adresse', { voie_nom: 'Chemin de Lunax', numero: 5, position: 'entrée', commune_deleguee_insee: '31307',
    certification_commune: true }, pt(0.709274, 43.325715)],
  ['boulogne', C.peg, 'adresse', { voie_nom: 'Route de Boulogne', numero: 12, position: 'délivrance postale' },
    pt(0.7090, 43.3255)],
];

const rec = {};

/** Fixed uids and dates for every record. */
function normalise() {
  psql(srv.db, `UPDATE submissions SET uid = ('00000000-0000-4000-8000-' || lpad(id::text, 12, '0'))::uuid,
    updated_at = '2025-06-15 12:00:00+02'`);
}

async function validated(c, g, attributes, geometry, extra = {}) {
  const r = await c.req('POST', sub(g), { attributes, geometry, submit: true, confirm_warnings: true, ...extra });
  assert.equal(r.status, 201, `create ${g}: ${r.text}`);
  const v = await C.admin.req('POST', `${sub(g, r.json.id)}/transitions`, { action: 'validate' });
  assert.equal(v.status, 200, v.text);
  return r.json;
}

/** The files of a batch, by normalised name: lot<N> → lot, the BAL date prefix dropped. */
async function files(body) {
  const b = await exported(C.admin, body);
  const d = path.join(work, String(b.id));
  fs.mkdirSync(d);
  const got = await fetchFiles(C.admin, b, d);
  const out = {};
  for (const [name, buf] of Object.entries(got)) out[name.replace(/_lot\d+\./, '.').replace(/^\d{8}_/, '')] = buf;
  return { b, files: out, dir: d };
}

/** Compares buf with golden file name (or writes it when GOLDEN_UPDATE=1). */
function golden(name, buf) {
  const file = path.join(GOLDEN, name);
  if (UPDATE) {
    fs.mkdirSync(GOLDEN, { recursive: true });
    fs.writeFileSync(file, buf);
    return;
  }
  assert.ok(fs.existsSync(file), `no golden file ${name}: run with GOLDEN_UPDATE=1 (see the top of this file)`);
  const want = fs.readFileSync(file);
  if (want.equals(buf)) return;
  const a = buf.toString('utf8').split('\n');
  const w = want.toString('utf8').split('\n');
  const i = a.findIndex((l, k) => l !== w[k]);
  const actual = path.join(work, `actual-${name}`);
  fs.writeFileSync(actual, buf);
  assert.fail(`${name} differs from its golden file at line ${i + 1}:\n  golden: ${JSON.stringify(w[i])}\n  actual: ${JSON.stringify(a[i])}\n(whole file kept in ${actual} until the end of the run)`);
}

before(async () => {
  assert.ok(REFDATA.length > 0, 'TEST_REFDATA must name the reference data (make sets it)');
  exportDir = makeTemp('guichet-golden-');
  work = makeTemp('guichet-golden-dl-');
  srv = await startServer({ env: { ...FAST_ARGON2, GUICHET_EXPORT_DIR: exportDir }, refdata: true });
  const tls = addOrg(srv.db, { name: 'Commune de Toulouse', kind: 'commune', communes: '31555' });
  const peg = addOrg(srv.db, { name: 'Commune de Péguilhan', kind: 'commune', communes: '31412' });
  const openig = addOrg(srv.db, { name: 'OPenIG', kind: 'openig', departements: '31' });
  for (const [k, org, role] of [['tls', tls, 'contributor'], ['peg', peg, 'contributor'], ['openig', openig, 'contributor'],
    ['admin', openig, 'admin']]) {
    const u = addUser(srv.db, { email: `${k}@golden.test`, org, role });
    C[k] = new Client(srv.base);
    await C[k].login(u.email, u.password);
  }
  for (const [key, c, g, attrs, geom] of DATA()) {
    const where = g === 'adresse' && c === C.peg ? '31412' : '31555';
    const inside = psql(srv.db, `SELECT ST_Contains(geom, ST_SetSRID(ST_GeomFromGeoJSON('${JSON.stringify(geom)}'), 4326))
      FROM ref_zones WHERE kind = 'commune' AND code = '${where}'`);
    assert.equal(inside, 't', `${key} lies in ${where}`);
    rec[key] = await validated(c, g, attrs, geom);
  }
  normalise();
});

after(async () => {
  await srv?.stop();
  rmTemp(exportDir);
  rmTemp(work);
});

describe('golden files', () => {
  test('the data set has the ids the golden files were made with', () => {
    assert.deepEqual(Object.values(rec).map((r) => r.id), DATA().map((_, i) => i + 1));
    assert.equal(psql(srv.db, 'SELECT uid FROM submissions WHERE id = 1'), '00000000-0000-4000-8000-000000000001');
  });

  test('erp csv (full): CSV and CSVT', async () => {
    const { files: f } = await files({ guichet: 'erp', format: 'csv', mode: 'full' });
    assert.deepEqual(Object.keys(f).sort(), ['erp_complet.csv', 'erp_complet.csvt']);
    golden('erp-full.csv', f['erp_complet.csv']);
    golden('erp-full.csvt', f['erp_complet.csvt']);
  });

  test('erp csv_shp (full): Shapefile names', async () => {
    const { files: f } = await files({ guichet: 'erp', format: 'csv_shp', mode: 'full' });
    golden('erp-full-shp.csv', f['erp_complet.csv']);
    golden('erp-full-shp.csvt', f['erp_complet.csvt']);
  });

  test('erp geojson (full)', async () => {
    const { files: f } = await files({ guichet: 'erp', format: 'geojson', mode: 'full' });
    golden('erp-full.geojson', f['erp_complet.geojson']);
  });

  test('equipco geojson, csv and ign (full): Point, Polygon, MultiPolygon', async () => {
    golden('equipco-full.geojson', (await files({ guichet: 'equipco', format: 'geojson', mode: 'full' })).files['equipco_complet.geojson']);
    const csv = (await files({ guichet: 'equipco', format: 'csv', mode: 'full' })).files;
    golden('equipco-full.csv', csv['equipco_complet.csv']);
    golden('equipco-full.csvt', csv['equipco_complet.csvt']);
    golden('equipco-full-ign.json', (await files({ guichet: 'equipco', format: 'ign', mode: 'full' })).files['equipco_complet.json']);
  });

  test('adresse bal (full): one file per commune, valid for BAL 1.4', async () => {
    const { files: f, dir } = await files({ guichet: 'adresse', format: 'bal', mode: 'full' });
    assert.deepEqual(Object.keys(f).sort(), ['bal_200064210_peguilhan.csv', 'bal_213105554_toulouse.csv']);
    golden('bal_213105554_toulouse.csv', f['bal_213105554_toulouse.csv']);
    golden('bal_200064210_peguilhan.csv', f['bal_200064210_peguilhan.csv']);
    const v = balValidate(fs.readdirSync(dir).map((n) => path.join(dir, n)));
    assert.equal(v.status, 0, v.stdout);
    for (const r of v.reports) console.log(`validateur-bal: ${r.level} ${r.code} row=${r.row} (${r.file})`);
  });

  test('erp incremental, first batches: ign Insert ×3, csv creation ×3', async () => {
    golden('erp-inc-1-ign.json', (await files({ guichet: 'erp', format: 'ign' })).files['erp_increment.json']);
    golden('erp-inc-1.csv', (await files({ guichet: 'erp', format: 'csv' })).files['erp_increment.csv']);
  });

  test('erp incremental after a modification and a deletion: ign Update + Delete, csv modification + suppression', async () => {
    const zinc = (await C.admin.req('GET', sub('erp', rec.zinc.id))).json;
    await validated(C.tls, 'erp', { ...zinc.attributes, capacite_d_accueil_du_public: 95, ouvert: true }, zinc.geometry,
      { amends: zinc.id, operation: 'modify' });
    const r = await C.tls.req('POST', sub('erp'), { attributes: {}, amends: rec.capitole.id, operation: 'delete', submit: true,
      confirm_warnings: true });
    assert.equal(r.status, 201, r.text);
    assert.equal((await C.admin.req('POST', `${sub('erp', r.json.id)}/transitions`, { action: 'validate' })).status, 200);
    normalise();
    golden('erp-inc-2-ign.json', (await files({ guichet: 'erp', format: 'ign' })).files['erp_increment.json']);
    golden('erp-inc-2.csv', (await files({ guichet: 'erp', format: 'csv' })).files['erp_increment.csv']);
    golden('erp-inc-3-ign.json', (await files({ guichet: 'erp', format: 'ign' })).files['erp_increment.json']);
  });
});
