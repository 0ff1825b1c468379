// OGC API Features at /ogc, end to end on a real server and database: GDAL's
// OAPIF driver reads every collection page by page (ogrinfo, ogr2ogr to a
// GeoPackage); Lambert-93 output against PostGIS; paging by next/prev links;
// only validated objects in their current version; every filter and every
// refusal; ETag / Last-Modified and 304; the HTML pages, escaped; the DCAT-AP
// catalogue through a JSON-LD processor (jsonld); the OpenAPI 3.0 document.
//
// Objects are created through the API (a contributor submits, the platform
// admin validates) and every published one is also kept in PUB, from which
// the expected answer of each filter is computed. Places:
//   main set      Toulouse (31555), Blagnac (31069), Montpellier (34172):
//                 25 ERP, 8 EquipCo (points and polygons), 10 addresses
//   publication   Colomiers (31149): every state, amendments and deletions
//   datetime      L'Union (31561): validation dates moved to the past
//   caching       Tournefeuille (31557)
// The last group runs its own server on a database of 10,005 ERP (limit).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import jsonld from 'jsonld';
import {
  startServer, psql, makeTemp, rmTemp, sleep, waitFor, rawRequest, assertErrorBody, assertSecurityHeaders, REFDATA,
  pointsIn as harnessPointsIn,
} from './harness.mjs';
import { Client, FAST_ARGON2, addOrg, addUser } from './accounts.mjs';
import { FORMS } from './exports-lib.mjs';
import {
  CRS84, L93, get, getOk, link, offsetOf, walk, ids, assertCoords, positions, meets, gdal, ogrLayers, ogrRead,
} from './ogc-lib.mjs';

let srv;
let work;	// GDAL's files
const C = {};	// signed-in clients
const COLLECTIONS = { erp: 'erp', equipco: 'equipco', adresses: 'adresse' };	// collection → guichet
/** The published objects: guichet → uid → the record as the API gives it. */
const PUB = { erp: new Map(), equipco: new Map(), adresse: new Map() };
const HOSTILE = '<script>alert("x")</script> L\'Étoile & "Co"';
const HOSTILE_ORG = 'Syndicat <SIVU> "L\'Hers" & Co';
const MAIN = {};	// the main set: guichet → [record]

const sub = (g, id = '') => `/api/v1/guichets/${g}/submissions${id === '' ? '' : `/${id}`}`;
const items = (coll, query = '') => `/ogc/collections/${coll}/items${query ? `?${query}` : ''}`;
const qs = (o) => new URLSearchParams(o).toString();
const PUBLISHED = (g) => `guichet = '${g}' AND state = 'validated' AND operation = 'create'`;
const dbCount = (g) => Number(psql(srv.db, `SELECT count(*) FROM submissions WHERE ${PUBLISHED(g)}`));

before(async () => {
  assert.ok(REFDATA.length > 0, 'TEST_REFDATA must name the reference data (make sets it)');
  work = makeTemp('guichet-ogc-');
  srv = await startServer({ env: { ...FAST_ARGON2 }, refdata: true });
  const openig = addOrg(srv.db, { name: 'OPenIG', kind: 'openig', departements: '31,34' });
  const tls = addOrg(srv.db, { name: 'Commune de Toulouse', kind: 'commune', communes: '31555' });
  const odd = addOrg(srv.db, { name: HOSTILE_ORG, kind: 'epci', communes: '31555' });
  const accounts = {
    admin: [openig, 'admin'], author: [openig, 'contributor'], agent: [tls, 'contributor'], odd: [odd, 'contributor'],
  };
  for (const [k, [org, role]] of Object.entries(accounts)) {
    const u = addUser(srv.db, { email: `${k}@ogc.test`, name: `Nom ${k}`, org, role });
    C[k] = new Client(srv.base);
    await C[k].login(u.email, u.password);
  }
  await mainSet();
});

after(async () => {
  await srv?.stop();
  rmTemp(work);
});

// --- objects ------------------------------------------------------------------------


const pointsIn = (code, n) => harnessPointsIn(srv.db, code, n);

/** A square ring around [x, y], side 2·h degrees, counterclockwise. */
function square([x, y], h = 0.0004) {
  const r = (v) => Number(v.toFixed(6));
  return [[r(x - h), r(y - h)], [r(x + h), r(y - h)], [r(x + h), r(y + h)], [r(x - h), r(y + h)], [r(x - h), r(y - h)]];
}

/** A record as its author (drafts are theirs alone) or c sees it. */
async function record(g, id, c = C.admin) {
  const r = await c.req('GET', sub(g, id));
  assert.equal(r.status, 200, `GET ${g} ${id}: ${r.text}`);
  return r.json;
}

/** A transition that must succeed. */
async function act(c, g, id, action, extra = {}) {
  const r = await c.req('POST', `${sub(g, id)}/transitions`, { action, ...extra });
  assert.equal(r.status, 200, `${action} on ${g} ${id}: ${r.text}`);
  return r.json;
}

/** Creates a record (submitted unless submit is false); returns it. */
async function create(c, g, attributes, geometry, { submit = true, extra = {} } = {}) {
  const r = await c.req('POST', sub(g), { attributes, geometry, submit, confirm_warnings: true, ...extra });
  assert.equal(r.status, 201, `create ${g}: ${r.text}`);
  return record(g, r.json.id, c);
}

/** Creates, submits and validates (as the platform admin) an object; returns it, published. */
async function published(c, g, attributes, geometry) {
  const o = await create(c, g, attributes, geometry);
  await act(C.admin, g, o.id, 'validate');
  const v = await record(g, o.id, c);
  assert.equal(v.state, 'validated');
  PUB[g].set(v.uid, v);
  return v;
}

/**
 * An amendment of validated object obj (modify, or delete), submitted by c
 * and validated unless validate is false; returns the amendment.
 */
async function amend(c, g, obj, { attributes, geometry, operation = 'modify', validate = true } = {}) {
  const a = operation === 'delete'
    ? await create(c, g, {}, null, { extra: { amends: obj.id, operation } })
    : await create(c, g, attributes, geometry ?? obj.geometry, { extra: { amends: obj.id, operation } });
  if (validate) {
    await act(C.admin, g, a.id, 'validate');
    const now = await record(g, obj.id, c);
    if (operation === 'delete') {
      assert.equal(now.state, 'deleted');
      PUB[g].delete(obj.uid);
    } else {
      PUB[g].set(obj.uid, now);
    }
  }
  return record(g, a.id, c);
}

/** The uids of the published objects of g that pred keeps, sorted. */
const expected = (g, pred = () => true) => [...PUB[g].values()].filter(pred).map((o) => o.uid).sort();

const ERP_PLACES = [['31555', 15, '31000'], ['31069', 5, '31700'], ['34172', 5, '34000']];
const ERP_TYPES = ['L', 'M', 'N', 'O', 'R'];

async function mainSet() {
  MAIN.erp = [];
  let i = 0;
  for (const [code, n, cp] of ERP_PLACES) {
    for (const p of pointsIn(code, n)) {
      const a = {
        libelle: i === 3 ? HOSTILE : `ERP ${i} ${code}`,
        categorie: String(1 + (i % 5)),
        type_principal: ERP_TYPES[Math.floor(i / 5) % 5],
        ...(i % 3 === 0 ? { types_secondaires: ['L', 'M'] } : i % 3 === 1 ? { types_secondaires: ['N'] } : {}),
        public: i % 2 === 0,
        ...(i % 4 === 0 ? {} : { ouvert: i % 4 !== 1 }),
        code_postal: cp,
        etat_de_l_objet: i % 6 === 0 ? 'En projet' : 'En service',
      };
      const c = i === 3 ? C.odd : code === '31555' && i % 2 === 0 ? C.agent : C.author;
      MAIN.erp.push(await published(c, 'erp', a, p));
      i++;
    }
  }
  const t = pointsIn('31555', 5);
  const m = pointsIn('34172', 3);
  const q = [
    [{ categorie: 'Sport', nature: 'Stade', toponyme: 'Stade des Sept Deniers', type_bpe: 'F101' }, t[0]],
    [{ categorie: 'Santé', nature: 'Hôpital', toponyme: 'Hôpital Larrey' }, { type: 'Polygon', coordinates: [square(t[1].coordinates)] }],
    [{ categorie: 'Culture et loisirs', nature: 'Parc', toponyme: 'Jardin Raymond VI', etat_de_l_objet: 'En projet' },
      { type: 'Polygon', coordinates: [square(t[2].coordinates, 0.001)] }],
    [{ categorie: 'Sport', nature: 'Piscine', toponyme: 'Piscine Nakache', type_bpe: 'F102' },
      { type: 'MultiPolygon', coordinates: [[square(t[3].coordinates, 0.0002)], [square([t[3].coordinates[0] + 0.001, t[3].coordinates[1]], 0.0002)]] }],
    [{ categorie: 'Industriel et commercial', nature: 'Marché', toponyme: 'Marché Cristal' }, { type: 'Polygon', coordinates: [square(t[4].coordinates)] }],
    [{ categorie: 'Sport', nature: 'Stade', toponyme: 'Stade de la Mosson', type_bpe: 'F101' }, m[0]],
    [{ categorie: 'Santé', nature: 'Maison de retraite', toponyme: 'Les Tilleuls' }, { type: 'Polygon', coordinates: [square(m[1].coordinates)] }],
    [{ categorie: 'Religieux', nature: 'Église', toponyme: 'Cathédrale Saint-Pierre' }, { type: 'Polygon', coordinates: [square(m[2].coordinates)] }],
  ];
  MAIN.equipco = [];
  for (const [a, geom] of q) MAIN.equipco.push(await published(C.author, 'equipco', a, geom));
  MAIN.adresse = [];
  const pa = pointsIn('31555', 10);
  for (let n = 1; n <= 10; n++) {
    const a = { voie_nom: n === 10 ? 'Impasse des Tests' : 'Rue des Essais', numero: n, position: n % 4 === 0 ? 'bâtiment' : 'entrée', certification_commune: n % 2 === 1 };
    if (n === 4) a.suffixe = 'bis';
    MAIN.adresse.push(await published(C.author, 'adresse', a, pa[n - 1]));
  }
}

/** Access log lines of the server so far for GETs of a collection's items. */
const itemRequests = (coll) => srv.stderr().split('\n').filter((l) => l.includes(`GET "/ogc/collections/${coll}/items" 200`)).length;

// --- discovery -------------------------------------------------------------------------

