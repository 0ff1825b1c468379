// "Exports" (platform admins): asking for a batch of validated data — a
// guichet, a format that applies to it, everything validated or only what
// changed since the last batch of the series, an optional scope — after a
// look at its first rows; and the batches asked for, newest first, with
// their progress (refreshed every second while one is waiting or being
// written), what they hold and their files to download.
import { api, ApiError } from './api.js';
import { el, clear, codesFrom, codesText, dateText, showError, showOk } from './dom.js';
import { startPage } from './layout.js';
import { GUICHETS } from './suivi.js';

const FORMATS = {
  gpkg: 'GeoPackage (BD TOPO)',
  geojson: 'GeoJSON',
  csv: 'CSV (noms BD TOPO)',
  csv_shp: 'CSV (noms Shapefile)',
  ign: 'Transactions IGN (Espace collaboratif)',
  bal: 'BAL 1.4 (un fichier par commune)',
};
// The formats that apply to each guichet, the first one by default.
const APPLICABLE = {
  erp: ['gpkg', 'geojson', 'csv', 'csv_shp', 'ign'],
  equipco: ['gpkg', 'geojson', 'csv', 'csv_shp', 'ign'],
  adresse: ['bal'],
};
const MODES = { incremental: 'Depuis le dernier lot', full: 'Tout ce qui est validé' };
const STATES = { queued: 'En attente', running: 'En cours', done: 'Terminé', failed: 'Échec' };
const POLL_MS = 1000;

const form = () => document.getElementById('form-export');
const listForm = () => document.getElementById('form-lots');

const plural = (n, word) => `${n.toLocaleString('fr-FR')} ${word}${n > 1 ? 's' : ''}`;

// 12 345 bytes → "12,1 Ko"; under one megabyte in Ko, above in Mo.
function sizeText(bytes) {
  const n = Number(bytes) || 0;
  const fmt = (x) => x.toLocaleString('fr-FR', { maximumFractionDigits: 1 });
  if (n < 1024 * 1024) return `${fmt(Math.max(n / 1024, n ? 0.1 : 0))} Ko`;
  return `${fmt(n / (1024 * 1024))} Mo`;
}

function scopeText(b) {
  const parts = [];
  if (b.departements?.length) parts.push(`départements ${codesText(b.departements)}`);
  if (b.communes?.length) parts.push(`communes ${codesText(b.communes)}`);
  return parts.length ? parts.join(' ; ') : 'tout le territoire';
}

// --- the request -------------------------------------------------------------

function fillFormats() {
  const f = form().elements;
  const before = f.format.value;
  const formats = APPLICABLE[f.guichet.value] ?? [];
  clear(f.format).append(...formats.map((k) => el('option', { value: k, text: FORMATS[k] })));
  if (formats.includes(before)) f.format.value = before;
}

// The body of POST /api/v1/exports (and of its preview).
function request() {
  const f = form().elements;
  const body = { guichet: f.guichet.value, format: f.format.value, mode: f.mode.value || 'incremental' };
  const departements = codesFrom(f.departements.value);
  const communes = codesFrom(f.communes.value);
  if (departements.length) body.departements = departements;
  if (communes.length) body.communes = communes;
  return body;
}

function busy(on) {
  document.getElementById('apercu-bouton').disabled = on;
  document.getElementById('demander').disabled = on;
}

function hidePreview() {
  document.getElementById('apercu').hidden = true;
}

function previewText(p, body) {
  const n = p.rows.length;
  if (!n) {
    return body.mode === 'incremental'
      ? 'Aucune ligne : rien n’a changé depuis le dernier lot de cette série.'
      : 'Aucune ligne : rien de validé dans cette portée.';
  }
  const what = n >= 20 ? `Les ${n} premières lignes du lot` : `${n === 1 ? 'La seule ligne' : `Les ${n} lignes`} du lot`;
  return `${what} (${plural(p.columns.length, 'colonne')}).`;
}

async function preview() {
  const fm = form();
  const body = request();
  busy(true);
  try {
    const p = await api('POST', '/api/v1/exports/preview', body);
    showError(fm, null);
    const table = document.getElementById('apercu-table');
    const geom = p.columns.indexOf('WKT');
    clear(table.tHead).append(el('tr', {}, p.columns.map((c) => el('th', { scope: 'col', text: c }))));
    const tbody = clear(table.tBodies[0]);
    for (const r of p.rows) {
      tbody.append(el('tr', {}, r.map((v, i) => (i === geom
        ? el('td', { class: 'wkt' }, el('span', { text: v ?? '' }))
        : el('td', { text: v ?? '' })))));
    }
    if (!p.rows.length) tbody.append(el('tr', {}, el('td', { colspan: Math.max(p.columns.length, 1), text: 'Aucune ligne.' })));
    document.getElementById('apercu-titre').textContent =
      `Aperçu — ${GUICHETS[body.guichet] ?? body.guichet}, ${FORMATS[body.format] ?? body.format}`;
    document.getElementById('apercu-info').textContent = previewText(p, body);
    document.getElementById('apercu').hidden = false;
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    hidePreview();
    showError(fm, e);
  } finally {
    busy(false);
  }
}

async function ask(ev) {
  ev.preventDefault();
  const fm = form();
  const body = request();
  busy(true);
  try {
    const b = await api('POST', '/api/v1/exports', body);
    showOk(fm, `Lot n° ${b.id} demandé : il figure dans la liste ci-dessous.`);
    const lf = listForm().elements;
    if (lf.guichet.value && lf.guichet.value !== b.guichet) lf.guichet.value = b.guichet;
    await loadBatches();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    showError(fm, e);
  } finally {
    busy(false);
  }
}

