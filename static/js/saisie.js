// Entering an object in a guichet: the form is built from the guichet's
// definition (GET /api/v1/forms/{guichet}), the geometry is placed on a
// Leaflet map that shows commune outlines from our own data (and a base
// layer when one is configured), and errors come back beside their fields.
// A record sent back by a reviewer (changes_requested) shows the remarks
// beside their fields and stays editable until it is submitted again.
// A validated object is shown read-only, with what one may ask of it: a
// modification (?amends=ID: the same form, filled with the object, saved as
// a new record that references it) or its deletion (a request carrying the
// object as it is, sent at once). Such requests name their object in a
// banner; a deletion request is never edited, only sent.
import * as L from '/vendor/leaflet/leaflet-src.esm.js';
import { api, ApiError } from './api.js';
import { el, clear, dateText, showError, showOk } from './dom.js';
import { startPage } from './layout.js';
import {
  loadWorkflow, stateLabel, fieldLabel, renderThread, submissionPath, amendmentText,
} from './suivi.js';

const params = new URLSearchParams(location.search);
const guichet = params.get('guichet') ?? 'erp';
let editing = params.get('id') ? { id: Number(params.get('id')) } : null;
// The validated object a new modification amends: {id, version seen}.
let amending = !editing && params.has('amends') ? { id: params.get('amends') } : null;
let readonly = false;		// a record shown, not edited
let sendAction = null;		// a deletion request's way out: submit or resubmit
let form;
let map;
let marker = null;
let polygon = null;
let drawing = null;		// vertices while a contour is drawn
let mode = 'point';
let wf = null;		// the workflow, for state labels (when editing)

const collection = `/api/v1/guichets/${encodeURIComponent(guichet)}/submissions`;
const recordHref = (id) => `/saisie.html?guichet=${encodeURIComponent(guichet)}&id=${encodeURIComponent(id)}`;
const amendHref = (id) => `/saisie.html?guichet=${encodeURIComponent(guichet)}&amends=${encodeURIComponent(id)}`;

// --- the form -------------------------------------------------------------

function inputFor(f) {
  const id = `champ-${f.name}`;
  const common = { id, name: f.name, 'aria-describedby': f.help ? `${id}-aide` : false };
  switch (f.type) {
    case 'enum':
      return el('select', common, el('option', { value: '', text: '—' }),
        f.values.map((v) => el('option', { value: v.value, text: v.label })));
    case 'enum_list':
      return el('fieldset', { id, class: 'choix', 'data-name': f.name },
        el('legend', { class: 'vh', text: f.label }),
        f.values.map((v) => el('label', { class: 'case' },
          el('input', { type: 'checkbox', name: f.name, value: v.value }), v.label)));
    case 'boolean':
      return el('select', common, el('option', { value: '', text: '—' }),
        el('option', { value: 'true', text: 'Oui' }), el('option', { value: 'false', text: 'Non' }));
    case 'integer':
      return el('input', { ...common, type: 'number', inputmode: 'numeric', step: 1, min: f.min, max: f.max });
    default:
      return el('input', { ...common, type: 'text', maxlength: f.max_length,
        list: f.suggestions_by ? `${id}-liste` : false,
        inputmode: f.type === 'siret' || f.type === 'insee_commune' ? 'numeric' : false });
  }
}

function renderFields() {
  const box = clear(document.getElementById('champs'));
  for (const f of form.fields) {
    const wrap = el('div', { class: 'champ', 'data-field': f.name },
      f.type === 'enum_list' ? null : el('label', { for: `champ-${f.name}`, class: f.required ? 'requis' : false, text: f.label }),
      inputFor(f),
      f.help ? el('p', { class: 'aide', id: `champ-${f.name}-aide`, text: f.help }) : null,
      f.suggestions_by ? el('datalist', { id: `champ-${f.name}-liste` }) : null);
    box.append(wrap);
    if (f.required) wrap.querySelector('input, select')?.setAttribute('aria-required', 'true');
    if (f.default !== undefined) setValue(f, f.default);
  }
  const fm = document.getElementById('form-saisie');
  fm.addEventListener('change', (ev) => {
    if (ev.target.id !== 'confirmer') confirmReset();
    refreshConditions();
  });
  refreshConditions();
}