describe('landing page, conformance, collections, queryables', () => {
  test('the landing page links to itself, the API definition, the conformance classes, the collections and the catalogue', async () => {
    const r = await getOk(srv.base, '/ogc');
    assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(typeof r.json.title, 'string');
    const rels = Object.fromEntries(r.json.links.map((l) => [l.rel, l]));
    for (const rel of ['self', 'alternate', 'service-desc', 'conformance', 'data', 'http://www.w3.org/ns/dcat#catalog']) {
      assert.ok(rels[rel], `link ${rel}`);
      assert.ok(rels[rel].href.startsWith(`${srv.base}/ogc`), rels[rel].href);
      assert.equal(typeof rels[rel].type, 'string');
      assert.equal((await get(srv.base, rels[rel].href)).status, 200, `${rel}: ${rels[rel].href}`);
    }
    assert.equal(rels['service-desc'].type, 'application/vnd.oai.openapi+json;version=3.0');
  });

  test('conformance: Core, GeoJSON, HTML, OpenAPI 3.0, CRS (Part 2), queryables (Part 3)', async () => {
    const r = await getOk(srv.base, '/ogc/conformance');
    for (const c of ['ogcapi-features-1/1.0/conf/core', 'ogcapi-features-1/1.0/conf/geojson', 'ogcapi-features-1/1.0/conf/html',
      'ogcapi-features-1/1.0/conf/oas30', 'ogcapi-features-2/1.0/conf/crs', 'ogcapi-features-3/1.0/conf/queryables',
      'ogcapi-features-3/1.0/conf/queryables-query-parameters']) {
      assert.ok(r.json.conformsTo.includes(`http://www.opengis.net/spec/${c}`), c);
    }
  });

  test('three collections, with both CRS, the region as extent, items and queryables links', async () => {
    const r = await getOk(srv.base, '/ogc/collections');
    assert.deepEqual(r.json.collections.map((c) => c.id), ['erp', 'equipco', 'adresses']);
    const region = psql(srv.db, "SELECT concat_ws(',', ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)) FROM (SELECT ST_Extent(geom) e FROM ref_zones WHERE kind = 'region') z")
      .split(',').map(Number);
    for (const c of r.json.collections) {
      const g = COLLECTIONS[c.id];
      assert.equal(c.title, FORMS[g].title);
      assert.equal(c.itemType, 'feature');
      assert.deepEqual(c.crs, [CRS84, L93]);
      assert.equal(c.storageCrs, CRS84);
      assert.equal(c.extent.spatial.crs, CRS84);
      assertCoords(c.extent.spatial.bbox[0], region, 1e-6, `${c.id} extent`);
      const items = link(c.links, 'items', 'application/geo+json');
      assert.equal(items.href, `${srv.base}/ogc/collections/${c.id}/items`);
      assert.ok(link(c.links, 'http://www.opengis.net/def/rel/ogc/1.0/queryables'));
      assert.ok(link(c.links, 'license'));
      const one = await getOk(srv.base, `/ogc/collections/${c.id}`);
      assert.deepEqual(one.json, c, 'the collection alone is its entry of the list');
    }
  });

  test('a collection\'s temporal extent starts at its first validation', async () => {
    for (const [coll, g] of Object.entries(COLLECTIONS)) {
      const first = psql(srv.db, `SELECT to_char(min(decided_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') FROM submissions WHERE ${PUBLISHED(g)}`);
      const r = await getOk(srv.base, `/ogc/collections/${coll}`);
      assert.deepEqual(r.json.extent.temporal.interval, [[first, null]]);
    }
  });

  for (const [coll, g] of Object.entries(COLLECTIONS)) {
    test(`queryables of ${coll}: commune, département and the form's queryable fields, typed, with their values`, async () => {
      const r = await getOk(srv.base, `/ogc/collections/${coll}/queryables`);
      assert.equal(r.headers.get('content-type'), 'application/schema+json; charset=utf-8');
      assert.equal(r.json.type, 'object');
      assert.equal(r.json.$id, `${srv.base}/ogc/collections/${coll}/queryables`);
      const fields = FORMS[g].fields.filter((f) => f.queryable);
      assert.ok(fields.length > 0);
      assert.deepEqual(Object.keys(r.json.properties), ['commune', 'departement', ...fields.map((f) => f.name)]);
      for (const f of fields) {
        const p = r.json.properties[f.name];
        assert.equal(p.type, f.type === 'integer' ? 'integer' : f.type === 'boolean' ? 'boolean' : 'string', f.name);
        if (f.values) assert.deepEqual(p.enum, f.values.map((v) => v.value), f.name);
        else assert.equal(p.enum, undefined, f.name);
      }
    });
  }
});

// --- GDAL ----------------------------------------------------------------------------------

describe('GDAL reads every collection through its OAPIF driver', () => {
  const PAGE = 3;
  const files = {};

  test('ogrinfo lists the three layers with the database\'s counts and the forms\' fields', async () => {
    const layers = ogrLayers((await gdal('ogrinfo', ['-ro', '-al', '-so', `OAPIF:${srv.base}/ogc`])).stdout);
    assert.deepEqual(Object.keys(layers), ['erp', 'equipco', 'adresses']);
    for (const [coll, g] of Object.entries(COLLECTIONS)) {
      assert.equal(layers[coll].count, dbCount(g), `${coll}: Feature Count`);
      assert.equal(layers[coll].count, PUB[g].size, `${coll}: what we published`);
      for (const f of ['id', 'commune', 'departement', 'valide_le', 'producteur', ...FORMS[g].fields.map((x) => x.name)]) {
        assert.ok(f in layers[coll].fields, `${coll}.${f}:\n${layers[coll].text}`);
      }
      assert.equal(layers[coll].fields.valide_le, 'DateTime');
    }
    assert.equal(layers.erp.geometry, 'Point');
    assert.equal(layers.erp.fields.public, 'Integer(Boolean)');
    assert.equal(layers.adresses.fields.numero, 'Integer');
  });

  for (const [coll, g] of Object.entries(COLLECTIONS)) {
    test(`ogr2ogr copies every ${coll} object to a GeoPackage, ${PAGE} per page, following the next links`, async () => {
      const file = path.join(work, `${coll}.gpkg`);
      const before = itemRequests(coll);
      // EquipCo mixes points and polygons: a layer of any geometry type.
      await gdal('ogr2ogr', ['-f', 'GPKG', file, `OAPIF:${srv.base}/ogc`, coll, '-oo', `PAGE_SIZE=${PAGE}`,
        ...(coll === 'equipco' ? ['-nlt', 'GEOMETRY'] : [])]);
      const n = dbCount(g);
      assert.ok(n > PAGE * 2, `${coll}: ${n} objects make several pages`);
      await waitFor(() => itemRequests(coll) - before >= Math.ceil(n / PAGE),
        { timeoutMs: 5000, what: `${coll}: at least ${Math.ceil(n / PAGE)} pages asked for` });
      const feats = await ogrRead(file, coll);
      files[coll] = feats;
      assert.equal(feats.length, n);
      assert.deepEqual(feats.map((f) => f.properties.id).sort(), expected(g), 'each published object once');
    });
  }

  test('the GeoPackage holds the ERP as created: names, categories, types, lists, booleans, places, producers, points', () => {
    const by = new Map(files.erp.map((f) => [f.properties.id, f]));
    for (const o of MAIN.erp) {
      const f = by.get(o.uid);
      const p = f.properties;
      assert.equal(p.libelle, o.attributes.libelle);
      assert.equal(p.categorie, o.attributes.categorie);
      assert.equal(p.type_principal, o.attributes.type_principal);
      assert.equal(p.code_postal, o.attributes.code_postal);
      assert.equal(p.etat_de_l_objet, o.attributes.etat_de_l_objet);
      assert.equal(p.public, o.attributes.public);
      for (const v of o.attributes.types_secondaires ?? []) assert.ok(String(p.types_secondaires).includes(v), `${p.types_secondaires} ∋ ${v}`);
      assert.equal(p.commune, o.insee_commune);
      assert.equal(p.insee_commune, o.insee_commune);
      assert.equal(p.departement, o.departement);
      assert.equal(p.producteur, o.organisation_name);
      assert.equal(new Date(p.valide_le.replace(/^(\d{4})\/(\d\d)\/(\d\d) /, '$1-$2-$3T')).getTime(),
        Math.floor(new Date(o.decided_at).getTime() / 1000) * 1000, `valide_le ${p.valide_le} vs ${o.decided_at}`);
      assertCoords(f.geometry.coordinates, o.geometry.coordinates, 1e-7, `${o.uid} point`);
    }
    assert.equal(by.get(MAIN.erp[3].uid).properties.producteur, HOSTILE_ORG);
  });

  test('the GeoPackage holds the EquipCo as created: polygons, multipolygons and points', () => {
    const by = new Map(files.equipco.map((f) => [f.properties.id, f]));
    for (const o of MAIN.equipco) {
      const f = by.get(o.uid);
      for (const k of ['categorie', 'nature', 'toponyme']) assert.equal(f.properties[k], o.attributes[k], k);
      assert.equal(f.properties.type_bpe, o.attributes.type_bpe ?? null);
      assert.equal(f.geometry.type, o.geometry.type);
      assertCoords(positions(f.geometry), positions(o.geometry), 1e-7, `${o.uid} geometry`);
    }
  });

  test('the GeoPackage holds the addresses as created: numbers as integers, suffixes, certification', () => {
    const by = new Map(files.adresses.map((f) => [f.properties.id, f]));
    for (const o of MAIN.adresse) {
      const p = by.get(o.uid).properties;
      assert.equal(p.voie_nom, o.attributes.voie_nom);
      assert.equal(p.numero, o.attributes.numero);
      assert.equal(p.suffixe, o.attributes.suffixe ?? null);
      assert.equal(p.position, o.attributes.position);
      assert.equal(p.certification_commune, o.attributes.certification_commune);
      assert.equal(p.commune, '31555');
    }
  });

  test('ogrinfo and ogr2ogr with -spat: the server filters by bbox (Blagnac\'s ERP)', async () => {
    const pts = MAIN.erp.filter((o) => o.insee_commune === '31069').map((o) => o.geometry.coordinates);
    const box = [Math.min(...pts.map((p) => p[0])) - 1e-4, Math.min(...pts.map((p) => p[1])) - 1e-4,
      Math.max(...pts.map((p) => p[0])) + 1e-4, Math.max(...pts.map((p) => p[1])) + 1e-4];
    const want = expected('erp', (o) => meets(o.geometry, box));
    assert.ok(want.length >= 5, 'the five of Blagnac at least');
    assert.ok(want.length < PUB.erp.size, 'not everything');
    const before = itemRequests('erp');
    const spat = ['-spat', ...box.map(String)];
    const layers = ogrLayers((await gdal('ogrinfo', ['-ro', '-al', '-so', `OAPIF:${srv.base}/ogc`, 'erp', ...spat])).stdout);
    assert.equal(layers.erp.count, want.length);
    const out = JSON.parse((await gdal('ogr2ogr', ['-f', 'GeoJSON', '/vsistdout/', `OAPIF:${srv.base}/ogc`, 'erp', ...spat,
      '-oo', 'PAGE_SIZE=2'])).stdout);
    await sleep(200);	// the server's last access lines
    assert.deepEqual(out.features.map((f) => f.properties.id).sort(), want);
    // Two per page: the server answered with the box (a client-side filter would read all pages).
    assert.ok(itemRequests('erp') - before <= Math.ceil(want.length / 2) + 4, `${itemRequests('erp') - before} requests`);
  });
});

// --- Lambert-93 ----------------------------------------------------------------------------

