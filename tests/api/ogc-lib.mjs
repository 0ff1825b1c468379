// Helpers of the OGC API Features suite (ogc.test.mjs): plain GETs as any
// open-data client makes them (no session), walking the next/prev links of
// a collection, GDAL's command-line tools on the OAPIF driver, coordinates.
import assert from 'node:assert/strict';
import { spawnCollect } from './harness.mjs';

export const CRS84 = 'http://www.opengis.net/def/crs/OGC/1.3/CRS84';
export const L93 = 'http://www.opengis.net/def/crs/EPSG/0/2154';

/** GET base + path (or an absolute URL): {status, headers, text, json (or null)}. */
export async function get(base, path, headers = {}) {
  const res = await fetch(path.startsWith('http') ? path : base + path, { headers });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* HTML, or nothing */ }
  return { status: res.status, headers: res.headers, text, json };
}

/** GET that must answer 200 with JSON; returns the response. */
export async function getOk(base, path, headers = {}) {
  const r = await get(base, path, headers);
  assert.equal(r.status, 200, `GET ${path}: ${r.text.slice(0, 500)}`);
  assert.ok(r.json !== null, `GET ${path}: not JSON`);
  return r;
}

/** The link of rel (and type) in a links array, or undefined. */
export const link = (links, rel, type) => links.find((l) => l.rel === rel && (!type || l.type === type));

/** The offset a link's href names (0 without one). */
export const offsetOf = (href) => Number(new URL(href).searchParams.get('offset') ?? 0);

/**
 * Follows the next links from base + path to the last page. Returns
 * {pages: [FeatureCollection], ids: [feature id in order]}. At most
 * maxPages (a loop would fail, not hang).
 */
export async function walk(base, path, { maxPages = 1000, rel = 'next' } = {}) {
  const pages = [];
  let url = path.startsWith('http') ? path : base + path;
  for (;;) {
    const r = await getOk(base, url);
    pages.push(r.json);
    assert.ok(pages.length <= maxPages, `more than ${maxPages} pages from ${path}`);
    const next = link(r.json.links, rel);
    if (!next) break;
    assert.ok(next.href.startsWith(`${base}/ogc/`), `${rel} link on this server: ${next.href}`);
    url = next.href;
  }
  return { pages, ids: pages.flatMap((p) => p.features.map((f) => f.id)) };
}

/** The ids of every feature base + path selects (one page of up to 10000). */
export async function ids(base, path) {
  const sep = path.includes('?') ? '&' : '?';
  const r = await getOk(base, `${path}${sep}limit=10000`);
  assert.equal(r.json.numberReturned, r.json.numberMatched, `${path}: one page holds everything`);
  return r.json.features.map((f) => f.id).sort();
}

/** Asserts two coordinate trees are equal within tol. */
export function assertCoords(actual, expected, tol, what) {
  if (typeof expected === 'number') {
    assert.equal(typeof actual, 'number', `${what}: a number`);
    assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (± ${tol})`);
    return;
  }
  assert.ok(Array.isArray(actual), `${what}: an array`);
  assert.equal(actual.length, expected.length, `${what}: lengths`);
  expected.forEach((e, i) => assertCoords(actual[i], e, tol, `${what}[${i}]`));
}

/** Every [x, y] position of a GeoJSON geometry. */
export function positions(geom) {
  switch (geom.type) {
    case 'Point': return [geom.coordinates];
    case 'Polygon': return geom.coordinates.flat();
    case 'MultiPolygon': return geom.coordinates.flat(2);
    default: throw new Error(`geometry type ${geom.type}`);
  }
}

/** Does the bounding box of geom meet box [minx, miny, maxx, maxy]? */
export function meets(geom, [minx, miny, maxx, maxy]) {
  const p = positions(geom);
  const xs = p.map((c) => c[0]);
  const ys = p.map((c) => c[1]);
  return Math.min(...xs) <= maxx && Math.max(...xs) >= minx && Math.min(...ys) <= maxy && Math.max(...ys) >= miny;
}

// --- GDAL ----------------------------------------------------------------------

/**
 * Runs a GDAL command-line tool; fails unless it exits 0; resolves
 * {stdout, stderr}. Asynchronous: the server under test is a child of this
 * process, and its log pipe must be drained while GDAL talks to it.
 */
export async function gdal(cmd, args, { timeoutMs = 120_000 } = {}) {
  // The server under test is local: never through a proxy.
  const r = await spawnCollect(cmd, args, {
    env: { ...process.env, NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1', GDAL_HTTP_TIMEOUT: '60' }, timeoutMs,
  });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} (${r.signal ?? r.status}):\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/**
 * `ogrinfo -so` output split by layer: {name: {count, geometry, fields:
 * {name: type}, text}}.
 */
export function ogrLayers(text) {
  const out = {};
  for (const block of text.split(/\n(?=Layer name: )/).filter((b) => b.startsWith('Layer name: '))) {
    const name = /^Layer name: (.*)$/m.exec(block)[1];
    const fields = {};
    for (const m of block.matchAll(/^([A-Za-z_][A-Za-z0-9_]*): ([A-Za-z]+(?:\([A-Za-z]+\))?) \(\d+\.\d+\)$/gm)) fields[m[1]] = m[2];
    out[name] = {
      count: Number(/^Feature Count: (-?\d+)$/m.exec(block)?.[1]),
      geometry: /^Geometry: (.*)$/m.exec(block)?.[1],
      fields,
      text: block,
    };
  }
  return out;
}

/** The features of one layer of a file, as GDAL reads them (GeoJSON out). */
export async function ogrRead(file, layer) {
  return JSON.parse((await gdal('ogr2ogr', ['-f', 'GeoJSON', '/vsistdout/', file, layer])).stdout).features;
}
