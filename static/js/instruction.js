// The review of one record (?guichet=erp&id=N): its fields as the form
// labels them, its geometry on a map, the authorities' sign-offs, who
// handles it, what changed since the last review, the decision panel
// (remarks per field, a comment, a reason of refusal, and one button per
// action the server allows the reviewer now), the history and the thread.
// An amendment names its object in a banner; a modification is compared
// with the object as it is (or, once applied, as it was).
import * as L from '/vendor/leaflet/leaflet-src.esm.js';
import { api, ApiError } from './api.js';
import { el, clear, dateText, showError, showOk } from './dom.js';
import { startPage } from './layout.js';
import {
  GUICHETS, OPERATIONS, loadWorkflow, stateLabel, decisionLabel, reasonLabel, valueText, fieldLabel,
  submissionPath, renderThread, amendmentText,
} from './suivi.js';

const params = new URLSearchParams(location.search);
const guichet = params.get('guichet') ?? 'erp';
const id = params.get('id');
const base = submissionPath(guichet, id ?? '');

let session;
let wf;
let form;
let sub;		// the submission as last loaded
let map;
let shapes;		// the record's geometry on the map
let outline;		// its commune's outline
let former;		// an amended object's geometry, beside the proposed one

const pageMessage = (text, good) => {
  const p = document.getElementById('message-page');
  p.textContent = text ?? '';
  p.className = `message${text ? (good ? ' ok' : ' ko') : ''}`;
};

function fieldDef(name) {
  return form.fields.find((f) => f.name === name);
}

function myAuthority() {
  const kind = session.user.organisation.kind;
  return form.review?.authorities?.find((a) => a.kinds.includes(kind)) ?? null;
}

function authorityLabel(code) {
  if (code === 'admin') return 'Administration de la plateforme';
  return form.review?.authorities?.find((a) => a.code === code)?.label ?? code;
}

// --- what is shown ----------------------------------------------------------

function renderSummary(s) {
  const dl = clear(document.getElementById('resume'));
  const due = el('dd', {}, dateText(s.due_at));
  if (s.overdue) due.append(' ', el('strong', { class: 'en-retard', text: 'En retard' }));
  const rows = [
    ['État', el('dd', { id: 'etat', text: stateLabel(wf, s.state) })],
    ['Guichet', el('dd', { text: GUICHETS[s.guichet] ?? s.guichet })],
    ['Demande', el('dd', {}, OPERATIONS[s.operation] ?? s.operation ?? '—',
      s.target_id ? ` de l'objet n° ${s.target_id}` : '')],
    ['Commune', el('dd', { text: [s.insee_commune, s.departement ? `(département ${s.departement})` : null].filter(Boolean).join(' ') || '—' })],
    ['Auteur', el('dd', { text: [s.author_name, s.organisation_name].filter(Boolean).join(' — ') || '—' })],
    ['Soumise le', el('dd', { text: dateText(s.submitted_at) })],
    ['Échéance', due],
    ['Version', el('dd', { text: `${s.version}${s.round ? ` (tour de relecture ${s.round})` : ''}` })],
  ];
  if (s.decided_at) rows.push(['Décidée le', el('dd', { text: dateText(s.decided_at) })]);
  for (const [k, v] of rows) dl.append(el('dt', { text: k }), v);

  const warnings = s.warnings ?? [];
  const list = clear(document.getElementById('liste-avertissements'));
  for (const w of warnings) list.append(el('li', { text: w.message ?? w.code }));
  document.getElementById('avertissements').hidden = warnings.length === 0;
}

function renderFields(s) {
  const dl = clear(document.getElementById('champs'));
  for (const f of form.fields) {
    dl.append(el('dt', { text: f.label }),
      el('dd', { 'data-field': f.name, text: valueText(f, s.attributes?.[f.name]) }));
  }
}

function renderMap(s) {
  if (!shapes) return;
  shapes.clearLayers();
  const text = document.getElementById('coordonnees');
  if (!s.geometry) {
    text.textContent = 'Aucune géométrie.';
    return;
  }
  shapes.addData(s.geometry);
  if (s.geometry.type === 'Point') {
    const [x, y] = s.geometry.coordinates;
    map.setView([y, x], 17);
    text.textContent = `Point : ${y.toFixed(6)} N, ${x.toFixed(6)} E`;
  } else {
    map.fitBounds(shapes.getBounds(), { maxZoom: 18 });
    text.textContent = s.geometry.type === 'Polygon' || s.geometry.type === 'MultiPolygon' ? 'Contour saisi.' : 'Géométrie saisie.';
  }
}