describe('Lambert-93 (EPSG:2154) output and boxes', () => {
  /** uid → the geometry PostGIS transforms to 2154 (or keeps in 4326). */
  function dbGeoms(g, srid) {
    const expr = srid === 2154 ? 'ST_Transform(geom, 2154)' : 'geom';
    return new Map(psql(srv.db, `SELECT uid || '|' || ST_AsGeoJSON(${expr}, 9) FROM submissions WHERE ${PUBLISHED(g)}`)
      .split('\n').filter(Boolean).map((l) => { const i = l.indexOf('|'); return [l.slice(0, i), JSON.parse(l.slice(i + 1))]; }));
  }

  for (const [coll, g] of Object.entries(COLLECTIONS)) {
    test(`${coll} with crs=…/EPSG/0/2154: PostGIS's ST_Transform within 1 cm, Content-Crs says so`, async () => {
      const r = await getOk(srv.base, items(coll, qs({ crs: L93, limit: 10000 })));
      assert.equal(r.headers.get('content-crs'), `<${L93}>`);
      const db = dbGeoms(g, 2154);
      assert.equal(r.json.features.length, db.size);
      for (const f of r.json.features) {
        const want = db.get(f.id);
        assert.equal(f.geometry.type, want.type);
        assertCoords(f.geometry.coordinates, want.coordinates, 0.01, `${f.id}`);
        for (const [x, y] of positions(f.geometry)) {
          assert.ok(x > 100000 && x < 1300000 && y > 6000000 && y < 7200000, `Lambert-93 range: ${x} ${y}`);
        }
      }
    });
  }

  test('without crs, or with CRS84: longitude, latitude as stored, Content-Crs CRS84', async () => {
    const db = dbGeoms('equipco', 4326);
    const plain = await getOk(srv.base, items('equipco', 'limit=100'));
    const explicit = await getOk(srv.base, items('equipco', qs({ limit: 100, crs: CRS84 })));
    assert.equal(plain.headers.get('content-crs'), `<${CRS84}>`);
    assert.equal(explicit.headers.get('content-crs'), `<${CRS84}>`);
    assert.deepEqual(explicit.json.features, plain.json.features);
    for (const f of plain.json.features) assertCoords(f.geometry.coordinates, db.get(f.id).coordinates, 1e-7, f.id);
  });

  test('one feature in Lambert-93: items/{id}?crs=…2154', async () => {
    const o = MAIN.equipco[3];
    const r = await getOk(srv.base, `${items('equipco')}/${o.uid}?${qs({ crs: L93 })}`);
    assert.equal(r.headers.get('content-crs'), `<${L93}>`);
    assert.equal(r.json.geometry.type, 'MultiPolygon');
    assertCoords(r.json.geometry.coordinates, dbGeoms('equipco', 2154).get(o.uid).coordinates, 0.01, o.uid);
    const d = await getOk(srv.base, `${items('equipco')}/${o.uid}`);
    assert.equal(d.headers.get('content-crs'), `<${CRS84}>`);
    assertCoords(d.json.geometry.coordinates, o.geometry.coordinates, 1e-7, o.uid);
  });

  /** The uids of g's published objects inside a Lambert-93 box, by PostGIS in Lambert-93 itself. */
  const inL93 = (g, b) => psql(srv.db, `SELECT uid FROM submissions WHERE ${PUBLISHED(g)} AND
    ST_Intersects(ST_Transform(geom, 2154), ST_MakeEnvelope(${b.join(', ')}, 2154)) ORDER BY uid::text`).split('\n').filter(Boolean);

  test('bbox-crs=…2154 selects what the same box in CRS84 selects (the Toulouse area, not Montpellier)', async () => {
    const b = [540000, 6250000, 600000, 6310000];
    // The box in lon/lat: the extent of its outline, densified, in CRS84.
    const b84 = psql(srv.db, `SELECT concat_ws(',', ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)) FROM
      (SELECT ST_Transform(ST_Segmentize(ST_MakeEnvelope(${b.join(', ')}, 2154), 100), 4326) e) z`).split(',').map(Number);
    for (const [coll, g] of Object.entries(COLLECTIONS)) {
      const l93 = await ids(srv.base, items(coll, qs({ bbox: b.join(','), 'bbox-crs': L93 })));
      const lonlat = await ids(srv.base, items(coll, qs({ bbox: b84.join(',') })));
      const crs84 = await ids(srv.base, items(coll, qs({ bbox: b84.join(','), 'bbox-crs': CRS84 })));
      assert.deepEqual(l93, inL93(g, b), `${coll}: what PostGIS finds in Lambert-93`);
      assert.deepEqual(lonlat, l93, coll);
      assert.deepEqual(crs84, l93, coll);
      assert.deepEqual(l93, expected(g, (o) => o.departement === '31'), `${coll}: Haute-Garonne's objects only`);
    }
  });

  test('a Lambert-93 box of 60 m around one ERP selects it, as does the same box in CRS84', async () => {
    const o = MAIN.erp[7];
    const [x, y] = dbGeoms('erp', 2154).get(o.uid).coordinates;
    const b = [x - 30, y - 30, x + 30, y + 30];
    const b84 = psql(srv.db, `SELECT concat_ws(',', ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)) FROM
      (SELECT ST_Transform(ST_MakeEnvelope(${b.join(', ')}, 2154), 4326) e) z`).split(',').map(Number);
    const l93 = await ids(srv.base, items('erp', qs({ bbox: b.join(','), 'bbox-crs': L93 })));
    assert.ok(l93.includes(o.uid));
    assert.deepEqual(l93, inL93('erp', b));
    assert.deepEqual(await ids(srv.base, items('erp', qs({ bbox: b84.join(',') }))), l93);
  });

  test('a box 300 km wide: its edges are straight in Lambert-93, curved in lon/lat (an ERP 300 m inside the top edge)', async () => {
    const o = MAIN.erp[0];
    const [x, y] = dbGeoms('erp', 2154).get(o.uid).coordinates;
    const b = [x - 150000, y - 100000, x + 150000, y + 300];
    // Joining the corners in lon/lat would leave this ERP out.
    assert.equal(psql(srv.db, `SELECT ST_Intersects(geom, ST_Transform(ST_MakeEnvelope(${b.join(', ')}, 2154), 4326))
      FROM submissions WHERE id = ${o.id}`), 'f', 'the corners alone miss it');
    const got = await ids(srv.base, items('erp', qs({ bbox: b.join(','), 'bbox-crs': L93 })));
    assert.ok(got.includes(o.uid), 'the ERP is inside the box');
    assert.deepEqual(got, inL93('erp', b));
  });

  test('a Lambert-93 box beyond where EPSG:2154 is defined still holds what it covers', async () => {
    for (const b of ['-1e7,-1e7,1e7,2e7', '-1e300,-1e300,1e300,1e300', '0,6000000,1300000,7300000']) {
      const r = await getOk(srv.base, items('erp', qs({ bbox: b, 'bbox-crs': L93, limit: 1 })));
      assert.equal(r.json.numberMatched, PUB.erp.size, b);
    }
    // Degrees given as metres: a box at sea, far from everything.
    const r = await getOk(srv.base, items('erp', qs({ bbox: '1,43,2,44', 'bbox-crs': L93 })));
    assert.equal(r.json.numberMatched, 0);
    const far = await getOk(srv.base, items('erp', qs({ bbox: '-9e6,-9e6,-8e6,-8e6', 'bbox-crs': L93 })));
    assert.equal(far.json.numberMatched, 0);
  });
});

// --- paging ------------------------------------------------------------------------------------

describe('paging', () => {
  const dbOrder = (g) => psql(srv.db, `SELECT uid FROM submissions WHERE ${PUBLISHED(g)} ORDER BY id`).split('\n').filter(Boolean);

  test('ten per page by default: numberMatched, numberReturned, self and next links', async () => {
    const n = PUB.erp.size;
    const r = await getOk(srv.base, items('erp'));
    assert.equal(r.headers.get('content-type'), 'application/geo+json; charset=utf-8');
    assert.equal(r.json.type, 'FeatureCollection');
    assert.equal(r.json.numberMatched, n);
    assert.equal(r.json.numberReturned, 10);
    assert.equal(r.json.features.length, 10);
    assert.equal(link(r.json.links, 'self').href, `${srv.base}/ogc/collections/erp/items?offset=0`);
    assert.equal(link(r.json.links, 'self').type, 'application/geo+json');
    assert.equal(link(r.json.links, 'next').href, `${srv.base}/ogc/collections/erp/items?offset=10`);
    assert.equal(link(r.json.links, 'prev'), undefined);
    assert.ok(link(r.json.links, 'alternate', 'text/html').href.endsWith('&f=html'));
    assert.equal(link(r.json.links, 'collection').href, `${srv.base}/ogc/collections/erp`);
  });

  for (const [coll, g] of Object.entries(COLLECTIONS)) {
    test(`${coll}: next links followed to the end give every object once, in id order`, async () => {
      const n = PUB[g].size;
      const { pages, ids: got } = await walk(srv.base, items(coll, 'limit=3'));
      assert.equal(pages.length, Math.ceil(n / 3));
      for (const [i, p] of pages.entries()) {
        assert.equal(p.numberMatched, n);
        assert.equal(p.numberReturned, p.features.length);
        assert.equal(p.numberReturned, i < pages.length - 1 ? 3 : n - 3 * i);
        assert.equal(offsetOf(link(p.links, 'self').href), 3 * i);
      }
      assert.equal(new Set(got).size, got.length, 'no object twice');
      assert.deepEqual(got, dbOrder(g));
      assert.deepEqual([...got].sort(), expected(g));
    });
  }

  test('prev links followed from the last page back give the pages again', async () => {
    const n = PUB.erp.size;
    const forth = await walk(srv.base, items('erp', 'limit=4'));
    const last = link(forth.pages.at(-1).links, 'self').href;
    assert.equal(offsetOf(last), 4 * Math.floor((n - 1) / 4));
    const back = await walk(srv.base, last, { rel: 'prev' });
    assert.deepEqual(back.pages.map((p) => p.features.map((f) => f.id)), forth.pages.map((p) => p.features.map((f) => f.id)).reverse());
    assert.equal(link(back.pages.at(-1).links, 'prev'), undefined, 'none before the first page');
  });

  test('the links keep the filters, the crs and the limit', async () => {
    const want = expected('erp', (o) => o.attributes.categorie === '5');
    const { pages, ids: got } = await walk(srv.base, items('erp', qs({ categorie: '5', crs: L93, limit: 2 })));
    assert.ok(pages.length >= 2);
    assert.deepEqual([...got].sort(), want);
    for (const p of pages) {
      for (const f of p.features) assert.ok(f.geometry.coordinates[0] > 100000, 'still Lambert-93');
      const next = link(p.links, 'next');
      if (next) {
        const u = new URL(next.href);
        assert.equal(u.searchParams.get('categorie'), '5');
        assert.equal(u.searchParams.get('crs'), L93);
        assert.equal(u.searchParams.get('limit'), '2');
      }
    }
  });

  test('an offset past the end: an empty page that still counts, a prev link to the last page, no next', async () => {
    const n = PUB.erp.size;
    for (const off of [n, n + 1, 1000000000]) {
      const r = await getOk(srv.base, items('erp', `offset=${off}`));
      assert.deepEqual(r.json.features, []);
      assert.equal(r.json.numberReturned, 0);
      assert.equal(r.json.numberMatched, n);
      assert.equal(link(r.json.links, 'next'), undefined);
      assert.equal(offsetOf(link(r.json.links, 'prev').href), Math.max(n - 10, 0));
    }
    const last = await getOk(srv.base, items('erp', `offset=${n - 1}`));
    assert.equal(last.json.numberReturned, 1);
    assert.equal(link(last.json.links, 'next'), undefined);
  });

  test('a filter that matches nothing: numberMatched 0, no next', async () => {
    const r = await getOk(srv.base, items('erp', qs({ commune: '31412' })));
    assert.equal(r.json.numberMatched, 0);
    assert.deepEqual(r.json.features, []);
    assert.equal(link(r.json.links, 'next'), undefined);
  });

  test('limit up to 10000 is honoured; more is accepted and served as 10000 (prev past the end: the last page)', async () => {
    const n = PUB.erp.size;
    for (const l of [10000, 10001, 1000000000]) {
      const r = await getOk(srv.base, items('erp', `limit=${l}`));
      assert.equal(r.json.numberReturned, n, `limit=${l}`);
    }
    const r = await getOk(srv.base, items('erp', 'limit=20000&offset=15000'));
    assert.equal(offsetOf(link(r.json.links, 'prev').href), 0, `${n} objects: the last page of 10000 starts at 0`);
    const one = await getOk(srv.base, items('erp', 'limit=1&offset=3'));
    assert.equal(one.json.numberReturned, 1);
    assert.equal(offsetOf(link(one.json.links, 'prev').href), 2);
    assert.equal(offsetOf(link(one.json.links, 'next').href), 4);
  });
});

