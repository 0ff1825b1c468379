// The three guichets over HTTP: forms, drafts and submissions, every error
// of the geometry checks, the containing commune, the author's territory,
// duplicates as warnings to confirm, edits with versions, and who reads what.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, psql, REFDATA } from './harness.mjs';
import { Client, FAST_ARGON2, addOrg, addUser, fixture } from './accounts.mjs';

let srv;
let fx;
let agent;		// contributor of the Commune de Toulouse
let other;		// org admin of the Commune de Montpellier
const CAPITOLE = { type: 'Point', coordinates: [1.4436, 43.6045] };
const MONTPELLIER = 'POINT(3.8767 43.6108)';

before(async () => {
  assert.ok(REFDATA.length > 0, 'TEST_REFDATA must name the reference data (make sets it)');
  srv = await startServer({ env: { ...FAST_ARGON2 }, refdata: true });
  fx = fixture(srv.db);
  agent = new Client(srv.base);
  await agent.login(fx.users.contributor.email, fx.users.contributor.password);
  other = new Client(srv.base);
  await other.login(fx.users.away_admin.email, fx.users.away_admin.password);
});

after(async () => { await srv?.stop(); });

const count = () => Number(psql(srv.db, 'SELECT count(*) FROM submissions'));
const erp = (extra = {}) => ({ libelle: 'Théâtre du Capitole', categorie: '2', type_principal: 'L',
  capacite_d_accueil_du_public: 1156, ...extra });
const post = (c, guichet, body) => c.req('POST', `/api/v1/guichets/${guichet}/submissions`, body);
function codes(r, list = 'errors') {
  return (r.json?.[list] ?? []).map((e) => `${e.field}:${e.code}`);
}

describe('forms', () => {
  test('each guichet’s form is served, with fields, labels and export names', async () => {
    for (const g of ['erp', 'equipco', 'adresse']) {
      const r = await new Client(srv.base).req('GET', `/api/v1/forms/${g}`);
      assert.equal(r.status, 200);
      assert.equal(r.json.guichet, g);
      assert.ok(r.json.fields.length >= 8);
      for (const f of r.json.fields) assert.ok(f.label && f.export, f.name);
    }
    assert.equal((await new Client(srv.base).req('GET', '/api/v1/forms/routes')).status, 404);
  });

  test('/healthz says containment checks are on', async () => {
    const r = await new Client(srv.base).req('GET', '/healthz');
    assert.equal(r.json.containment, 'on');
    assert.ok(r.json.communes > 4000);
  });
});