async function renderOutline(s) {
  if (!outline || !s.insee_commune) return;
  try {
    const fc = await api('GET', `/api/v1/ref/zones?kind=commune&code=${encodeURIComponent(s.insee_commune)}`);
    outline.clearLayers();
    outline.addData(fc);
  } catch { /* the map stays usable without it */ }
}

function renderSignoffs(s) {
  const review = form.review;
  document.getElementById('mode-avis').textContent = review
    ? (review.mode === 'any' ? 'L’avis favorable d’une seule de ces autorités suffit.'
      : 'L’avis favorable de chacune de ces autorités est nécessaire.')
    : '';
  const tbody = clear(document.querySelector('#avis tbody'));
  const signoffs = s.signoffs ?? [];
  if (!signoffs.length) tbody.append(el('tr', {}, el('td', { colspan: 4, text: 'Aucun avis pour ce tour.' })));
  for (const o of signoffs) {
    tbody.append(el('tr', { 'data-authority': o.authority },
      el('th', { scope: 'row', text: o.label ?? authorityLabel(o.authority) }),
      el('td', { class: o.decision ? `avis-${o.decision}` : 'avis-attente', text: decisionLabel(wf, o.decision) }),
      el('td', { text: o.reviewer_name ?? '—' }),
      el('td', { text: dateText(o.at) })));
  }
}

function finalState(s) {
  return wf.states.find((x) => x.code === s.state)?.final ?? false;
}

function renderAssignments(s) {
  const me = session.user.id;
  const ul = clear(document.getElementById('assignations'));
  const list = s.assignments ?? [];
  if (!list.length) ul.append(el('li', { text: 'Personne ne s’en occupe pour l’instant.' }));
  for (const a of list) {
    ul.append(el('li', {}, el('strong', { text: authorityLabel(a.authority) }), ' : ',
      a.user_name ?? '—', a.user_id === me ? ' (vous)' : ''));
  }
  const mine = list.some((a) => a.user_id === me);
  const open = !finalState(s) && s.state !== 'draft' && s.state !== 'changes_requested';
  document.getElementById('prendre').hidden = mine || !(open || (s.allowed_actions ?? []).includes('claim'));
  document.getElementById('relacher').hidden = !mine || finalState(s);
}

function renderActions(s) {
  const allowed = s.allowed_actions ?? [];
  const box = clear(document.getElementById('actions'));
  const actions = wf.transitions.filter((t) => t.by === 'reviewer' && t.action !== 'claim' && allowed.includes(t.action));
  for (const t of actions) {
    box.append(el('button', {
      type: 'button', class: t.action === 'validate' ? false : 'secondaire', 'data-action': t.action, text: t.label,
      onclick: () => decide(t),
    }));
  }
  const none = document.getElementById('sans-decision');
  none.hidden = actions.length > 0;
  none.textContent = finalState(s) ? `Cette saisie est close : ${stateLabel(wf, s.state)}.`
    : 'Aucune décision ne vous est ouverte sur cette saisie en ce moment.';
}

function diffValue(name, v) {
  return valueText(fieldDef(name), v);
}

// Rows of a before/after table: [{field, label?, before, after}].
function diffRows(tbody, rows) {
  clear(tbody);
  for (const f of rows) {
    tbody.append(el('tr', { 'data-field': f.field },
      el('th', { scope: 'row', text: f.label ?? fieldLabel(form, f.field) }),
      el('td', { class: 'avant', text: diffValue(f.field, f.before) }),
      el('td', { class: 'apres', text: diffValue(f.field, f.after) })));
  }
}

// {changed, moved_m} as a sentence.
function geometryChange(geom) {
  if (!geom.changed) return 'Géométrie inchangée.';
  if (typeof geom.moved_m === 'number') {
    return `Géométrie déplacée de ${geom.moved_m.toLocaleString('fr-FR', { maximumFractionDigits: 1 })} m`;
  }
  return 'Géométrie modifiée.';
}

async function renderDiff(s) {
  const section = document.getElementById('diff');
  const last = s.last_review;
  section.hidden = true;
  if (!last || !(last.version < s.version)) return;
  let d;
  try {
    d = await api('GET', `${base}/diff?from=${last.version}`);
  } catch (e) {
    if (e instanceof ApiError) return;
    throw e;
  }
  const fields = d.fields ?? [];
  const geom = d.geometry ?? { changed: false };
  if (!fields.length && !geom.changed) return;
  const mine = myAuthority();
  document.getElementById('diff-titre').textContent = !last.authority || !mine || last.authority === mine.code
    ? `Modifications depuis votre relecture (version ${last.version})`
    : `Modifications depuis la relecture de ${last.organisation_name ?? authorityLabel(last.authority)} (version ${last.version})`;
  diffRows(document.querySelector('#table-diff tbody'), fields);
  document.getElementById('table-diff').hidden = fields.length === 0;
  document.getElementById('diff-geometrie').textContent = geometryChange(geom);
  section.hidden = false;
}