// --- publication -----------------------------------------------------------------------------------

describe('only validated objects, in their current version (Colomiers)', () => {
  const S = {};	// unpublished records
  const V = {};	// validated objects
  const A = {};	// amendments
  let pts;
  const attrs = (name) => ({ libelle: name, categorie: '4', type_principal: 'M', code_postal: '31770' });

  before(async () => {
    pts = pointsIn('31149', 12);
    S.draft = await create(C.author, 'erp', attrs('Brouillon'), pts[0], { submit: false });
    S.submitted = await create(C.author, 'erp', attrs('Soumis'), pts[1]);
    S.in_review = await create(C.author, 'erp', attrs('En instruction'), pts[2]);
    await act(C.admin, 'erp', S.in_review.id, 'claim');
    S.changes = await create(C.author, 'erp', attrs('À corriger'), pts[3]);
    await act(C.admin, 'erp', S.changes.id, 'request_changes', { comment: 'Précisez la catégorie.' });
    S.rejected = await create(C.author, 'erp', attrs('Refusé'), pts[4]);
    await act(C.admin, 'erp', S.rejected.id, 'reject', { reason: 'doublon', comment: 'Déjà saisi.' });
    S.withdrawn = await create(C.author, 'erp', attrs('Retiré'), pts[5]);
    await act(C.author, 'erp', S.withdrawn.id, 'withdraw');
    for (const [k, i] of [['amended', 6], ['pending', 7], ['deleted', 8], ['pendingDelete', 9], ['refused', 10]]) {
      V[k] = await published(C.author, 'erp', attrs(`Salle ${k}`), pts[i]);
    }
    A.amended = await amend(C.author, 'erp', V.amended, { attributes: { ...attrs('Salle rénovée'), categorie: '3' }, geometry: pts[11] });
    A.pending = await amend(C.author, 'erp', V.pending, { attributes: attrs('Salle en attente'), validate: false });
    A.pendingDelete = await amend(C.author, 'erp', V.pendingDelete, { operation: 'delete', validate: false });
    A.refused = await amend(C.author, 'erp', V.refused, { attributes: attrs('Salle refusée'), validate: false });
    await act(C.admin, 'erp', A.refused.id, 'reject', { reason: 'donnees_erronees', comment: 'Non.' });
    for (const [k, state] of [['draft', 'draft'], ['submitted', 'submitted'], ['in_review', 'in_review'],
      ['changes', 'changes_requested'], ['rejected', 'rejected'], ['withdrawn', 'withdrawn']]) {
      assert.equal((await record('erp', S[k].id, C.author)).state, state, k);
    }
  });

  test('the commune\'s collection holds its validated objects and nothing else', async () => {
    const got = await ids(srv.base, items('erp', 'commune=31149'));
    assert.deepEqual(got, [V.amended, V.pending, V.deleted, V.pendingDelete, V.refused].map((o) => o.uid).sort());
    assert.deepEqual(got, expected('erp', (o) => o.insee_commune === '31149'));
  });

  for (const k of ['draft', 'submitted', 'in_review', 'changes', 'rejected', 'withdrawn']) {
    test(`a ${k} record is not published: 404 by its id, absent from every page`, async () => {
      const r = await get(srv.base, `${items('erp')}/${S[k].uid}`);
      assert.equal(r.status, 404);
      assertErrorBody(r.text, 'feature_unknown', 'featureId');
      const all = await walk(srv.base, items('erp', 'limit=1000'));
      assert.ok(!all.ids.includes(S[k].uid));
    });
  }

  test('a validated amendment: the new values and geometry under the same id, validation date unchanged', async () => {
    const before = V.amended;
    const r = await getOk(srv.base, `${items('erp')}/${before.uid}`);
    assert.equal(r.json.id, before.uid);
    assert.equal(r.json.properties.libelle, 'Salle rénovée');
    assert.equal(r.json.properties.categorie, '3');
    assertCoords(r.json.geometry.coordinates, pts[11].coordinates, 1e-7, 'new point');
    assert.equal(r.json.properties.valide_le, `${before.decided_at.slice(0, 19)}Z`);
    assert.deepEqual(await ids(srv.base, items('erp', 'categorie=3&commune=31149')), [before.uid]);
    assert.deepEqual(await ids(srv.base, items('erp', 'commune=31149&categorie=4')),
      [V.pending, V.deleted, V.pendingDelete, V.refused].map((o) => o.uid).sort(), 'no longer in its old category');
  });

  test('the amendments themselves are never features', async () => {
    for (const a of Object.values(A)) {
      const r = await get(srv.base, `${items('erp')}/${a.uid}`);
      assert.equal(r.status, 404, a.uid);
    }
  });

  test('a pending or refused amendment changes nothing', async () => {
    for (const [k, name] of [['pending', 'Salle pending'], ['refused', 'Salle refused'], ['pendingDelete', 'Salle pendingDelete']]) {
      const r = await getOk(srv.base, `${items('erp')}/${V[k].uid}`);
      assert.equal(r.json.properties.libelle, name, k);
      assertCoords(r.json.geometry.coordinates, V[k].geometry.coordinates, 1e-7, k);
    }
  });

  test('a validated deletion removes the object: 404, one fewer matched', async () => {
    const n = (await getOk(srv.base, items('erp', 'limit=1'))).json.numberMatched;
    assert.equal((await get(srv.base, `${items('erp')}/${V.deleted.uid}`)).status, 200);
    await amend(C.author, 'erp', V.deleted, { operation: 'delete' });
    const r = await get(srv.base, `${items('erp')}/${V.deleted.uid}`);
    assert.equal(r.status, 404);
    assertErrorBody(r.text, 'feature_unknown', 'featureId');
    assert.equal((await getOk(srv.base, items('erp', 'limit=1'))).json.numberMatched, n - 1);
    assert.ok(!(await ids(srv.base, items('erp', 'commune=31149'))).includes(V.deleted.uid));
  });

  test('numberMatched is the database\'s count of validated creations, for each collection', async () => {
    for (const [coll, g] of Object.entries(COLLECTIONS)) {
      const r = await getOk(srv.base, items(coll, 'limit=1'));
      assert.equal(r.json.numberMatched, dbCount(g), coll);
      assert.equal(r.json.numberMatched, PUB[g].size, coll);
    }
  });
});

// --- filters -------------------------------------------------------------------------------------------

