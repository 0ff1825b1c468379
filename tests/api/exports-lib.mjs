// Helpers of the export suites (exports.test.mjs, exports-golden.test.mjs):
// asking for a batch and waiting for it, downloading its files, reading
// them back with GDAL's command-line tools (ogrinfo, ogr2ogr: gdal-bin) and
// validating BAL files with the reference validator (tests/bal-validate.cjs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, SLOW, waitFor } from './harness.mjs';

export const FORMS = Object.fromEntries(['erp', 'equipco', 'adresse'].map((g) => [g,
  JSON.parse(fs.readFileSync(path.join(ROOT, 'forms', `${g}.json`), 'utf8'))]));

/** The BAL 1.4 columns, in the order of the format (AITF 1.4), then the form's regional names. */
export const BAL_COLUMNS = ['cle_interop', 'commune_insee', 'commune_nom', 'commune_deleguee_insee',
  'commune_deleguee_nom', 'voie_nom', 'lieudit_complement_nom', 'numero', 'suffixe', 'position', 'x', 'y',
  'long', 'lat', 'cad_parcelles', 'source', 'date_der_maj', 'certification_commune', 'voie_nom_oci', 'voie_nom_cat'];

export const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

/**
 * The BD TOPO columns of a guichet as its form declares them: [name, OGR
 * type, width]. identifiants_sources and sources first (a field exported to
 * an existing column adds to it), then each field exported to "bdtopo" (or
 * "shp"), typed by its field type; incremental files end with operation.
 */
export function bdtopoColumns(g, { shp = false, incremental = false } = {}) {
  const key = shp ? 'shp' : 'bdtopo';
  const cols = [[shp ? 'ID_SOURCE' : 'identifiants_sources', 'String', 0], [shp ? 'SOURCE' : 'sources', 'String', 0]];
  for (const f of FORMS[g].fields) {
    const name = f.export?.[key];
    if (!name || cols.some((c) => c[0] === name)) continue;
    if (f.type === 'integer') cols.push([name, 'Integer', 0]);
    else if (f.type === 'boolean') cols.push([name, 'Integer(Boolean)', 0]);
    else if (f.type === 'enum_list' || f.type === 'enum') cols.push([name, 'String', 0]);
    else cols.push([name, 'String', f.max_length ?? (f.type === 'siret' ? 14 : f.type === 'insee_commune' ? 5 : 0)]);
  }
  if (incremental) cols.push([shp ? 'OPERATION' : 'operation', 'String', 12]);
  return cols;
}

// --- batches -------------------------------------------------------------------

/** POST /api/v1/exports: 202 and the batch. */
export async function ask(c, body) {
  const r = await c.req('POST', '/api/v1/exports', body);
  assert.equal(r.status, 202, `POST /api/v1/exports ${JSON.stringify(body)}: ${r.text}`);
  return r.json;
}

/** Waits until batch id is done or failed; returns it. */
export function finished(c, id, timeoutMs = 30_000 * SLOW) {
  return waitFor(async () => {
    const r = await c.req('GET', `/api/v1/exports/${id}`);
    assert.equal(r.status, 200, r.text);
    return ['done', 'failed'].includes(r.json.state) ? r.json : null;
  }, { timeoutMs, intervalMs: 100, what: `export batch ${id}` });
}

/** Asks for a batch and waits for it to be written: the batch, done. */
export async function exported(c, body) {
  const b = await ask(c, body);
  const f = await finished(c, b.id);
  assert.equal(f.state, 'done', `batch ${b.id} ${JSON.stringify(body)}: ${f.error}`);
  return f;
}