// --- an amendment and its object ------------------------------------------------

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
const empty = (v) => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);

// The proposed content against the object's: the fields that differ, and
// how far the geometry moved (points: the distance; else: changed or not).
function compare(object, proposed) {
  const rows = [];
  for (const f of form.fields) {
    const before = object.attributes?.[f.name];
    const after = proposed.attributes?.[f.name];
    if (!(empty(before) && empty(after)) && !same(before, after)) rows.push({ field: f.name, label: f.label, before, after });
  }
  const a = object.geometry;
  const b = proposed.geometry;
  const geom = { changed: !same(a, b) };
  if (geom.changed && a?.type === 'Point' && b?.type === 'Point') {
    geom.moved_m = Math.round(L.latLng(a.coordinates[1], a.coordinates[0])
      .distanceTo(L.latLng(b.coordinates[1], b.coordinates[0])) * 10) / 10;
  }
  return { rows, geom };
}

function showComparison({ title, before, after, rows, geom, alert }) {
  document.getElementById('comparaison-titre').textContent = title;
  document.getElementById('comparaison-avant').textContent = before;
  document.getElementById('comparaison-apres').textContent = after;
  diffRows(document.querySelector('#table-comparaison tbody'), rows);
  document.getElementById('table-comparaison').hidden = rows.length === 0;
  const g = document.getElementById('comparaison-geometrie');
  g.textContent = rows.length ? '' : 'Aucun champ ne diffère. ';
  g.append(geometryChange(geom));
  const warn = document.getElementById('comparaison-alerte');
  warn.textContent = alert ?? '';
  warn.hidden = !alert;
  document.getElementById('comparaison').hidden = false;
}

async function renderAmendment(s) {
  const banner = document.getElementById('amendement');
  document.getElementById('comparaison').hidden = true;
  former?.clearLayers();
  if (s.operation !== 'modify' && s.operation !== 'delete') {
    banner.hidden = true;
    return;
  }
  const href = `/instruction.html?guichet=${encodeURIComponent(guichet)}&id=${encodeURIComponent(s.target_id)}`;
  clear(banner).append(el('p', { class: 'titre-bandeau', text: amendmentText(s) }),
    el('p', { text: s.operation === 'delete'
      ? 'Validée, cette demande supprime l’objet (son contenu est repris ci-dessous). '
      : 'Validée, cette demande donne à l’objet le contenu ci-dessous. ' },
    el('a', { href, text: `Voir l'objet n° ${s.target_id}` })));
  banner.hidden = false;
  if (s.operation !== 'modify') return;

  let o;
  try {
    o = await api('GET', submissionPath(guichet, s.target_id));
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    showComparison({ title: 'Comparaison avec l’objet', before: 'Objet actuel', after: 'Modification proposée',
      rows: [], geom: { changed: false }, alert: `L’objet n’a pas pu être lu : ${e.message}` });
    document.getElementById('comparaison-geometrie').textContent = '';
    return;
  }
  const tv = s.target_version;
  if (s.state === 'validated' && o.version > tv) {
    // Applied: the object now holds this content; what it was is in its
    // history (version tv, the one the request started from).
    try {
      const d = await api('GET', `${submissionPath(guichet, o.id)}/diff?from=${tv}&to=${tv + 1}`);
      showComparison({ title: `Modification appliquée à l’objet (version ${tv} → ${tv + 1})`,
        before: 'Objet avant la modification', after: 'Modification appliquée', rows: d.fields ?? [], geom: d.geometry ?? { changed: false } });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showComparison({ title: 'Modification appliquée à l’objet', before: 'Objet actuel', after: 'Modification proposée',
        ...compare(o, s) });
    }
    return;
  }
  let alert = null;
  if (!finalState(s) && o.state !== 'validated') {
    alert = `L’objet est maintenant « ${stateLabel(wf, o.state)} » : cette demande ne peut plus s’appliquer.`;
  } else if (!finalState(s) && o.version !== tv) {
    alert = `L’objet a changé depuis cette demande (faite sur sa version ${tv}, il en est à la version ${o.version}) : `
      + 'validée, elle ne pourra pas s’appliquer telle quelle.';
  }
  const c = compare(o, s);
  showComparison({ title: 'Comparaison avec l’objet actuel', before: 'Objet actuel', after: 'Modification proposée', ...c, alert });
  if (c.geom.changed && o.geometry && former) {
    former.addData(o.geometry);
    document.getElementById('comparaison-geometrie').append(' En pointillés gris sur la carte : l’objet actuel.');
  }
}