function setValue(f, v) {
  if (f.type === 'enum_list') {
    for (const c of document.querySelectorAll(`input[name="${f.name}"]`)) c.checked = (v ?? []).includes(c.value);
    return;
  }
  const input = document.getElementById(`champ-${f.name}`);
  input.value = v === undefined || v === null ? '' : String(v);
}

function getValue(f) {
  if (f.type === 'enum_list') {
    const vals = [...document.querySelectorAll(`input[name="${f.name}"]:checked`)].map((c) => c.value);
    return vals.length ? vals : undefined;
  }
  const raw = document.getElementById(`champ-${f.name}`).value.trim();
  if (raw === '') return undefined;
  if (f.type === 'integer') return Number(raw);
  if (f.type === 'boolean') return raw === 'true';
  return raw;
}

function attributes() {
  const out = {};
  for (const f of form.fields) {
    const wrap = document.querySelector(`[data-field="${f.name}"]`);
    if (wrap.hidden) continue;
    const v = getValue(f);
    if (v !== undefined) out[f.name] = v;
  }
  return out;
}

function condTrue(c, attrs) {
  const v = attrs[c.field];
  if (c.in) return c.in.includes(v);
  return !c.not_in.includes(v);
}

// Fields that do not apply are hidden; suggestion lists follow their field.
function refreshConditions() {
  const attrs = {};
  for (const f of form.fields) attrs[f.name] = getValue(f);
  for (const f of form.fields) {
    const wrap = document.querySelector(`[data-field="${f.name}"]`);
    if (f.allowed_if) wrap.hidden = !condTrue(f.allowed_if, attrs);
    if (f.suggestions_by) {
      const list = clear(document.getElementById(`champ-${f.name}-liste`));
      for (const s of f.suggestions_by.values[attrs[f.suggestions_by.field]] ?? []) list.append(el('option', { value: s }));
    }
    if (f.required_if) {
      const on = condTrue(f.required_if, attrs);
      wrap.querySelector('label')?.classList.toggle('requis', on);
      wrap.querySelector('input, select')?.setAttribute('aria-required', String(on));
    }
  }
}

// --- the map ----------------------------------------------------------------

async function outlines(layer) {
  if (map.getZoom() < 11) { layer.clearLayers(); return; }
  const b = map.getBounds();
  const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((n) => n.toFixed(5)).join(',');
  try {
    const fc = await api('GET', `/api/v1/ref/zones?kind=commune&bbox=${bbox}`);
    layer.clearLayers();
    layer.addData(fc);
  } catch { /* the map stays usable without outlines */ }
}

function showCoordinates(text) {
  document.getElementById('coordonnees').textContent = text;
}

function setPoint(latlng) {
  confirmReset();
  if (polygon) { polygon.remove(); polygon = null; }
  if (marker) marker.setLatLng(latlng);
  else {
    marker = L.marker(latlng, { draggable: true, keyboard: true, title: 'Objet saisi' }).addTo(map);
    marker.on('dragend', () => setPoint(marker.getLatLng()));
  }
  const geometry = { type: 'Point', coordinates: [Number(latlng.lng.toFixed(7)), Number(latlng.lat.toFixed(7))] };
  document.querySelector('input[name="geometry"]').value = JSON.stringify(geometry);
  showCoordinates(`Point : ${latlng.lat.toFixed(6)} N, ${latlng.lng.toFixed(6)} E`);
}

function setPolygon(latlngs) {
  if (marker) { marker.remove(); marker = null; }
  if (polygon) polygon.remove();
  polygon = L.polygon(latlngs, { color: '#000091' }).addTo(map);
  const ring = latlngs.map((p) => [Number(p.lng.toFixed(7)), Number(p.lat.toFixed(7))]);
  ring.push(ring[0]);
  document.querySelector('input[name="geometry"]').value = JSON.stringify({ type: 'Polygon', coordinates: [ring] });
  showCoordinates(`Contour de ${latlngs.length} sommets`);
}

function setMode(m) {
  mode = m;
  drawing = m === 'contour' ? [] : null;
  document.getElementById('fermer-contour').hidden = m !== 'contour';
  document.getElementById('mode-point').setAttribute('aria-pressed', String(m === 'point'));
  document.getElementById('mode-contour').setAttribute('aria-pressed', String(m === 'contour'));
  showCoordinates(m === 'contour' ? 'Cliquez les sommets du contour, puis « Fermer le contour ».' : '');
}