describe('submitting', () => {
  test('a valid ERP is stored as submitted, its commune and département from the point', async () => {
    const r = await post(agent, 'erp', { attributes: erp({ numero_siret: '73282932000074', public: true }), geometry: CAPITOLE, submit: true });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.state, 'submitted');
    assert.equal(r.json.attributes.insee_commune, '31555');
    assert.equal(r.json.attributes.etat_de_l_objet, 'En service');
    assert.deepEqual(r.json.geometry, CAPITOLE);
    const row = psql(srv.db, `SELECT insee_commune, departement, label, attributes->>'numero_siret', ST_AsText(geom), author_id FROM submissions WHERE id = ${r.json.id}`);
    assert.equal(row, `31555|31|Théâtre du Capitole|73282932000074|POINT(1.4436 43.6045)|${fx.users.contributor.id}`);
  });

  test('errors come all at once, each with its field, and nothing is stored', async () => {
    const n = count();
    const r = await post(agent, 'erp', { attributes: { libelle: 'X', categorie: '4', type_principal: 'ZZ', capacite_d_accueil_du_public: 400 }, geometry: CAPITOLE, submit: true });
    assert.equal(r.status, 422);
    assert.equal(r.json.error.code, 'validation_failed');
    assert.deepEqual(codes(r), ['libelle:field_too_short', 'type_principal:field_enum', 'categorie:categorie_capacite']);
    assert.equal(count(), n);
  });

  test('geometry errors are distinct', async () => {
    const cases = [
      ['erp', 'POINT(1.44', 'geometry_parse'],
      ['erp', 'POLYGON((1.44 43.60, 1.45 43.60, 1.45 43.61, 1.44 43.60))', 'geometry_type'],
      ['erp', 'POINT EMPTY', 'geometry_empty'],
      ['erp', 'POINT(200 43)', 'geometry_coordinates'],
      ['equipco', 'POLYGON((1.41 43.62, 1.42 43.63, 1.42 43.62, 1.41 43.63, 1.41 43.62))', 'geometry_invalid'],
      ['erp', 'POINT(2.35 48.85)', 'geometry_outside'],
      ['erp', null, 'geometry_missing'],
    ];
    for (const [g, geometry, code] of cases) {
      const attrs = g === 'erp' ? erp() : { categorie: 'Sport', nature: 'Stade', toponyme: 'Stade' };
      const r = await post(agent, g, { attributes: attrs, geometry, submit: true });
      assert.equal(r.status, 422, `${geometry}: ${r.text}`);
      assert.deepEqual(codes(r), [`geometry:${code}`], String(geometry));
    }
    const bad = await post(agent, 'equipco', { attributes: {}, geometry: 'POLYGON((1.41 43.62, 1.42 43.63, 1.42 43.62, 1.41 43.63, 1.41 43.62))', submit: true });
    assert.match(bad.json.errors.find((e) => e.field === 'geometry').message, /auto-intersection en 1\.415000 43\.625000/);
  });

  test('a polygon of more than 100,000 vertices is refused', async () => {
    const ring = Array.from({ length: 100001 }, (_, i) => [1.4 + 0.01 * Math.cos(i / 16000), 43.6 + 0.01 * Math.sin(i / 16000)]);
    ring.push(ring[0]);
    const r = await post(agent, 'equipco', { attributes: {}, geometry: { type: 'Polygon', coordinates: [ring] }, submit: true });
    assert.equal(r.status, 422);
    assert.ok(codes(r).includes('geometry:geometry_too_large'), codes(r).join());
  });

  test('a commune that does not contain the point is an error, near its border a warning', async () => {
    let r = await post(agent, 'erp', { attributes: erp({ insee_commune: '31069' }), geometry: CAPITOLE, submit: true });
    assert.deepEqual(codes(r), ['insee_commune:commune_mismatch']);
    // A point of Toulouse 20 m from its border with Blagnac (31069).
    const [x, y] = psql(srv.db, `SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Intersection(
      ST_Buffer(ST_Intersection(ST_Boundary(t.geom), ST_Boundary(b.geom))::geography, 20)::geometry, t.geom)) p
      FROM ref_zones t, ref_zones b WHERE t.kind = 'commune' AND t.code = '31555' AND b.kind = 'commune' AND b.code = '31069') q`).split('|').map(Number);
    // (The platform admin, whose territory covers both communes.)
    const admin = new Client(srv.base);
    await admin.login(fx.users.admin.email, fx.users.admin.password);
    r = await post(admin, 'erp', { attributes: erp({ libelle: 'Limite', insee_commune: '31069' }), geometry: `POINT(${x} ${y})`, submit: true });
    assert.deepEqual(codes(r, 'warnings'), ['insee_commune:commune_border'], `${x} ${y}: ${r.text}`);
    assert.equal(r.json.error.code, 'warnings_unconfirmed');
  });

  test('outside the author’s territory is refused', async () => {
    const r = await post(agent, 'erp', { attributes: erp({ libelle: 'Opéra Comédie' }), geometry: MONTPELLIER, submit: true });
    assert.deepEqual([r.status, r.json.error.code, r.json.error.field], [403, 'outside_territory', 'insee_commune']);
  });

  test('look-alikes of other organisations are not shown before they are validated', async () => {
    // Another organisation covering Toulouse: the Département.
    const cd = addOrg(srv.db, { name: 'Conseil départemental 31', kind: 'departement', departements: '31' });
    const u = addUser(srv.db, { email: 'agent@cd31.test', org: cd, role: 'contributor' });
    const c = new Client(srv.base);
    await c.login(u.email, u.password);
    const r = await post(c, 'erp', { attributes: erp({ libelle: 'Théâtre du Capitole' }), geometry: CAPITOLE, submit: true });
    assert.equal(r.status, 201, `the commune's submission is not listed to the Département: ${r.text}`);
    psql(srv.db, `UPDATE submissions SET state = 'validated' WHERE id = ${r.json.id}`);
    const again = await post(agent, 'erp', { attributes: erp({ libelle: 'Théâtre du Capitole' }), geometry: CAPITOLE, submit: true });
    assert.equal(again.json?.error?.code, 'warnings_unconfirmed', 'a validated object is');
    assert.ok(again.json.warnings[0].candidates.some((x) => x.id === r.json.id));
  });

  test('a geometry with altitudes is read; degenerate rings are refused', async () => {
    let r = await post(agent, 'erp', { attributes: erp({ libelle: 'Altitude' }), geometry: { type: 'Point', coordinates: [1.46, 43.61, 146] }, submit: false });
    assert.deepEqual(r.json.geometry, { type: 'Point', coordinates: [1.46, 43.61] });
    r = await post(agent, 'equipco', { attributes: {}, geometry: { type: 'Polygon', coordinates: [[[1.41, 43.62], [1.42, 43.62], [1.42, 43.63], [1.41, 43.62]], []] }, submit: true });
    assert.deepEqual(codes(r).filter((x) => x.startsWith('geometry')), ['geometry:geometry_parse']);
    r = await post(agent, 'erp', { attributes: erp(), geometry: `POINT(1 ${'é'.repeat(100)})`, submit: true });
    assert.deepEqual([r.status, codes(r)], [422, ['geometry:geometry_parse']]);
  });

  test('a look-alike nearby is a warning to confirm; confirmed, it is kept with the submission', async () => {
    const n = count();
    let r = await post(agent, 'erp', { attributes: erp({ libelle: 'Theatre du Capitole' }), geometry: { type: 'Point', coordinates: [1.4437, 43.6046] }, submit: true });
    assert.equal(r.status, 422);
    assert.equal(r.json.error.code, 'warnings_unconfirmed');
    const w = r.json.warnings.find((x) => x.code === 'duplicate_nearby');
    assert.ok(w.candidates[0].distance_m < 50);
    assert.equal(w.candidates[0].label, 'Théâtre du Capitole');
    assert.equal(count(), n);
    r = await post(agent, 'erp', { attributes: erp({ libelle: 'Theatre du Capitole' }), geometry: { type: 'Point', coordinates: [1.4437, 43.6046] }, submit: true, confirm_warnings: true });
    assert.equal(r.status, 201);
    assert.equal(psql(srv.db, `SELECT warnings->0->>'code' FROM submissions WHERE id = ${r.json.id}`), 'duplicate_nearby');
  });

  test('addresses: 99999 needs no position; the same number in the same street within 5 m is a look-alike', async () => {
    let r = await post(agent, 'adresse', { attributes: { voie_nom: 'Lieu-dit Borderouge', numero: 99999 }, geometry: 'POINT(1.4590 43.6410)', submit: true });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.attributes.commune_insee, '31555');
    r = await post(agent, 'adresse', { attributes: { voie_nom: 'Rue du Taur', numero: 12 }, geometry: 'POINT(1.4430 43.6060)', submit: true });
    assert.deepEqual(codes(r), ['position:field_required']);
    r = await post(agent, 'adresse', { attributes: { voie_nom: 'Rue du Taur', numero: 12, position: 'entrée' }, geometry: 'POINT(1.4430 43.6060)', submit: true });
    assert.equal(r.status, 201);
    r = await post(agent, 'adresse', { attributes: { voie_nom: 'rue du Taur', numero: 12, position: 'entrée' }, geometry: 'POINT(1.44302 43.60601)', submit: true });
    assert.equal(r.json?.warnings?.[0]?.code, 'duplicate_nearby', r.text);
    r = await post(agent, 'adresse', { attributes: { voie_nom: 'Rue du Taur', numero: 14, position: 'entrée' }, geometry: 'POINT(1.44302 43.60601)', submit: true });
    assert.equal(r.status, 201, 'another number is no duplicate');
  });

  test('streets get one stable UUID v4 each, whatever the case or blanks; addresses their own', async () => {
    const a = await post(agent, 'adresse', { attributes: { voie_nom: 'Allée Jean Jaurès', numero: 1, position: 'entrée' }, geometry: 'POINT(1.4500 43.6080)', submit: false });
    const b = await post(agent, 'adresse', { attributes: { voie_nom: 'allée  jean jaurès ', numero: 3, position: 'entrée' }, geometry: 'POINT(1.4502 43.6081)', submit: false });
    const c = await post(agent, 'adresse', { attributes: { voie_nom: 'Rue Alsace-Lorraine', numero: 1, position: 'entrée' }, geometry: 'POINT(1.4460 43.6030)', submit: false });
    const v4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    assert.match(a.json.voie_uid, v4);
    assert.equal(b.json.voie_uid, a.json.voie_uid);
    assert.notEqual(c.json.voie_uid, a.json.voie_uid);
    assert.match(a.json.uid, v4);
    assert.notEqual(a.json.uid, b.json.uid);
    const erpRow = await post(agent, 'erp', { attributes: erp({ libelle: 'Sans voie' }), submit: false });
    assert.equal(erpRow.json.voie_uid, null);
  });

  test('bad bodies name their member; undeclared attributes are dropped', async () => {
    let r = await post(agent, 'erp', { geometry: CAPITOLE });
    assert.deepEqual([r.status, r.json.error.code, r.json.error.field], [400, 'param_missing', 'attributes']);
    r = await post(agent, 'erp', { attributes: [], geometry: CAPITOLE });
    assert.deepEqual(codes(r), ['null:attributes_type']);
    r = await post(agent, 'erp', { attributes: erp({ pirate: '<script>' }), geometry: CAPITOLE, submit: false });
    assert.equal(r.status, 201);
    assert.equal(r.json.attributes.pirate, undefined);
  });
});