describe('filters', () => {
  const cases = [
    // [name, collection, query, predicate on the record]
    ['commune', 'erp', { commune: '31069' }, (o) => o.insee_commune === '31069'],
    ['departement', 'erp', { departement: '34' }, (o) => o.departement === '34'],
    ['departement and commune together (both apply)', 'erp', { departement: '31', commune: '34172' }, () => false],
    ['an enum (categorie)', 'erp', { categorie: '3' }, (o) => o.attributes.categorie === '3'],
    ['an enum with a space (etat_de_l_objet)', 'erp', { etat_de_l_objet: 'En projet' }, (o) => o.attributes.etat_de_l_objet === 'En projet'],
    ['two enums', 'erp', { categorie: '2', type_principal: 'M' }, (o) => o.attributes.categorie === '2' && o.attributes.type_principal === 'M'],
    ['a boolean, true', 'erp', { public: 'true' }, (o) => o.attributes.public === true],
    ['a boolean, false', 'erp', { public: 'false' }, (o) => o.attributes.public === false],
    ['a boolean never filled on some (ouvert=false)', 'erp', { ouvert: 'false' }, (o) => o.attributes.ouvert === false],
    ['an enum list holding a value (types_secondaires=L)', 'erp', { types_secondaires: 'L' }, (o) => (o.attributes.types_secondaires ?? []).includes('L')],
    ['an enum list holding another (types_secondaires=N)', 'erp', { types_secondaires: 'N' }, (o) => (o.attributes.types_secondaires ?? []).includes('N')],
    ['a text with a pattern (code_postal)', 'erp', { code_postal: '31700' }, (o) => o.attributes.code_postal === '31700'],
    ['a filter and the commune', 'erp', { public: 'true', commune: '31555' }, (o) => o.attributes.public === true && o.insee_commune === '31555'],
    ['an EquipCo category', 'equipco', { categorie: 'Sport' }, (o) => o.attributes.categorie === 'Sport'],
    ['an EquipCo nature with an accent', 'equipco', { nature: 'Hôpital' }, (o) => o.attributes.nature === 'Hôpital'],
    ['an EquipCo type_bpe', 'equipco', { type_bpe: 'F101' }, (o) => o.attributes.type_bpe === 'F101'],
    ['an integer (numero)', 'adresses', { numero: '4' }, (o) => o.attributes.numero === 4],
    ['an integer written 004', 'adresses', { numero: '004' }, (o) => o.attributes.numero === 4],
    ['a suffix', 'adresses', { suffixe: 'bis' }, (o) => o.attributes.suffixe === 'bis'],
    ['a boolean with a default (certification_commune=false)', 'adresses', { certification_commune: 'false' }, (o) => o.attributes.certification_commune === false],
    ['an enum with accents (position=bâtiment)', 'adresses', { position: 'bâtiment' }, (o) => o.attributes.position === 'bâtiment'],
    ['a street name', 'adresses', { voie_nom: 'Rue des Essais' }, (o) => o.attributes.voie_nom === 'Rue des Essais'],
  ];
  for (const [name, coll, q, pred] of cases) {
    test(`${name}: ${qs(q)}`, async () => {
      const want = expected(COLLECTIONS[coll], pred);
      const got = await ids(srv.base, items(coll, qs(q)));
      assert.deepEqual(got, want);
      if (name.startsWith('departement and')) assert.equal(got.length, 0);
      else assert.ok(got.length > 0 && got.length < PUB[COLLECTIONS[coll]].size, `${got.length}: a real selection`);
    });
  }

  test('bbox in CRS84 around Blagnac\'s ERP, alone and with a filter; 6 numbers like 4', async () => {
    const pts = MAIN.erp.filter((o) => o.insee_commune === '31069').map((o) => o.geometry.coordinates);
    const box = [Math.min(...pts.map((p) => p[0])), Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[1]))];
    const want = expected('erp', (o) => meets(o.geometry, box));
    assert.ok(want.length >= 5);
    assert.deepEqual(await ids(srv.base, items('erp', qs({ bbox: box.join(',') }))), want, 'the edges belong to the box');
    assert.deepEqual(await ids(srv.base, items('erp', qs({ bbox: [box[0], box[1], -100, box[2], box[3], 3000].join(',') }))), want);
    assert.deepEqual(await ids(srv.base, items('erp', qs({ bbox: box.join(','), public: 'true' }))),
      expected('erp', (o) => meets(o.geometry, box) && o.attributes.public === true));
  });

  test('bbox meets a polygon that it does not contain (its corner only)', async () => {
    const o = MAIN.equipco[2];	// a square of 0.002°
    const [[x0, y0], , [x1, y1]] = o.geometry.coordinates[0];
    const box = [x1 - 0.0001, y1 - 0.0001, x1 + 0.01, y1 + 0.01];
    const got = await ids(srv.base, items('equipco', qs({ bbox: box.join(',') })));
    assert.ok(got.includes(o.uid), 'the corner is in the box');
    const off = [x1 + 0.00001, y1 + 0.00001, x1 + 0.0001, y1 + 0.0001];
    assert.ok(!(await ids(srv.base, items('equipco', qs({ bbox: off.join(',') })))).includes(o.uid), 'just beyond it');
    assert.ok(x0 < x1 && y0 < y1);
  });

  describe('datetime, on the validation date (L\'Union)', () => {
    const D = {};
    const WHEN = {
      d0: '2001-06-01T00:00:00Z', d1: '2021-03-15T10:00:00Z', d2: '2021-03-15T23:30:00Z',
      d3: '2021-03-16T00:30:00Z', d4: '2022-07-01T12:00:00.25Z',
    };
    before(async () => {
      const p = pointsIn('31561', 5);
      let i = 0;
      for (const [k, when] of Object.entries(WHEN)) {
        D[k] = await published(C.author, 'erp', { libelle: `Daté ${k}`, categorie: '5', type_principal: 'L' }, p[i++]);
        psql(srv.db, `UPDATE submissions SET decided_at = '${when}' WHERE id = ${D[k].id}`);
      }
    });
    const cases = [
      ['a date: that whole UTC day', '2021-03-15', ['d1', 'd2']],
      ['an instant: that instant only', '2021-03-15T10:00:00Z', ['d1']],
      ['an instant with an offset', '2021-03-15T11:00:00+01:00', ['d1']],
      ['an instant with a fraction', '2022-07-01T12:00:00.250Z', ['d4']],
      ['an instant one second off', '2021-03-15T10:00:01Z', []],
      ['lower case t and z', '2021-03-15t10:00:00z', ['d1']],
      ['a closed interval of dates (both days whole)', '2021-03-15/2021-03-16', ['d1', 'd2', 'd3']],
      ['a closed interval of instants (ends included)', '2021-03-15T10:00:00Z/2021-03-16T00:30:00Z', ['d1', 'd2', 'd3']],
      ['an interval open at the end (..)', '2021-03-15T12:00:00Z/..', ['d2', 'd3', 'd4']],
      ['an interval open at the start (..)', '../2021-03-15T23:30:00Z', ['d0', 'd1', 'd2']],
      ['an interval open at the start (empty)', '/2021-03-15', ['d0', 'd1', 'd2']],
      ['an interval open at the end (empty)', '2021-03-16/', ['d3', 'd4']],
      ['years before 1000 keep their four digits (1 June of year 1 is not in 2001)', '0001-06-01', []],
      ['an interval ending in year 1', '../0001-12-31', []],
      ['year 1 to 2001', '0001-01-01/2001-06-01', ['d0']],
      ['year 99', '0099-06-01/..', ['d0', 'd1', 'd2', 'd3', 'd4']],
      ['up to the last day of 9999', '2022-01-01/9999-12-31', ['d4']],
      ['a reversed interval matches nothing', '2022-01-01/2021-01-01', []],
    ];
    for (const [name, dt, want] of cases) {
      test(`${name}: ${dt}`, async () => {
        const got = await ids(srv.base, items('erp', qs({ datetime: dt, commune: '31561' })));
        assert.deepEqual(got, want.map((k) => D[k].uid).sort());
      });
    }
    test('valide_le is the validation date in UTC, to the second', async () => {
      const r = await getOk(srv.base, `${items('erp')}/${D.d4.uid}`);
      assert.equal(r.json.properties.valide_le, '2022-07-01T12:00:00Z');
    });
  });
});

// --- refusals -------------------------------------------------------------------------------------------

describe('refusals: 400 and 404 in the one error shape', () => {
  const BAD = [
    // [name, collection, query, code, field]
    ['an unknown parameter', 'erp', 'foo=1', 'param_unknown', null],
    ['a field that is not queryable', 'erp', 'libelle=x', 'param_unknown', null],
    ['a queryable of another collection', 'erp', 'nature=Stade', 'param_unknown', null],
    ['a path parameter in the query', 'erp', 'collectionId=erp', 'param_unknown', null],
    ['a name differing in case', 'erp', 'Categorie=1', 'param_unknown', null],
    ['a name that is not UTF-8', 'erp', '%ff=1', 'param_unknown', null],
    ['a long unknown name', 'erp', `${'a'.repeat(99)}%C3%A9=1`, 'param_unknown', null],
    ['a repeated filter', 'erp', 'categorie=1&categorie=2', 'param_repeated', 'categorie'],
    ['a filter repeated with the same value', 'equipco', 'categorie=Sport&categorie=Sport', 'param_repeated', 'categorie'],
    ['a repeated commune', 'erp', 'commune=31555&commune=31069', 'param_repeated', 'commune'],
    ['a repeated bbox', 'erp', 'bbox=1,43,2,44&bbox=1,43,2,44', 'param_repeated', 'bbox'],
    ['a repeated limit', 'erp', 'limit=1&limit=2', 'param_repeated', 'limit'],
    ['an enum value not in the list', 'erp', 'categorie=9', 'filter_invalid', 'categorie'],
    ['an empty filter', 'erp', 'categorie=', 'filter_invalid', 'categorie'],
    ['a filter value that is not UTF-8', 'erp', 'categorie=%ff', 'filter_invalid', 'categorie'],
    ['a text value cut inside a character', 'erp', 'code_postal=%C3', 'filter_invalid', 'code_postal'],
    ['a list value that is not UTF-8', 'erp', 'types_secondaires=%C3%28', 'filter_invalid', 'types_secondaires'],
    ['a boolean that is neither true nor false', 'erp', 'public=yes', 'filter_invalid', 'public'],
    ['a boolean as 1', 'erp', 'public=1', 'filter_invalid', 'public'],
    ['a list value not in the list', 'erp', 'types_secondaires=ZZ', 'filter_invalid', 'types_secondaires'],
    ['a text against its pattern', 'erp', 'code_postal=3100', 'filter_invalid', 'code_postal'],
    ['an integer that is not one', 'adresses', 'numero=quatre', 'filter_invalid', 'numero'],
    ['an integer with a fraction', 'adresses', 'numero=4.5', 'filter_invalid', 'numero'],
    ['an integer out of the form\'s range', 'adresses', 'numero=100000', 'filter_invalid', 'numero'],
    ['an integer beyond 64 bits', 'adresses', 'numero=99999999999999999999', 'filter_invalid', 'numero'],
    ['a commune that is no INSEE code', 'erp', 'commune=Toulouse', 'filter_invalid', 'commune'],
    ['a département that is no code', 'erp', 'departement=3', 'filter_invalid', 'departement'],
    ['bbox of 3 numbers', 'erp', 'bbox=1,43,2', 'param_invalid', 'bbox'],
    ['bbox of 5 numbers', 'erp', 'bbox=1,43,2,44,5', 'param_invalid', 'bbox'],
    ['bbox of 7 numbers', 'erp', 'bbox=1,43,0,2,44,0,9', 'param_invalid', 'bbox'],
    ['bbox with inf', 'erp', 'bbox=-inf,43,2,44', 'param_invalid', 'bbox'],
    ['bbox with Infinity', 'erp', 'bbox=1,43,Infinity,44', 'param_invalid', 'bbox'],
    ['bbox with NaN', 'erp', 'bbox=NaN,43,2,44', 'param_invalid', 'bbox'],
    ['bbox with 1e999', 'erp', 'bbox=1,43,1e999,44', 'param_invalid', 'bbox'],
    ['bbox in hexadecimal', 'erp', 'bbox=0x1,43,2,44', 'param_invalid', 'bbox'],
    ['bbox with a blank', 'erp', 'bbox=1,%2043,2,44', 'param_invalid', 'bbox'],
    ['bbox with an empty number', 'erp', 'bbox=1,,2,44', 'param_invalid', 'bbox'],
    ['bbox empty', 'erp', 'bbox=', 'param_invalid', 'bbox'],
    ['bbox reversed in x', 'erp', 'bbox=2,43,1,44', 'param_invalid', 'bbox'],
    ['bbox reversed in y', 'erp', 'bbox=1,44,2,43', 'param_invalid', 'bbox'],
    ['bbox longitude out of range', 'erp', 'bbox=-181,43,2,44', 'param_invalid', 'bbox'],
    ['bbox latitude out of range', 'erp', 'bbox=1,43,2,90.5', 'param_invalid', 'bbox'],
    ['bbox in Lambert-93 without bbox-crs', 'erp', 'bbox=570000,6270000,580000,6280000', 'param_invalid', 'bbox'],
    ['bbox with bbox-crs of 2154 and inf', 'erp', `bbox=-inf,0,1,1&bbox-crs=${L93}`, 'param_invalid', 'bbox'],
    ['datetime with month 13', 'erp', 'datetime=2021-13-01', 'param_invalid', 'datetime'],
    ['datetime 30 February', 'erp', 'datetime=2021-02-30', 'param_invalid', 'datetime'],
    ['datetime in words', 'erp', 'datetime=yesterday', 'param_invalid', 'datetime'],
    ['datetime open at both ends', 'erp', 'datetime=../..', 'param_invalid', 'datetime'],
    ['datetime "/" alone', 'erp', 'datetime=/', 'param_invalid', 'datetime'],
    ['datetime without a zone', 'erp', 'datetime=2021-03-15T10:00:00', 'param_invalid', 'datetime'],
    ['datetime with an offset PostgreSQL cannot take', 'erp', 'datetime=2021-03-15T10:00:00%2B16:00', 'param_invalid', 'datetime'],
    ['datetime of three parts', 'erp', 'datetime=2021-01-01/2021-02-01/2021-03-01', 'param_invalid', 'datetime'],
    ['datetime year 0', 'erp', 'datetime=0000-01-01', 'param_invalid', 'datetime'],
    ['crs as EPSG:2154', 'erp', 'crs=EPSG:2154', 'param_invalid', 'crs'],
    ['crs of EPSG 4326', 'erp', 'crs=http://www.opengis.net/def/crs/EPSG/0/4326', 'param_invalid', 'crs'],
    ['crs on one feature', 'erp', null, 'param_invalid', 'crs'],
    ['bbox-crs not offered', 'erp', 'bbox=1,43,2,44&bbox-crs=EPSG:4326', 'param_invalid', 'bbox-crs'],
    ['bbox-crs without bbox', 'erp', `bbox-crs=${CRS84}`, 'param_invalid', 'bbox-crs'],
    ['limit 0', 'erp', 'limit=0', 'param_invalid', 'limit'],
    ['limit beyond 10^9', 'erp', 'limit=1000000001', 'param_invalid', 'limit'],
    ['limit in words', 'erp', 'limit=ten', 'param_invalid', 'limit'],
    ['offset negative', 'erp', 'offset=-1', 'param_invalid', 'offset'],
    ['f=xml', 'erp', 'f=xml', 'param_invalid', 'f'],
    ['f=jsonld on items', 'erp', 'f=jsonld', 'param_invalid', 'f'],
  ];
  for (const [name, coll, query, code, field] of BAD) {
    test(`400 ${code}: ${name}`, async () => {
      const url = query === null ? `${items(coll)}/${MAIN.erp[0].uid}?crs=EPSG:4326` : items(coll, query);
      const r = await get(srv.base, url);
      assert.equal(r.status, 400, `${url}: ${r.text}`);
      assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
      assertErrorBody(r.text, code, field);
    });
  }

  test('an unknown parameter is refused without echoing its name (error pages never echo the request)', async () => {
    for (const q of ['nom_du_lieu=x', '%ff%fe=1', `${'é'.repeat(80)}=1`, '%3Cscript%3E=1']) {
      const r = await get(srv.base, items('erp', q));
      const e = assertErrorBody(r.text, 'param_unknown', null);
      assert.match(e.message, /queryables/);
      assert.doesNotMatch(e.message, /nom_du_lieu|é|script/);
    }
  });

  test('a filter value that is not UTF-8 is called so (not empty)', async () => {
    const r = await get(srv.base, items('erp', 'categorie=%ff'));
    assert.match(assertErrorBody(r.text, 'filter_invalid', 'categorie').message, /UTF-8/);
  });

  test('an invalid filter is named by its label in the message', async () => {
    const r = await get(srv.base, items('erp', 'categorie=9'));
    assert.match(assertErrorBody(r.text, 'filter_invalid', 'categorie').message, /Catégorie/);
  });

  for (const p of ['/ogc/collections/nope', '/ogc/collections/nope/items', '/ogc/collections/nope/queryables',
    '/ogc/collections/adresse/items', '/ogc/collections/ERP', '/ogc/collections/nope?f=jsonld']) {
    test(`404 collection_unknown: ${p}`, async () => {
      const r = await get(srv.base, p);
      assert.equal(r.status, 404);
      assertErrorBody(r.text, 'collection_unknown', 'collectionId');
    });
  }

  test('404 feature_unknown: an unknown uuid, malformed ids, an id of another collection, the internal number', async () => {
    const u = MAIN.erp[0].uid;
    for (const [coll, fid] of [['erp', '00000000-0000-4000-8000-000000000000'], ['erp', '123'], ['erp', 'not-a-uuid'],
      ['erp', `${u}0`], ['erp', u.slice(1)], ['erp', `g${u.slice(1)}`], ['erp', u.replaceAll('-', '')],
      ['erp', `${u.slice(0, 8)}_${u.slice(9)}`], ['equipco', u], ['adresses', u],
      ['erp', String(MAIN.erp[0].id)]]) {
      const r = await get(srv.base, `/ogc/collections/${coll}/items/${fid}`);
      assert.equal(r.status, 404, `${coll}/${fid}: ${r.text}`);
      assertErrorBody(r.text, 'feature_unknown', 'featureId');
    }
  });

  test('an id in capitals is the same uuid', async () => {
    const o = MAIN.erp[0];
    const r = await getOk(srv.base, `${items('erp')}/${o.uid.toUpperCase()}`);
    assert.equal(r.json.id, o.uid);
  });
});