async function startMap(session) {
  const config = await api('GET', '/api/v1/ui-config');
  map = L.map('carte', { zoomControl: true }).setView([43.6045, 1.4440], 13);
  if (config.tiles_url) {
    L.tileLayer(config.tiles_url, { attribution: config.tiles_attribution ?? '', maxZoom: 19 }).addTo(map);
  }
  const layer = L.geoJSON(null, {
    style: { color: '#555', weight: 1, fill: false },
    interactive: false,
  }).addTo(map);
  map.on('moveend', () => outlines(layer));
  // Start on the account's territory: its first commune, or département.
  const t = session.user.territory;
  const zone = t.communes?.[0] ? ['commune', t.communes[0]] : t.departements?.[0] ? ['departement', t.departements[0]] : null;
  if (zone && !editing && !amending) {
    try {
      const fc = await api('GET', `/api/v1/ref/zones?kind=${zone[0]}&code=${zone[1]}`);
      const f = fc.features[0];
      if (f) map.fitBounds([[f.bbox[1], f.bbox[0]], [f.bbox[3], f.bbox[2]]]);
    } catch { /* stay where we are */ }
  }
  outlines(layer);
  const types = form.geometry.types;
  document.getElementById('mode-contour').hidden = !types.includes('Polygon');
  document.getElementById('mode-point').hidden = !types.includes('Point');
  setMode(types.includes('Point') ? 'point' : 'contour');
  map.on('click', (ev) => {
    if (readonly) return;
    if (mode === 'point') setPoint(ev.latlng);
    else {
      if (drawing.length === 0) {	// a new contour replaces the saved one
        document.querySelector('input[name="geometry"]').value = '';
        confirmReset();
      }
      drawing.push(ev.latlng);
      if (polygon) polygon.remove();
      polygon = L.polyline(drawing, { color: '#000091', dashArray: '4' }).addTo(map);
      showCoordinates(`${drawing.length} sommet(s) : « Fermer le contour » quand il est fini.`);
    }
  });
  document.getElementById('mode-point').addEventListener('click', () => setMode('point'));
  document.getElementById('mode-contour').addEventListener('click', () => setMode('contour'));
  document.getElementById('fermer-contour').addEventListener('click', () => {
    if (drawing && drawing.length >= 3) {
      setPolygon(drawing);
      drawing = [];		// the next click starts another contour
    } else showCoordinates('Un contour demande au moins trois sommets.');
  });
  document.getElementById('effacer').addEventListener('click', () => {
    if (marker) marker.remove();
    if (polygon) polygon.remove();
    marker = polygon = null;
    document.querySelector('input[name="geometry"]').value = '';
    setMode(mode);
  });
  document.getElementById('geolocaliser').addEventListener('click', () => {
    if (!navigator.geolocation) { showCoordinates('La géolocalisation n’est pas disponible.'); return; }
    navigator.geolocation.getCurrentPosition((pos) => {
      const ll = L.latLng(pos.coords.latitude, pos.coords.longitude);
      map.setView(ll, 18);
      if (mode === 'point') setPoint(ll);
    }, () => showCoordinates('Position introuvable.'), { enableHighAccuracy: true, timeout: 15000 });
  });
}

// --- saving -------------------------------------------------------------------

function confirmReset() {
  document.getElementById('confirmer').checked = false;
}

function showProblems(fm, err) {
  confirmReset();
  const list = clear(document.getElementById('liste-remarques'));
  document.getElementById('remarques').hidden = true;
  showError(fm, null);
  for (const m of fm.querySelectorAll('.erreur-champ')) m.remove();
  const errors = err.body?.errors ?? [];
  for (const e of errors) {
    const wrap = e.field === 'geometry' ? document.querySelector('.carte-saisie') : document.querySelector(`[data-field="${e.field}"]`);
    const target = wrap ?? fm;
    target.append(el('p', { class: 'erreur-champ', text: e.message }));
    const input = wrap?.querySelector('input, select');
    if (input) input.setAttribute('aria-invalid', 'true');
  }
  const warnings = err.body?.warnings ?? [];
  if (warnings.length && !errors.length) {
    for (const w of warnings) list.append(el('li', { text: w.message }));
    document.getElementById('remarques').hidden = false;
  }
  const box = fm.querySelector('.message');
  box.textContent = err.message;
  box.className = 'message ko';
}