/** GET a file of a batch: {status, headers, body (Buffer)}. */
export async function download(c, url, headers = {}) {
  const h = { ...headers };
  if (c.cookie) h.Cookie = c.cookie;
  if (c.token) h.Authorization = `Bearer ${c.token}`;
  const res = await fetch(c.base + url, { headers: h });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/**
 * Downloads every file of batch b into folder dir (checking status, size and
 * SHA-256 against the batch's record); returns {name: Buffer}.
 */
export async function fetchFiles(c, b, dir) {
  const out = {};
  for (const f of b.files) {
    const r = await download(c, f.url);
    assert.equal(r.status, 200, `${f.url}: ${r.body}`);
    assert.equal(r.body.length, f.bytes, `${f.name}: bytes`);
    assert.equal(sha256(r.body), f.sha256, `${f.name}: sha256`);
    fs.writeFileSync(path.join(dir, f.name), r.body);
    out[f.name] = r.body;
  }
  return out;
}

// --- GDAL ----------------------------------------------------------------------

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}:\n${r.stderr}`);
  return r.stdout;
}

/** GDAL's CSV open options for our CSV files (WKT column, CSVT types). */
export const CSV_OO = ['-oo', 'GEOM_POSSIBLE_NAMES=WKT', '-oo', 'KEEP_GEOM_COLUMNS=NO'];

/**
 * `ogrinfo -so -al` of a one-layer file: {layer, geometry, count, epsg,
 * fid, geometryColumn, fields: [[name, type, width]], text}.
 */
export function ogrSummary(file, oo = []) {
  const text = run('ogrinfo', ['-ro', '-so', '-al', ...oo, file]);
  const lines = text.split('\n');
  const one = (re) => lines.map((l) => re.exec(l)).find(Boolean)?.[1] ?? null;
  const layers = lines.filter((l) => l.startsWith('Layer name: '));
  assert.equal(layers.length, 1, `${file}: one layer expected:\n${text}`);
  const start = lines.findIndex((l) => l.startsWith('Layer SRS WKT:'));
  const end = lines.findIndex((l, i) => i > start && /^(Data axis|FID Column|Geometry Column|[A-Za-z_][A-Za-z0-9_]*: )/.test(l));
  const srs = lines.slice(start + 1, end < 0 ? undefined : end);
  // The CRS's own identifier closes its WKT: `    ID["EPSG",2154]]`.
  const epsg = /^ {4}ID\["EPSG",(\d+)\]\]$/.exec(srs.at(-1) ?? '')?.[1] ?? null;
  const fields = [];
  for (const l of lines.slice(end < 0 ? lines.length : end)) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*): ([A-Za-z0-9]+(?:\([A-Za-z]+\))?) \((\d+)\.(\d+)\)$/.exec(l);
    if (m) fields.push([m[1], m[2], Number(m[3])]);
  }
  return {
    layer: one(/^Layer name: (.*)$/),
    geometry: one(/^Geometry: (.*)$/),
    count: Number(one(/^Feature Count: (\d+)$/)),
    epsg: epsg === null ? null : Number(epsg),
    fid: one(/^FID Column = (.*)$/),
    geometryColumn: one(/^Geometry Column = (.*)$/),
    fields,
    text,
  };
}

/** The features of a file as GDAL reads them (ogr2ogr to GeoJSON, coordinates as stored). */
export function ogrFeatures(file, oo = []) {
  return JSON.parse(run('ogr2ogr', ['-f', 'GeoJSON', '/vsistdout/', ...oo, file])).features;
}

// --- BAL -------------------------------------------------------------------------

/**
 * Runs tests/bal-validate.cjs (profile 1.4) on files: {status, stdout,
 * stderr, reports: [{file, level, code, row}]}.
 */
export function balValidate(files) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'tests', 'bal-validate.cjs'), '--profile', '1.4', ...files],
    { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  const reports = [];
  for (const l of r.stdout.split('\n')) {
    const m = /^(.*): ([EWI]) (\S+) row=(\S+)$/.exec(l);
    if (m) reports.push({ file: path.basename(m[1]), level: m[2], code: m[3], row: m[4] });
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, reports };
}

/** A BAL file's rows as objects keyed by its header (";" separated, no quotes). */
export function balRows(buf) {
  const text = buf.toString('utf8');
  const lines = text.split('\n');
  assert.equal(lines.at(-1), '', 'the file ends with a line break');
  const header = lines[0].split(';');
  return {
    header,
    rows: lines.slice(1, -1).map((l) => {
      const v = l.split(';');
      assert.equal(v.length, header.length, `columns of ${JSON.stringify(l)}`);
      return Object.fromEntries(header.map((h, i) => [h, v[i]]));
    }),
  };
}

// --- geometry ----------------------------------------------------------------------

/** Twice the signed area of a ring (> 0: counterclockwise in lon/lat). */
export function ringArea(ring) {
  let s = 0;
  for (let i = 0; i + 1 < ring.length; i++) s += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
  return s;
}

/** A valid SIRET (Luhn) from its first 13 digits. */
export function siret(first13) {
  for (let d = 0; d < 10; d++) {
    const s = `${first13}${d}`;
    let sum = 0;
    for (let i = 0; i < 14; i++) {
      let n = Number(s[13 - i]);
      if (i % 2 === 1) { n *= 2; if (n > 9) n -= 9; }
      sum += n;
    }
    if (sum % 10 === 0) return s;
  }
  throw new Error('unreachable');
}