// --- caching -------------------------------------------------------------------------------------------

describe('ETag, Last-Modified and 304 (Tournefeuille)', () => {
  let pts;
  before(() => { pts = pointsIn('31557', 3); });

  const httpDate = (s) => new Date(s).getTime();
  // Last-Modified is given once the last change is 2 s old (a writer's
  // updated_at is its transaction's start): wait for that.
  const settled = () => waitFor(() => psql(srv.db, "SELECT max(updated_at) < clock_timestamp() - interval '2.1 seconds' "
    + 'FROM submissions') === 't', { what: 'changes 2 s old', intervalMs: 200 });

  test('items: ETag and Last-Modified; If-None-Match answers 304 without a body, with the same ETag', async () => {
    await settled();
    const r = await getOk(srv.base, items('erp', 'limit=5'));
    const etag = r.headers.get('etag');
    assert.match(etag, /^"[0-9a-f]{32}"$/);
    assert.ok(r.headers.get('last-modified'));
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
      const raw = await rawRequest(srv.port, items('erp', 'limit=5'), { headers: { 'If-None-Match': inm }, waitClose: true });
      assert.equal(raw.response.status, 304, inm);
      assert.equal(raw.text.slice(raw.text.indexOf('\r\n\r\n') + 4), '', 'no body');
      assert.equal(raw.response.headers.etag, etag);
      assert.equal(raw.response.headers['access-control-allow-origin'], '*');
    }
    const other = await get(srv.base, items('erp', 'limit=5'), { 'If-None-Match': '"0123"' });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('etag'), etag, 'same body, same ETag');
  });

  test('the ETag is the body\'s: another page, another format, another crs have their own', async () => {
    const tags = new Set();
    for (const q of ['limit=5', 'limit=5&offset=5', 'limit=5&f=html', `limit=5&crs=${encodeURIComponent(L93)}`]) {
      tags.add((await get(srv.base, items('erp', q))).headers.get('etag'));
    }
    assert.equal(tags.size, 4);
  });

  test('Last-Modified is the last change of the guichet, never later than the answer\'s Date', async () => {
    await settled();
    const r = await getOk(srv.base, items('erp', 'limit=1'));
    const last = psql(srv.db, "SELECT floor(extract(epoch FROM max(updated_at)))::bigint FROM submissions WHERE guichet = 'erp'");
    assert.equal(httpDate(r.headers.get('last-modified')), Number(last) * 1000);
    assert.ok(httpDate(r.headers.get('last-modified')) <= httpDate(r.headers.get('date')),
      `${r.headers.get('last-modified')} after ${r.headers.get('date')}`);
  });

  test('If-Modified-Since: 304 at or after Last-Modified, 200 before it; If-None-Match wins over it', async () => {
    await settled();
    const r = await getOk(srv.base, items('erp', 'limit=2'));
    const lm = r.headers.get('last-modified');
    const later = new Date(httpDate(lm) + 3600e3).toUTCString();
    const earlier = new Date(httpDate(lm) - 1000).toUTCString();
    assert.equal((await get(srv.base, items('erp', 'limit=2'), { 'If-Modified-Since': lm })).status, 304);
    assert.equal((await get(srv.base, items('erp', 'limit=2'), { 'If-Modified-Since': later })).status, 304);
    assert.equal((await get(srv.base, items('erp', 'limit=2'), { 'If-Modified-Since': earlier })).status, 200);
    assert.equal((await get(srv.base, items('erp', 'limit=2'), { 'If-Modified-Since': 'hier' })).status, 200);
    assert.equal((await get(srv.base, items('erp', 'limit=2'), { 'If-Modified-Since': lm, 'If-None-Match': '"other"' })).status, 200);
  });

  test('a new validation changes the ETag and Last-Modified; the old validators get 200', async () => {
    await settled();
    const r = await getOk(srv.base, items('erp', 'limit=1'));
    const etag = r.headers.get('etag');
    const lm = r.headers.get('last-modified');
    await published(C.author, 'erp', { libelle: 'Nouvelle salle', categorie: '5', type_principal: 'L' }, pts[0]);
    const fresh = await getOk(srv.base, items('erp', 'limit=1'));
    assert.equal(fresh.headers.get('last-modified'), null, 'no Last-Modified while the change is recent');
    assert.notEqual(fresh.headers.get('etag'), etag);
    assert.equal((await get(srv.base, items('erp', 'limit=1'), { 'If-Modified-Since': lm })).status, 200);
    await settled();
    const now = await getOk(srv.base, items('erp', 'limit=1'));
    assert.notEqual(now.headers.get('etag'), etag);
    assert.ok(httpDate(now.headers.get('last-modified')) > httpDate(lm));
    assert.equal(now.json.numberMatched, r.json.numberMatched + 1);
    assert.equal((await get(srv.base, items('erp', 'limit=1'), { 'If-None-Match': etag })).status, 200);
    assert.equal((await get(srv.base, items('erp', 'limit=1'), { 'If-Modified-Since': lm })).status, 200);
    assert.ok(httpDate(now.headers.get('last-modified')) <= httpDate(now.headers.get('date')));
  });

  test('one feature: ETag and 304; a validated amendment changes both validators', async () => {
    const o = await published(C.author, 'erp', { libelle: 'Salle à modifier', categorie: '5', type_principal: 'L' }, pts[1]);
    const url = `${items('erp')}/${o.uid}`;
    await settled();
    const r = await getOk(srv.base, url);
    const etag = r.headers.get('etag');
    assert.equal((await get(srv.base, url, { 'If-None-Match': etag })).status, 304);
    assert.equal((await get(srv.base, url, { 'If-Modified-Since': r.headers.get('last-modified') })).status, 304);
    await amend(C.author, 'erp', o, { attributes: { ...o.attributes, libelle: 'Salle modifiée' } });
    const now = await get(srv.base, url, { 'If-None-Match': etag });
    assert.equal(now.status, 200);
    assert.equal(now.json.properties.libelle, 'Salle modifiée');
    assert.equal((await get(srv.base, url, { 'If-Modified-Since': r.headers.get('last-modified') })).status, 200);
  });

  test('the collections, a collection and its catalogue entry answer 304 too; another guichet\'s change leaves erp alone', async () => {
    await settled();
    for (const p of ['/ogc/collections', '/ogc/collections/erp', '/ogc/collections/erp?f=jsonld', '/ogc/collections?f=jsonld']) {
      const r = await getOk(srv.base, p);
      assert.equal((await get(srv.base, p, { 'If-None-Match': r.headers.get('etag') })).status, 304, p);
      assert.equal((await get(srv.base, p, { 'If-Modified-Since': r.headers.get('last-modified') })).status, 304, p);
    }
    const erp = await getOk(srv.base, items('erp', 'limit=1'));
    const all = await getOk(srv.base, '/ogc/collections');
    await published(C.author, 'equipco', { categorie: 'Sport', nature: 'Stade', toponyme: 'Stade de Tournefeuille' }, pts[2]);
    await settled();
    assert.equal((await get(srv.base, items('erp', 'limit=1'), { 'If-None-Match': erp.headers.get('etag') })).status, 304);
    assert.equal((await get(srv.base, items('erp', 'limit=1'), { 'If-Modified-Since': erp.headers.get('last-modified') })).status, 304);
    assert.equal((await get(srv.base, '/ogc/collections', { 'If-Modified-Since': all.headers.get('last-modified') })).status, 200,
      'the list of collections follows every guichet');
  });

  test('every answer may be read from any origin, and varies with Accept', async () => {
    for (const p of ['/ogc', '/ogc/conformance', '/ogc/api', '/ogc/collections', '/ogc/collections/erp',
      '/ogc/collections/erp/queryables', items('erp'), `${items('erp')}/${MAIN.erp[0].uid}`, items('erp', 'f=html')]) {
      const r = await get(srv.base, p);
      assert.equal(r.status, 200, p);
      assert.equal(r.headers.get('access-control-allow-origin'), '*', p);
      assert.equal(r.headers.get('vary'), 'Accept', p);
      assertSecurityHeaders(r.headers);
    }
  });
});