describe('drafts and edits', () => {
  let draft;

  test('a draft is saved with its problems listed', async () => {
    const r = await post(agent, 'equipco', { attributes: { categorie: 'Sport', toponyme: 'S' }, submit: false });
    assert.equal(r.status, 201);
    assert.equal(r.json.state, 'draft');
    assert.deepEqual(codes(r), ['toponyme:field_too_short']);
    draft = r.json;
  });

  test('an edit without a geometry member keeps the stored geometry', async () => {
    const d = await post(agent, 'equipco', { attributes: { categorie: 'Sport', toponyme: 'Gymnase' }, geometry: 'POINT(1.4400 43.6100)', submit: false });
    const r = await agent.req('PATCH', `/api/v1/guichets/equipco/submissions/${d.json.id}`, { attributes: { categorie: 'Sport', toponyme: 'Gymnase Bellevue' } });
    assert.deepEqual([r.status, r.json.geometry.type, r.json.insee_commune], [200, 'Point', '31555']);
  });

  test('the author edits and submits it; then it is no longer editable', async () => {
    let r = await agent.req('PATCH', `/api/v1/guichets/equipco/submissions/${draft.id}`,
      { attributes: { categorie: 'Sport', nature: 'Stade', toponyme: 'Stade Ernest-Wallon' }, geometry: 'POINT(1.4153 43.6230)', version: draft.version });
    assert.deepEqual([r.status, r.json.state, r.json.version], [200, 'draft', 2]);
    const stale = await agent.req('PATCH', `/api/v1/guichets/equipco/submissions/${draft.id}`,
      { attributes: {}, version: 1 });
    assert.deepEqual([stale.status, stale.json.error.code], [409, 'stale_version']);
    r = await agent.req('PATCH', `/api/v1/guichets/equipco/submissions/${draft.id}`,
      { attributes: { categorie: 'Sport', nature: 'Stade', toponyme: 'Stade Ernest-Wallon' }, geometry: 'POINT(1.4153 43.6230)', version: 2, submit: true });
    assert.deepEqual([r.status, r.json.state], [200, 'submitted']);
    r = await agent.req('PATCH', `/api/v1/guichets/equipco/submissions/${draft.id}`, { attributes: {} });
    assert.deepEqual([r.status, r.json.error.code], [409, 'not_editable']);
  });

  test('an author lists its own submissions; others’ are 404', async () => {
    const mine = await agent.req('GET', '/api/v1/guichets/erp/submissions?limit=2');
    assert.equal(mine.status, 200);
    assert.equal(mine.json.submissions.length, 2);
    assert.ok(mine.json.total >= 3);
    assert.ok(mine.json.submissions.every((s) => s.author_id === fx.users.contributor.id));
    const submitted = await agent.req('GET', '/api/v1/guichets/equipco/submissions?state=submitted');
    assert.deepEqual(submitted.json.submissions.map((s) => s.id), [draft.id]);
    assert.equal((await other.req('GET', `/api/v1/guichets/equipco/submissions/${draft.id}`)).status, 404);
    assert.equal((await other.req('PATCH', `/api/v1/guichets/equipco/submissions/${draft.id}`, { attributes: {} })).status, 404);
    assert.equal((await agent.req('GET', `/api/v1/guichets/erp/submissions/${draft.id}`)).status, 404, 'another guichet');
    assert.equal((await agent.req('GET', `/api/v1/guichets/equipco/submissions/${draft.id}`)).status, 200);
    const bad = await agent.req('GET', '/api/v1/guichets/erp/submissions?state=gone');
    assert.deepEqual([bad.status, bad.json.error.field], [400, 'state']);
  });
});