// --- the batches -------------------------------------------------------------

function stateCell(b) {
  const td = el('td', { class: 'etat' }, el('span', { class: `etat-${b.state}`, text: STATES[b.state] ?? b.state }));
  if (b.state === 'running' || b.state === 'queued') {
    const progress = Number(b.progress) || 0;
    const total = Number(b.total) || 0;
    const bar = el('progress', { 'aria-label': `Avancement du lot n° ${b.id}` });
    if (b.state === 'running' && total > 0) {
      bar.max = Math.max(total, progress);
      bar.value = progress;
    }
    td.append(bar);
    if (b.state === 'running' && total > 0) td.append(el('span', { class: 'avancement', text: `${progress} / ${total}` }));
  }
  if (b.state === 'failed' && b.error) td.append(el('p', { class: 'erreur-lot ko', text: b.error }));
  return td;
}

function countsText(b) {
  const c = b.counts;
  if (!c || (b.state !== 'done' && !Object.keys(c).length)) return '—';
  return [plural(c.create ?? 0, 'création'), plural(c.modify ?? 0, 'modification'),
    plural(c.delete ?? 0, 'suppression')].join(', ');
}

function fileItem(b, f, open) {
  const key = `${b.id}/${f.name}`;
  const facts = [sizeText(f.bytes)];
  if (!/^text\/plain/.test(f.media_type ?? '')) facts.push(plural(Number(f.rows) || 0, 'ligne'));
  const sha = f.sha256 ?? '';
  return el('li', { 'data-name': f.name },
    el('a', { href: f.url, download: f.name, text: f.name }),
    ' ', el('span', { class: 'taille', text: `(${facts.join(', ')})` }),
    el('details', { class: 'empreinte', 'data-key': key, open: open.has(key) },
      el('summary', { title: `SHA-256 : ${sha}` }, 'SHA-256 ', el('code', { text: `${sha.slice(0, 12)}…` })),
      el('code', { class: 'sha256', text: sha })));
}

function filesCell(b, open) {
  if (b.state !== 'done') return el('td', { class: 'fichiers', text: '—' });
  if (!b.files?.length) return el('td', { class: 'fichiers', text: 'Aucun fichier : rien à exporter.' });
  return el('td', { class: 'fichiers' }, el('ul', {}, b.files.map((f) => fileItem(b, f, open))));
}

function row(b, open) {
  return el('tr', { 'data-id': String(b.id), 'data-state': b.state, 'data-guichet': b.guichet },
    el('td', { text: String(b.id) }),
    el('td', { text: GUICHETS[b.guichet] ?? b.guichet }),
    el('td', { text: FORMATS[b.format] ?? b.format }),
    el('td', { text: MODES[b.mode] ?? b.mode }),
    el('td', { text: scopeText(b) }),
    stateCell(b),
    el('td', { class: 'changements', text: countsText(b) }),
    el('td', {}, dateText(b.created_at), b.created_by_name ? el('span', { class: 'par', text: ` par ${b.created_by_name}` }) : null),
    filesCell(b, open));
}

function setStatus(text) {
  const p = document.getElementById('lots-etat');
  if (p.textContent !== text) p.textContent = text;
}

let timer = null;
let generation = 0;

// Loads the list; while a batch waits or is being written, again in a second.
// Only the latest call renders and schedules the next one.
async function loadBatches() {
  clearTimeout(timer);
  timer = null;
  const mine = ++generation;
  const g = listForm().elements.guichet.value;
  const q = new URLSearchParams();
  if (g) q.set('guichet', g);
  history.replaceState(null, '', q.toString() ? `?${q}` : location.pathname);
  q.set('limit', '50');
  let batches;
  try {
    ({ batches } = await api('GET', `/api/v1/exports?${q}`));
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (mine === generation) {
      setStatus('');
      showError(listForm(), e);
    }
    return;
  }
  if (mine !== generation) return;
  showError(listForm(), null);
  const tbody = document.querySelector('#lots tbody');
  const open = new Set([...tbody.querySelectorAll('details[open]')].map((d) => d.dataset.key));
  clear(tbody);
  for (const b of batches) tbody.append(row(b, open));
  if (!batches.length) tbody.append(el('tr', {}, el('td', { colspan: 9, text: 'Aucun lot demandé.' })));
  const active = batches.filter((b) => b.state === 'queued' || b.state === 'running').length;
  setStatus(!batches.length ? '' : `${plural(batches.length, 'lot')}${active ? ` dont ${active} en préparation` : ''}.`);
  if (active) timer = setTimeout(loadBatches, POLL_MS);
}

if (await startPage('admin')) {
  const f = form().elements;
  const lf = listForm().elements;
  for (const [g, label] of Object.entries(GUICHETS)) {
    f.guichet.append(el('option', { value: g, text: label }));
    lf.guichet.append(el('option', { value: g, text: label }));
  }
  const wanted = new URLSearchParams(location.search).get('guichet');
  if (wanted && GUICHETS[wanted]) {
    lf.guichet.value = wanted;
    f.guichet.value = wanted;
  }
  fillFormats();
  f.guichet.addEventListener('change', fillFormats);
  form().addEventListener('change', hidePreview);
  form().addEventListener('input', hidePreview);
  form().addEventListener('submit', ask);
  document.getElementById('apercu-bouton').addEventListener('click', preview);
  listForm().addEventListener('submit', (ev) => { ev.preventDefault(); loadBatches(); });
  lf.guichet.addEventListener('change', loadBatches);
  await loadBatches();
}