// --- HTML ----------------------------------------------------------------------------------------------

describe('HTML pages', () => {
  const ESCAPED = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; L&#39;Étoile &amp; &quot;Co&quot;';

  async function html(p, headers = {}) {
    const r = await get(srv.base, p, headers);
    assert.equal(r.status, 200, `${p}: ${r.text.slice(0, 300)}`);
    assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8', p);
    assertSecurityHeaders(r.headers);
    assert.ok(r.text.startsWith('<!doctype html>'), p);
    assert.ok(!/<script/i.test(r.text), `${p}: no script element at all`);
    return r;
  }

  test('items in HTML: the hostile name escaped, links to each feature\'s page, to the next page and to GeoJSON', async () => {
    const r = await html(items('erp', 'f=html&commune=31555&limit=5'));
    assert.ok(r.text.includes(ESCAPED), 'the name, escaped');
    assert.ok(!r.text.includes(HOSTILE));
    assert.ok(!r.text.includes('alert("x")'));
    const hrefs = [...r.text.matchAll(/href="([^"]*)"/g)].map((m) => m[1].replaceAll('&amp;', '&'));
    assert.ok(hrefs.includes(`${srv.base}/ogc/collections/erp/items/${MAIN.erp[3].uid}?f=html`), hrefs.join('\n'));
    const next = hrefs.find((h) => h.includes('offset=5'));
    assert.ok(next && next.includes('f=html') && next.includes('commune=31555'), `next page in HTML: ${next}`);
    assert.ok(hrefs.some((h) => h.includes('f=json') && h.includes('offset=0')), 'the same page in GeoJSON');
    const n = expected('erp', (o) => o.insee_commune === '31555').length;
    assert.ok(r.text.includes(`${n} objets en tout, 5 sur cette page.`));
    for (const h of hrefs.filter((x) => x.startsWith(srv.base))) {
      assert.equal((await get(srv.base, h)).status, 200, h);
    }
  });

  test('one feature in HTML: every property, the producer\'s name escaped too', async () => {
    const o = MAIN.erp[3];
    const r = await html(`${items('erp')}/${o.uid}?f=html`);
    assert.ok(r.text.includes(ESCAPED));
    assert.ok(r.text.includes('Syndicat &lt;SIVU&gt; &quot;L&#39;Hers&quot; &amp; Co'));
    assert.ok(!r.text.includes(HOSTILE_ORG));
    assert.ok(r.text.includes(`<title>${o.uid} — `));
    for (const k of ['libelle', 'categorie', 'type_principal', 'commune', 'departement', 'valide_le', 'producteur']) {
      assert.ok(r.text.includes(`<th>${k}</th>`), k);
    }
    assert.ok(r.text.includes(`href="${srv.base}/ogc/collections/erp"`), 'link to the collection');
  });

  test('Accept: text/html without f gets HTML; a browser\'s Accept too; JSON first gets JSON; f wins over Accept', async () => {
    await html(items('erp', 'limit=2'), { Accept: 'text/html' });
    await html('/ogc', { Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' });
    await html(`${items('erp')}/${MAIN.erp[0].uid}`, { Accept: 'text/html' });
    const j = await get(srv.base, items('erp', 'limit=2'), { Accept: 'application/geo+json, text/html' });
    assert.equal(j.headers.get('content-type'), 'application/geo+json; charset=utf-8');
    const f = await get(srv.base, items('erp', 'limit=2&f=json'), { Accept: 'text/html' });
    assert.equal(f.headers.get('content-type'), 'application/geo+json; charset=utf-8');
    const none = await get(srv.base, items('erp', 'limit=2'));
    assert.equal(none.headers.get('content-type'), 'application/geo+json; charset=utf-8');
  });

  test('landing page, conformance, collections and a collection in HTML, with their links', async () => {
    for (const p of ['/ogc?f=html', '/ogc/conformance?f=html', '/ogc/collections?f=html', '/ogc/collections/equipco?f=html']) {
      const r = await html(p);
      assert.ok(/<h1>[^<]+<\/h1>/.test(r.text), p);
      if (p !== '/ogc/conformance?f=html') assert.ok(r.text.includes('<ul class="liens">'), p);
    }
    const c = await html('/ogc/collections?f=html');
    for (const coll of Object.keys(COLLECTIONS)) assert.ok(c.text.includes(`href="${srv.base}/ogc/collections/${coll}/items?f=html"`), coll);
    assert.ok((await html('/ogc/collections/equipco?f=html')).text.includes(FORMS.equipco.title));
    assert.ok((await html('/ogc/conformance?f=html')).text.includes('http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core'));
  });
});

// --- DCAT-AP -----------------------------------------------------------------------------------------

describe('DCAT-AP catalogue (JSON-LD, expanded by jsonld)', () => {
  const DCAT = 'http://www.w3.org/ns/dcat#';
  const DCT = 'http://purl.org/dc/terms/';
  const FOAF = 'http://xmlns.com/foaf/0.1/';
  const VCARD = 'http://www.w3.org/2006/vcard/ns#';
  const GSP = 'http://www.opengis.net/ont/geosparql#';
  const XSD = 'http://www.w3.org/2001/XMLSchema#';
  // Nothing is fetched: the context is inline, and any remote one fails.
  const documentLoader = async (url) => { throw new Error(`no document may be fetched (${url})`); };

  async function expanded(p) {
    const r = await getOk(srv.base, p);
    assert.equal(r.headers.get('content-type'), 'application/ld+json; charset=utf-8');
    assert.equal(typeof r.json['@context'], 'object', 'an inline context');
    return jsonld.expand(r.json, { documentLoader, safe: true });
  }

  const one = (node, iri) => {
    const v = node[iri];
    assert.ok(Array.isArray(v) && v.length >= 1, `${iri} on ${node['@id'] ?? 'a blank node'}`);
    return v[0];
  };
  const types = (node) => node['@type'] ?? [];

  /** Checks a dataset node as DCAT-AP wants it; returns its GeoJSON distribution's access URL. */
  function checkDataset(d, coll) {
    const g = COLLECTIONS[coll];
    assert.deepEqual(types(d), [`${DCAT}Dataset`]);
    assert.equal(d['@id'], `${srv.base}/ogc/collections/${coll}`);
    assert.equal(one(d, `${DCT}identifier`)['@value'], coll);
    assert.deepEqual(one(d, `${DCT}title`), { '@value': FORMS[g].title, '@language': 'fr' });
    assert.deepEqual(one(d, `${DCT}description`), { '@value': FORMS[g].description, '@language': 'fr' });
    assert.match(one(d, `${DCAT}theme`)['@id'], /^http:\/\/publications\.europa\.eu\/resource\/authority\/data-theme\/[A-Z]{4}$/);
    assert.match(one(d, `${DCT}license`)['@id'], /^https?:\/\//);
    const pub = one(d, `${DCT}publisher`);
    assert.deepEqual(types(pub), [`${FOAF}Agent`]);
    assert.equal(typeof one(pub, `${FOAF}name`)['@value'], 'string');
    const cp = one(d, `${DCAT}contactPoint`);
    assert.deepEqual(types(cp), [`${VCARD}Organization`]);
    assert.match(one(cp, `${VCARD}hasEmail`)['@id'], /^mailto:[^@]+@[^@]+$/);
    assert.equal(typeof one(cp, `${VCARD}fn`)['@value'], 'string');
    const spatial = one(d, `${DCT}spatial`);
    assert.deepEqual(types(spatial), [`${DCT}Location`]);
    const box = one(spatial, `${DCAT}bbox`);
    assert.equal(box['@type'], `${GSP}wktLiteral`);
    assert.match(box['@value'], /^POLYGON\(\((-?\d+\.\d+ -?\d+\.\d+,){4}-?\d+\.\d+ -?\d+\.\d+\)\)$/);
    assert.equal(one(d, `${DCT}language`)['@id'], 'http://publications.europa.eu/resource/authority/language/FRA');
    assert.equal(one(d, `${DCAT}landingPage`)['@id'], `${srv.base}/ogc/collections/${coll}?f=html`);
    const first = psql(srv.db, `SELECT to_char(min(decided_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') FROM submissions WHERE ${PUBLISHED(g)}`);
    assert.deepEqual(one(d, `${DCT}issued`), { '@value': first, '@type': `${XSD}dateTime` });
    assert.equal(one(d, `${DCT}modified`)['@type'], `${XSD}dateTime`);
    const dists = d[`${DCAT}distribution`];
    assert.equal(dists.length, 2);
    for (const x of dists) {
      assert.deepEqual(types(x), [`${DCAT}Distribution`]);
      assert.equal(typeof one(x, `${DCT}title`)['@value'], 'string');
      assert.ok(one(x, `${DCAT}accessURL`)['@id'].startsWith(`${srv.base}/ogc/collections/${coll}/items?f=`));
      assert.equal(one(x, `${DCT}license`)['@id'], one(d, `${DCT}license`)['@id']);
      assert.match(one(x, `${DCT}format`)['@id'], /^http:\/\/publications\.europa\.eu\/resource\/authority\/file-type\/[A-Z]+$/);
      // A media type is an IRI of IANA's register (dct:MediaType), not a text.
      assert.match(one(x, `${DCAT}mediaType`)['@id'], /^http:\/\/www\.iana\.org\/assignments\/media-types\/(application\/geo\+json|text\/html)$/);
      const svc = one(x, `${DCAT}accessService`);
      assert.deepEqual(types(svc), [`${DCAT}DataService`]);
      assert.equal(one(svc, `${DCAT}endpointURL`)['@id'], `${srv.base}/ogc`);
    }
    const geojson = dists.find((x) => one(x, `${DCT}format`)['@id'].endsWith('/GEOJSON'));
    assert.ok(geojson, 'a GeoJSON distribution');
    return one(geojson, `${DCAT}accessURL`)['@id'];
  }

  test('the catalogue: one dcat:Catalog with title, description, publisher and the three datasets', async () => {
    const doc = await expanded('/ogc/collections?f=jsonld');
    assert.equal(doc.length, 1, 'one top node');
    const cat = doc[0];
    assert.deepEqual(types(cat), [`${DCAT}Catalog`]);
    assert.equal(cat['@id'], `${srv.base}/ogc/collections`);
    assert.equal(one(cat, `${DCT}title`)['@language'], 'fr');
    assert.equal(typeof one(cat, `${DCT}description`)['@value'], 'string');
    assert.deepEqual(types(one(cat, `${DCT}publisher`)), [`${FOAF}Agent`]);
    assert.equal(one(cat, `${FOAF}homepage`)['@id'], `${srv.base}/`);
    const datasets = cat[`${DCAT}dataset`];
    assert.deepEqual(datasets.map((d) => one(d, `${DCT}identifier`)['@value']), ['erp', 'equipco', 'adresses']);
    for (const d of datasets) checkDataset(d, one(d, `${DCT}identifier`)['@value']);
  });

  test('the catalogue as RDF: every node typed, every IRI absolute', async () => {
    const r = await getOk(srv.base, '/ogc/collections?f=jsonld');
    const nquads = await jsonld.toRDF(r.json, { format: 'application/n-quads', documentLoader, safe: true });
    const lines = nquads.trim().split('\n');
    assert.ok(lines.length > 100, `${lines.length} triples`);
    for (const l of lines) {
      for (const m of l.matchAll(/<([^>]*)>/g)) assert.match(m[1], /^(https?|mailto):/, l);
    }
    assert.equal(lines.filter((l) => l.includes(`<http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <${DCAT}Dataset>`)).length, 3);
  });

  for (const coll of Object.keys(COLLECTIONS)) {
    test(`the dataset ${coll} alone (f=jsonld), whose GeoJSON access URL serves its features`, async () => {
      const doc = await expanded(`/ogc/collections/${coll}?f=jsonld`);
      assert.equal(doc.length, 1);
      const url = checkDataset(doc[0], coll);
      const r = await getOk(srv.base, url);
      assert.equal(r.headers.get('content-type'), 'application/geo+json; charset=utf-8');
      assert.equal(r.json.type, 'FeatureCollection');
      assert.equal(r.json.numberMatched, PUB[COLLECTIONS[coll]].size);
      const html = await get(srv.base, one(one(doc[0], `${DCAT}distribution`), `${DCAT}accessURL`)['@id']);
      assert.equal(html.status, 200);
    });
  }

  test('the bbox of a dataset is the extent of its collection', async () => {
    const doc = await expanded('/ogc/collections/erp?f=jsonld');
    const wkt = one(one(doc[0], `${DCT}spatial`), `${DCAT}bbox`)['@value'];
    const n = wkt.match(/-?\d+\.\d+/g).map(Number);
    const c = (await getOk(srv.base, '/ogc/collections/erp')).json.extent.spatial.bbox[0];
    assertCoords([n[0], n[1], n[4], n[5]], c, 1e-6, 'corners');
  });
});

// --- OpenAPI ---------------------------------------------------------------------------------------------

describe('OpenAPI 3.0 definition (/ogc/api)', () => {
  let api;
  before(async () => {
    const r = await getOk(srv.base, '/ogc/api');
    assert.equal(r.headers.get('content-type'), 'application/vnd.oai.openapi+json;version=3.0');
    api = r.json;
  });

  test('openapi 3.0.x, info, servers on /ogc, components', () => {
    assert.match(api.openapi, /^3\.0\.\d+$/);
    assert.equal(typeof api.info.title, 'string');
    assert.equal(typeof api.info.version, 'string');
    assert.equal(typeof api.info.license.name, 'string');
    assert.deepEqual(api.servers, [{ url: `${srv.base}/ogc` }]);
    assert.deepEqual(Object.keys(api).sort(), ['components', 'info', 'openapi', 'paths', 'servers']);
    assert.equal(api.components.schemas.Error.type, 'object');
  });

  test('the paths: landing page, conformance, api, collections, and four per collection', () => {
    const want = ['/', '/conformance', '/api', '/collections'];
    for (const c of Object.keys(COLLECTIONS)) {
      want.push(`/collections/${c}`, `/collections/${c}/queryables`, `/collections/${c}/items`, `/collections/${c}/items/{featureId}`);
    }
    assert.deepEqual(Object.keys(api.paths).sort(), want.sort());
  });

  test('every operation: a GET with a summary, well-formed parameters and responses; every $ref resolves', () => {
    const resolve = (ref) => ref.slice(2).split('/').reduce((o, k) => o?.[k], api);
    const refs = [];
    (function scan(v) {
      if (Array.isArray(v)) v.forEach(scan);
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { if (k === '$ref') refs.push(x); else scan(x); }
    }(api));
    assert.ok(refs.length > 0);
    for (const ref of refs) {
      assert.match(ref, /^#\//);
      assert.ok(resolve(ref), ref);
    }
    for (const [p, item] of Object.entries(api.paths)) {
      assert.deepEqual(Object.keys(item), ['get'], p);
      const op = item.get;
      assert.equal(typeof op.summary, 'string');
      assert.ok(op.responses['200'], p);
      for (const [code, resp] of Object.entries(op.responses)) {
        assert.match(code, /^(default|[1-5]\d\d)$/, p);
        assert.equal(typeof resp.description, 'string', `${p} ${code}`);
      }
      const seen = new Set();
      for (const prm of op.parameters) {
        assert.equal(typeof prm.name, 'string');
        assert.ok(['query', 'path', 'header', 'cookie'].includes(prm.in), `${p} ${prm.name}`);
        assert.ok(!seen.has(`${prm.in} ${prm.name}`), `${p}: ${prm.name} once`);
        seen.add(`${prm.in} ${prm.name}`);
        assert.equal(typeof prm.schema, 'object', `${p} ${prm.name}`);
        if (prm.in === 'path') assert.equal(prm.required, true, `${p} ${prm.name}`);
      }
      for (const m of p.matchAll(/\{([^}]+)\}/g)) assert.ok(seen.has(`path ${m[1]}`), `${p}: {${m[1]}} declared`);
    }
  });

  for (const [coll, g] of Object.entries(COLLECTIONS)) {
    test(`${coll} items: limit (1..10000, default 10), offset, bbox, crs, datetime and each queryable of the form`, async () => {
      const params = Object.fromEntries(api.paths[`/collections/${coll}/items`].get.parameters.map((p) => [p.name, p]));
      assert.deepEqual(params.limit.schema, { type: 'integer', minimum: 1, maximum: 10000, default: 10 });
      assert.equal(params.offset.schema.minimum, 0);
      assert.equal(params.bbox.schema.type, 'array');
      assert.deepEqual(params.crs.schema.enum, [CRS84, L93]);
      assert.deepEqual(params['bbox-crs'].schema.enum, [CRS84, L93]);
      for (const k of ['datetime', 'commune', 'departement', 'f']) assert.ok(params[k], k);
      const q = (await getOk(srv.base, `/ogc/collections/${coll}/queryables`)).json.properties;
      for (const [name, schema] of Object.entries(q)) {
        assert.ok(params[name], `${coll}: queryable ${name} is a parameter`);
        if (name !== 'commune' && name !== 'departement') assert.deepEqual(params[name].schema, schema, name);
      }
      const declared = new Set(['limit', 'offset', 'bbox', 'bbox-crs', 'crs', 'datetime', 'f', ...Object.keys(q)]);
      assert.deepEqual(Object.keys(params).filter((k) => !declared.has(k)), [], 'nothing else');
      assert.equal(FORMS[g].fields.filter((f) => f.queryable).length + 9, Object.keys(params).length);
    });
  }

  test('every path answers 200 on this server', async () => {
    const fid = MAIN.erp[0].uid;
    const ids2 = { erp: fid, equipco: MAIN.equipco[0].uid, adresses: MAIN.adresse[0].uid };
    for (const p of Object.keys(api.paths)) {
      const coll = /^\/collections\/([^/]+)/.exec(p)?.[1];
      const url = api.servers[0].url + (p === '/' ? '' : p.replace('{featureId}', ids2[coll]));
      assert.equal((await get(srv.base, url)).status, 200, url);
    }
  });
});

// --- limit clamping on a large collection -------------------------------------------------------------------

describe('limit is clamped to 10000 (a database of 10,005 published ERP)', () => {
  let big;
  const N = 10005;
  before(async () => {
    big = await startServer({ env: { ...FAST_ARGON2 } });
    const org = addOrg(big.db, { name: 'OPenIG', kind: 'openig', departements: '31' });
    const u = addUser(big.db, { email: 'big@ogc.test', org, role: 'contributor' });
    // Straight into the table: 10,005 validations through the API would take minutes.
    psql(big.db, `INSERT INTO submissions (guichet, state, operation, attributes, geom, label, insee_commune, departement,
      author_id, organisation_id, decided_at, updated_at)
      SELECT 'erp', 'validated', 'create', jsonb_build_object('libelle', 'ERP ' || i, 'categorie', '5', 'type_principal', 'L'),
        ST_SetSRID(ST_MakePoint(1.40 + i * 1e-5, 43.60), 4326), 'ERP ' || i, '31555', '31', ${u.id}, ${org}, now(), now()
      FROM generate_series(1, ${N}) i`);
  });
  after(async () => { await big?.stop(); });

  test('limit=20000 returns 10000 features, counts 10005, and links the next 5', async () => {
    const r = await getOk(big.base, items('erp', 'limit=20000'));
    assert.equal(r.json.numberMatched, N);
    assert.equal(r.json.numberReturned, 10000);
    assert.equal(r.json.features.length, 10000);
    const next = link(r.json.links, 'next');
    assert.equal(offsetOf(next.href), 10000);
    const rest = await getOk(big.base, next.href);
    assert.equal(rest.json.numberReturned, 5);
    assert.equal(link(rest.json.links, 'next'), undefined);
    const all = new Set([...r.json.features, ...rest.json.features].map((f) => f.id));
    assert.equal(all.size, N, 'every object once');
  });

  test('without limit, ten; with limit=10000, the same first page as limit=20000', async () => {
    assert.equal((await getOk(big.base, items('erp'))).json.numberReturned, 10);
    const a = await getOk(big.base, items('erp', 'limit=10000'));
    const b = await getOk(big.base, items('erp', 'limit=1000000000'));
    assert.deepEqual(a.json.features.map((f) => f.id), b.json.features.map((f) => f.id));
  });
});