async function save(submit) {
  const fm = document.getElementById('form-saisie');
  for (const i of fm.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  const g = fm.elements.geometry.value;
  const body = { attributes: attributes(), geometry: g ? JSON.parse(g) : null, submit,
    confirm_warnings: document.getElementById('confirmer').checked };
  // A new modification names its object and the version it started from.
  if (!editing && amending) Object.assign(body, { amends: amending.id, amends_version: amending.version, operation: 'modify' });
  try {
    const s = editing
      ? await api('PATCH', `/api/v1/guichets/${guichet}/submissions/${editing.id}`, { ...body, version: editing.version })
      : await api('POST', `/api/v1/guichets/${guichet}/submissions`, body);
    editing = { id: s.id, version: s.version };
    history.replaceState(null, '', `?guichet=${guichet}&id=${s.id}`);
    if (wf) showState(s);
    if (s.operation === 'modify') showAmendment(s);
    for (const m of fm.querySelectorAll('.erreur-champ')) m.remove();
    document.getElementById('remarques').hidden = true;
    const what = s.operation === 'modify' ? 'Demande de modification' : 'Saisie';
    if (s.state === 'submitted') {
      showOk(fm, `${what} n° ${s.id} soumise : elle est transmise aux relecteurs.`);
      document.getElementById('relecture').hidden = true;
      for (const b of fm.querySelectorAll('button')) b.disabled = true;
    } else {
      const todo = s.errors?.length ?? 0;
      showOk(fm, s.state === 'changes_requested'
        ? `${what} n° ${s.id} enregistrée${todo ? ` (${todo} point(s) à compléter)` : ''} : « Soumettre à nouveau » quand elle est prête.`
        : `Brouillon n° ${s.id} enregistré${todo ? ` (${todo} point(s) à compléter)` : ''}.`);
    }
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    showProblems(fm, e);
    if (e.code === 'stale_version' && e.field === 'amends_version') staleObject(fm);
  }
}

// The object changed since it was opened: the proposal would undo that
// change, so it is not sent; the object is to be opened again.
function staleObject(fm) {
  const box = fm.querySelector('.message');
  box.textContent = `L'objet n° ${amending.id} a été modifié depuis que vous l'avez ouvert (version ${amending.version}) : `
    + 'votre proposition ne peut pas partir d’une version dépassée. ';
  box.append(el('a', { href: amendHref(amending.id), text: 'Recharger l’objet et reprendre la modification' }));
}

// A deletion request carries its object as it is: it is sent, not saved.
async function sendDeletion() {
  const fm = document.getElementById('form-saisie');
  const button = document.getElementById('soumettre');
  button.disabled = true;
  try {
    const s = await api('POST', `${submissionPath(guichet, editing.id)}/transitions`,
      { action: sendAction, version: editing.version, confirm_warnings: true },
      { headers: { 'If-Match': `"${editing.version}"` } });
    editing.version = s.version;
    sendAction = null;
    showState(s);
    document.getElementById('relecture').hidden = true;
    showOk(fm, `Demande de suppression n° ${s.id} soumise : elle est transmise aux relecteurs.`);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    showProblems(fm, e);
    button.disabled = false;
  }
}

// A record's content in the form and on the map.
function fill(s) {
  for (const f of form.fields) setValue(f, s.attributes?.[f.name]);
  refreshConditions();
  if (s.geometry?.type === 'Point') {
    const ll = L.latLng(s.geometry.coordinates[1], s.geometry.coordinates[0]);
    setPoint(ll);
    map.setView(ll, 17);
  } else if (s.geometry) {
    // Kept whole (holes, several parts) until the author draws another.
    polygon = L.geoJSON(s.geometry, { style: { color: '#000091' } }).addTo(map);
    document.querySelector('input[name="geometry"]').value = JSON.stringify(s.geometry);
    map.fitBounds(polygon.getBounds());
    showCoordinates('Contour enregistré : « Dessiner un contour » pour le remplacer.');
  }
}

async function load() {
  const s = await api('GET', submissionPath(guichet, editing.id));
  editing.version = s.version;
  fill(s);
  try { wf = await loadWorkflow(); } catch { wf = null; }
  showState(s);
  if (s.operation === 'modify' || s.operation === 'delete') showAmendment(s);
  if (s.state === 'validated' && s.operation === 'create') {
    readOnly();
    offerAmendments(s);
  } else if (s.operation === 'delete' || s.state === 'deleted') {
    readOnly();
    if (s.state === 'changes_requested') showReview(s);
    sendAction = ['submit', 'resubmit'].find((a) => (s.allowed_actions ?? []).includes(a)) ?? null;
    if (sendAction) {
      const button = document.getElementById('soumettre');
      button.textContent = sendAction === 'submit' ? 'Soumettre' : 'Soumettre à nouveau';
      button.hidden = false;
    }
  } else if (s.state === 'changes_requested') {
    showReview(s);
    document.getElementById('soumettre').textContent = 'Soumettre à nouveau';
    document.getElementById('brouillon').textContent = 'Enregistrer sans soumettre';
  } else if (s.state !== 'draft') for (const b of document.querySelectorAll('#form-saisie button')) b.disabled = true;
  // Those who only read a validated object (it comes without its
  // assignments) have no thread to read.
  if (s.state !== 'draft' && 'assignments' in s) await renderThread(document.getElementById('fil'), { guichet, id: s.id, form });
}

// A new modification of a validated object: the form starts from it.
async function loadAmended() {
  try { wf = await loadWorkflow(); } catch { wf = null; }
  let o;
  try {
    if (!/^\d+$/.test(amending.id)) throw new ApiError(404, null);
    o = await api('GET', submissionPath(guichet, amending.id));
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    pageProblem(e.status === 404 ? `L'objet n° ${amending.id} n'existe pas.` : e.message);
    return;
  }
  if (o.state !== 'validated' || o.operation !== 'create') {
    pageProblem(`L'objet n° ${o.id} ne peut pas être modifié : seul un objet validé peut l'être, `
      + `et celui-ci est « ${stateLabel(wf, o.state)} ». `, el('a', { href: recordHref(o.id), text: `Voir l'objet n° ${o.id}` }));
    return;
  }
  amending = { id: o.id, version: o.version };
  document.title = `Modification de l'objet n° ${o.id} — Guichet`;
  fill(o);
  banner(el('p', { class: 'titre-bandeau', text: `Modification de l'objet validé n° ${o.id} (version ${o.version})` }),
    el('p', { text: 'Changez ce qui doit l’être puis soumettez : l’objet ne prendra ce contenu qu’une fois la modification validée par les relecteurs. ' },
      el('a', { href: recordHref(o.id), text: `Voir l'objet n° ${o.id}` })));
}

// The page cannot do what its address asks: the form goes, the reason stays.
function pageProblem(text, ...more) {
  document.getElementById('form-saisie').hidden = true;
  const p = document.getElementById('message-page');
  p.textContent = text;
  p.append(...more);
  p.className = 'message ko';
}

function banner(...children) {
  const box = clear(document.getElementById('amendement'));
  box.append(...children);
  box.hidden = false;
}

// A modification or deletion request names its object.
function showAmendment(s) {
  banner(el('p', { class: 'titre-bandeau', text: amendmentText(s) }),
    el('p', {}, el('a', { href: recordHref(s.target_id), text: `Voir l'objet n° ${s.target_id}` })));
}

// Shown, not edited: the fields disabled, the map fixed, no save buttons.
function readOnly() {
  readonly = true;
  const fm = document.getElementById('form-saisie');
  for (const i of fm.querySelectorAll('#champs input, #champs select, #champs fieldset, #remarques input')) i.disabled = true;
  fm.querySelector('.outils-carte').hidden = true;
  document.getElementById('aide-geometrie').hidden = true;
  document.getElementById('brouillon').hidden = true;
  document.getElementById('soumettre').hidden = true;
  if (marker) marker.dragging?.disable();
}

// What one may ask of a validated object: a modification, or its deletion
// (after a confirmation on the page).
function offerAmendments(o) {
  document.getElementById('objet-titre').textContent = `Objet validé n° ${o.id} (version ${o.version})`;
  document.getElementById('proposer-modification').addEventListener('click', () => { location.href = amendHref(o.id); });
  const ask = document.getElementById('demander-suppression');
  const panel = document.getElementById('confirmation-suppression');
  document.getElementById('confirmation-texte').textContent = `La demande de suppression de l'objet n° ${o.id} sera `
    + 'transmise aux relecteurs ; l’objet reste en place tant qu’ils ne l’ont pas validée.';
  ask.addEventListener('click', () => {
    panel.hidden = false;
    ask.setAttribute('aria-expanded', 'true');
    document.getElementById('confirmer-suppression').focus();
  });
  document.getElementById('annuler-suppression').addEventListener('click', () => {
    panel.hidden = true;
    ask.setAttribute('aria-expanded', 'false');
    ask.focus();
  });
  document.getElementById('confirmer-suppression').addEventListener('click', () => requestDeletion(o));
  document.getElementById('objet').hidden = false;
}

async function requestDeletion(o) {
  const msg = document.getElementById('message-objet');
  const buttons = document.querySelectorAll('#objet button');
  msg.textContent = '';
  msg.className = 'message';
  for (const b of buttons) b.disabled = true;
  try {
    const s = await api('POST', collection, { amends: o.id, amends_version: o.version, operation: 'delete',
      attributes: {}, submit: true, confirm_warnings: true });
    location.href = recordHref(s.id);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    msg.textContent = e.code === 'stale_version'
      ? `L'objet n° ${o.id} a été modifié depuis que vous l'avez ouvert : vérifiez-le avant d'en demander la suppression. `
      : e.message;
    if (e.code === 'stale_version') msg.append(el('a', { href: recordHref(o.id), text: 'Recharger l’objet' }));
    msg.className = 'message ko';
    for (const b of buttons) b.disabled = false;
  }
}

function showState(s) {
  const p = document.getElementById('etat-saisie');
  p.textContent = `État : ${stateLabel(wf, s.state)}`;
  p.hidden = false;
}

// What the reviewer asked: the general comment above the form, each remark
// beside its field (or the map), the others listed with the comment.
function showReview(s) {
  const r = s.last_review;
  if (!r) return;
  const box = document.getElementById('relecture');
  document.getElementById('relecture-qui').textContent =
    `${[r.reviewer_name, r.organisation_name].filter(Boolean).join(', ') || 'Le relecteur'} a demandé des modifications le ${dateText(r.at)}. `
    + 'Corrigez la saisie puis soumettez-la à nouveau.';
  const comment = document.getElementById('relecture-commentaire');
  comment.textContent = r.comment ?? '';
  comment.hidden = !r.comment;
  const others = clear(document.getElementById('relecture-autres'));
  for (const m of document.querySelectorAll('#form-saisie .remarque')) m.remove();
  for (const [name, text] of Object.entries(r.remarks ?? {})) {
    const wrap = name === 'geometry' ? document.querySelector('.carte-saisie')
      : document.querySelector(`#champs .champ[data-field="${CSS.escape(name)}"]`);
    if (wrap && !wrap.hidden) {
      const note = el('p', { class: 'remarque', role: 'note', id: `remarque-${name}`, text });
      wrap.append(note);
      const input = name === 'geometry' ? null : wrap.querySelector('input, select, fieldset');
      if (input) input.setAttribute('aria-describedby', [input.getAttribute('aria-describedby'), note.id].filter(Boolean).join(' '));
    } else {
      others.append(el('li', {}, el('strong', { text: fieldLabel(form, name) }), ' : ', text));
    }
  }
  box.hidden = false;
}

const session = await startPage('contributor');
if (session) {
  form = await api('GET', `/api/v1/forms/${guichet}`);
  document.title = `${form.title} — Guichet`;
  document.getElementById('titre').textContent = form.title;
  document.getElementById('description').textContent = form.description;
  document.getElementById('aide-geometrie').textContent = form.geometry.help ?? '';
  renderFields();
  await startMap(session);
  if (editing) await load();
  else if (amending) await loadAmended();
  const fm = document.getElementById('form-saisie');
  fm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (sendAction) sendDeletion();
    else if (!readonly) save(true);
  });
  document.getElementById('brouillon').addEventListener('click', () => save(false));
}