async function renderHistory() {
  try {
    const { versions } = await api('GET', `${base}/versions`);
    const tbody = clear(document.querySelector('#versions tbody'));
    for (const v of versions) {
      const changed = (v.changed ?? []).map((n) => fieldLabel(form, n));
      if (v.geometry_changed) changed.push('Géométrie');
      tbody.append(el('tr', {},
        el('td', { text: String(v.version) }), el('td', { text: stateLabel(wf, v.state) }),
        el('td', { text: dateText(v.saved_at) }), el('td', { text: v.saved_by_name ?? '—' }),
        el('td', { text: changed.length ? changed.join(', ') : '—' })));
    }
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
  }
  try {
    const { events } = await api('GET', `${base}/events`);
    const ol = clear(document.getElementById('evenements'));
    for (const ev of events) ol.append(eventItem(ev));
    if (!events.length) ol.append(el('li', { text: 'Aucun événement.' }));
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
  }
}

const EVENTS = {
  'submission.created': 'Création', 'submission.saved': 'Enregistrement', comment: 'Message',
  'object.modified': 'Objet modifié', 'object.deleted': 'Objet supprimé',
};

function eventItem(ev) {
  const p = ev.payload ?? {};
  const t = p.action ? wf.transitions.find((x) => x.action === p.action) : null;
  let what = t ? t.label : EVENTS[ev.kind] ?? ev.kind;
  if (ev.kind === 'assignment') what = p.user_id === null ? 'Relâchée' : 'Attribuée';
  const details = [];
  if (p.to) details.push(`→ ${stateLabel(wf, p.to)}`);
  if (p.field) details.push(`à propos de « ${fieldLabel(form, p.field)} »`);
  if (p.reason) details.push(`motif : ${reasonLabel(wf, p.reason)}`);
  if (typeof p.comment === 'string' && p.comment) details.push(`« ${p.comment} »`);
  return el('li', {},
    el('time', { datetime: ev.at, text: dateText(ev.at) }), ' — ',
    el('strong', { text: what }),
    ev.actor_name ? ` par ${ev.actor_name}` : '',
    details.length ? ` ${details.join(' ; ')}` : '');
}

async function load() {
  sub = await api('GET', base);
  const name = sub.label || sub.attributes?.[form.name_field];
  document.title = `Instruction n° ${sub.id} — Guichet`;
  document.getElementById('titre').textContent =
    `Instruction — ${form.title} n° ${sub.id}${name ? ` : ${name}` : ''}`;
  renderSummary(sub);
  renderFields(sub);
  renderSignoffs(sub);
  renderAssignments(sub);
  renderActions(sub);
  renderMap(sub);
  await Promise.all([renderDiff(sub), renderAmendment(sub), renderHistory(), renderOutline(sub)]);
}

// Reloads, keeping what the reviewer typed; reports a failure on the page.
async function reload() {
  try {
    await load();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    pageMessage(e.message);
  }
}

// --- acting ------------------------------------------------------------------

function remarks() {
  const out = {};
  for (const t of document.querySelectorAll('#remarques-champs textarea')) {
    const v = t.value.trim();
    if (v) out[t.dataset.field] = v;
  }
  return out;
}

async function decide(t) {
  const fm = document.getElementById('form-decision');
  const comment = fm.elements.comment.value.trim();
  const reason = fm.elements.reason.value;
  const rem = remarks();
  const hasRemarks = Object.keys(rem).length > 0;
  showError(fm, null);
  pageMessage('');
  if (t.comment === 'required' && !comment) {
    showError(fm, { field: 'comment', message: `Un commentaire est nécessaire pour « ${t.label} ».` });
    return;
  }
  if (t.comment === 'required_without_remarks' && !comment && !hasRemarks) {
    showError(fm, { field: 'comment', message: 'Écrivez une remarque sur un champ ou un commentaire général.' });
    return;
  }
  if (t.reason === 'required' && !reason) {
    showError(fm, { field: 'reason', message: 'Choisissez le motif du refus.' });
    return;
  }
  const body = { action: t.action, version: sub.version };
  if (comment) body.comment = comment;
  if (reason && t.reason) body.reason = reason;
  if (hasRemarks) body.remarks = rem;
  for (const b of document.querySelectorAll('#actions button')) b.disabled = true;
  try {
    const s = await api('POST', `${base}/transitions`, body, { headers: { 'If-Match': `"${sub.version}"` } });
    fm.reset();
    await reload();
    showOk(fm, `Décision enregistrée (« ${t.label} ») : la saisie est maintenant « ${stateLabel(wf, s.state)} ».`);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.status === 409) {
      // Someone acted meanwhile (or the action is no longer open): show the
      // record as it is now, keeping what was typed.
      await reload();
      showError(fm, { message: e.code === 'stale_version'
        ? `${e.message} La saisie a été rechargée : vérifiez-la avant de décider.` : e.message });
    } else showError(fm, e);
  } finally {
    for (const b of document.querySelectorAll('#actions button')) b.disabled = false;
  }
}