describe('every error code of the form engine, over HTTP', () => {
  // [guichet, attributes, expected problem codes (field:code), list]
  const cases = [
    ['erp', {}, ['libelle:field_required', 'categorie:field_required', 'type_principal:field_required']],
    ['erp', { ...erp(), libelle: 42 }, ['libelle:field_type']],
    ['erp', { ...erp(), libelle: 'X' }, ['libelle:field_too_short']],
    ['erp', { ...erp(), libelle: 'x'.repeat(201) }, ['libelle:field_too_long']],
    ['erp', { ...erp(), libelle: 'a\u0007b' }, ['libelle:field_control_character']],
    ['erp', { ...erp(), categorie: '6' }, ['categorie:field_enum']],
    ['erp', { ...erp(), capacite_d_accueil_du_public: -1 }, ['capacite_d_accueil_du_public:field_min']],
    ['erp', { ...erp(), capacite_d_accueil_du_public: 200001 }, ['capacite_d_accueil_du_public:field_max']],
    ['erp', { ...erp(), numero_siret: '73282932000075' }, ['numero_siret:field_siret']],
    ['erp', { ...erp(), code_postal: '3100' }, ['code_postal:field_pattern']],
    ['erp', { ...erp(), insee_commune: '3155' }, ['insee_commune:field_insee']],
    ['erp', { ...erp(), types_secondaires: ['N', 'N'] }, ['types_secondaires:field_duplicate_item']],
    ['erp', { ...erp(), types_secondaires: Array(11).fill('N') }, ['types_secondaires:field_too_many']],
    ['erp', { ...erp(), capacite_d_hebergement: 3 }, ['capacite_d_hebergement:field_not_allowed']],
    ['erp', { ...erp(), categorie: '3' }, ['categorie:categorie_capacite']],
    ['adresse', { voie_nom: 'Rue du Taur', numero: 12 }, ['position:field_required']],
    ['adresse', { voie_nom: 'Rue du Taur', numero: 100000, position: 'entrée' }, ['numero:field_max']],
    ['adresse', { voie_nom: 'Rue du Taur', numero: 1, position: 'entrée', suffixe: '-bis' }, ['suffixe:field_pattern']],
  ];
  for (const [g, attributes, want] of cases) {
    test(`${g} ${want.join(' ')}`, async () => {
      const r = await post(agent, g, { attributes, geometry: 'POINT(1.4430 43.6060)', submit: true });
      assert.equal(r.status, 422, r.text);
      assert.deepEqual(codes(r), want);
      for (const e of r.json.errors) assert.ok(e.message.length > 10 && /[éèàç«]|[a-z] [a-z]/.test(e.message), e.message);
    });
  }

  const warnings = [
    ['erp', { ...erp(), categorie: '5', type_principal: 'N', capacite_d_accueil_du_public: 250 }, ['categorie:categorie_seuil_5e']],
    ['erp', { ...erp(), categorie: '1' }, ['categorie:categorie_capacite_basse']],
    ['adresse', { voie_nom: 'Rue du Taur', numero: 10000, position: 'entrée' }, ['numero:numero_plage']],
    ['erp', { ...erp(), categorie: '4', type_principal: 'PN', capacite_d_accueil_du_public: 100 }, ['categorie:petit_erp_5e']],
    ['equipco', { categorie: 'Santé', nature: 'Stade', toponyme: 'Stade du CHU' }, ['nature:nature_inconnue']],
    ['adresse', { voie_nom: 'RUE DU TAUR', numero: 3, position: 'entrée' }, ['voie_nom:voie_majuscules']],
    ['adresse', { voie_nom: 'Rue du Taur', numero: 5, position: 'entrée', lieudit_complement_nom: 'rue du taur' }, ['lieudit_complement_nom:lieudit_egal_voie']],
    // Against the COG list: Toulouse has no commune déléguée; 31000 is its postcode, 34000 is not.
    ['adresse', { voie_nom: 'Rue du Taur', numero: 7, position: 'entrée', commune_deleguee_insee: '31298' }, ['commune_deleguee_insee:deleguee_inconnue']],
    ['erp', { ...erp({ libelle: 'Bureau de poste' }), code_postal: '34000' }, ['code_postal:code_postal_inconnu']],
  ];
  for (const [g, attributes, want] of warnings) {
    test(`${g} warns ${want.join(' ')}`, async () => {
      const r = await post(agent, g, { attributes, geometry: 'POINT(1.4530 43.5960)', submit: true });
      assert.equal(r.status, 422, r.text);
      assert.equal(r.json.error.code, 'warnings_unconfirmed');
      assert.deepEqual(codes(r, 'warnings'), want);
    });
  }
});

test('without outlines the server runs, and /healthz says containment checks are off', async () => {
  const bare = await startServer({ env: { ...FAST_ARGON2 } });
  try {
    const r = await new Client(bare.base).req('GET', '/healthz');
    assert.deepEqual([r.status, r.json.containment, r.json.communes], [200, 'off', 0]);
    assert.match(bare.stderr(), /containment checks are off/);
  } finally {
    await bare.stop();
  }
});