async function assign(userId) {
  const msg = document.getElementById('message-charge');
  msg.textContent = '';
  msg.className = 'message';
  try {
    if (userId !== null && (sub.allowed_actions ?? []).includes('claim')) {
      await api('POST', `${base}/transitions`, { action: 'claim', version: sub.version },
        { headers: { 'If-Match': `"${sub.version}"` } });
    } else {
      await api('POST', `${base}/assignment`, { user_id: userId });
    }
    await reload();
    msg.textContent = userId === null ? 'Vous ne vous occupez plus de cette saisie.' : 'Vous vous occupez de cette saisie.';
    msg.className = 'message ok';
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.status === 409) await reload();
    msg.textContent = e.message;
    msg.className = 'message ko';
  }
}

function buildDecisionForm() {
  const box = document.getElementById('remarques-champs');
  const remark = (name, label) => {
    const tid = `remarque-${name}`;
    return el('div', { class: 'remarque-champ' },
      el('label', { for: tid, text: label }),
      el('textarea', { id: tid, name: `remarks.${name}`, 'data-field': name, rows: 1, maxlength: 2000 }));
  };
  for (const f of form.fields) box.append(remark(f.name, `Remarque sur « ${f.label} »`));
  box.append(remark('geometry', 'Remarque sur la géométrie'));
  const select = document.getElementById('d-motif');
  for (const r of wf.reject_reasons ?? []) select.append(el('option', { value: r.code, text: r.label }));
  document.getElementById('prendre').addEventListener('click', () => assign(session.user.id));
  document.getElementById('relacher').addEventListener('click', () => assign(null));
}

async function startMap() {
  let config = {};
  try { config = await api('GET', '/api/v1/ui-config'); } catch { /* no base layer */ }
  map = L.map('carte', { zoomControl: true }).setView([43.6045, 1.4440], 12);
  if (config.tiles_url) {
    L.tileLayer(config.tiles_url, { attribution: config.tiles_attribution ?? '', maxZoom: 19 }).addTo(map);
  }
  outline = L.geoJSON(null, { style: { color: '#555', weight: 1, fill: false }, interactive: false }).addTo(map);
  former = L.geoJSON(null, {
    style: { color: '#555', weight: 2, dashArray: '6', fillOpacity: 0.1 },
    pointToLayer: (_f, ll) => L.circleMarker(ll, { radius: 9, color: '#555', weight: 2, dashArray: '4', fillOpacity: 0.1 }),
    interactive: false,
  }).addTo(map);
  shapes = L.geoJSON(null, {
    style: { color: '#000091', weight: 3 },
    pointToLayer: (_f, ll) => L.circleMarker(ll, { radius: 9, color: '#000091', weight: 3, fillOpacity: 0.4 }),
  }).addTo(map);
}

session = await startPage('reviewer');
if (session) {
  try {
    if (!id || !/^\d+$/.test(id)) throw new ApiError(404, { error: { code: 'not_found', message: 'Adresse incomplète : il manque le numéro de la saisie.' } });
    [wf, form] = await Promise.all([loadWorkflow(), api('GET', `/api/v1/forms/${encodeURIComponent(guichet)}`)]);
    buildDecisionForm();
    document.getElementById('contenu').hidden = false;
    await startMap();
    await load();
    // Those who only read a validated object (it comes without its
    // assignments) have no thread to read.
    if ('assignments' in sub) await renderThread(document.getElementById('fil'), { guichet, id, form });
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    document.getElementById('contenu').hidden = true;
    document.getElementById('titre').textContent = e.status === 404 ? 'Saisie introuvable' : 'Instruction impossible';
    pageMessage(e.status === 404 ? 'Cette saisie n’existe pas ou ne relève pas de votre territoire.' : e.message);
  }
}
