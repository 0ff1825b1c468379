// "File de modération": the records a reviewer's authority has to decide
// on (GET /api/v1/queue), filtered as the form says (the filters are kept in
// the address, so a reload or a shared link shows the same list), each row
// a link to its review page; the rows ticked can be validated at once, one
// request per guichet, each row then showing its own outcome.
import { api, ApiError } from './api.js';
import { el, clear, dateText, showError, showOk } from './dom.js';
import { startPage } from './layout.js';
import { GUICHETS, loadWorkflow, stateLabel } from './suivi.js';

const PAGE = 50;
let wf;
let offset = 0;

const filters = () => document.getElementById('form-filtres');

// The form's filters as query parameters, without the empty ones.
function query() {
  const f = filters().elements;
  const q = new URLSearchParams();
  if (f.guichet.value) q.set('guichet', f.guichet.value);
  if (f.commune.value.trim()) q.set('commune', f.commune.value.trim());
  if (f.state.value) q.set('state', f.state.value);
  if (f.assigned.value && f.assigned.value !== 'any') q.set('assigned', f.assigned.value);
  if (f.overdue.checked) q.set('overdue', 'true');
  if (f.older_than_days.value.trim()) q.set('older_than_days', f.older_than_days.value.trim());
  if (f.import.value.trim()) q.set('import', f.import.value.trim());
  return q;
}

function fromAddress() {
  const p = new URLSearchParams(location.search);
  const f = filters().elements;
  f.guichet.value = p.get('guichet') ?? '';
  f.commune.value = p.get('commune') ?? '';
  f.state.value = p.get('state') ?? '';
  f.assigned.value = p.get('assigned') ?? 'any';
  f.overdue.checked = p.get('overdue') === 'true';
  f.older_than_days.value = p.get('older_than_days') ?? '';
  f.import.value = p.get('import') ?? '';
  offset = Math.max(0, Number(p.get('offset')) || 0);
}

function row(s) {
  const link = `/instruction.html?guichet=${encodeURIComponent(s.guichet)}&id=${s.id}`;
  const name = s.label || 'sans nom';
  const due = el('td', { class: 'echeance' }, dateText(s.due_at));
  if (s.overdue) due.append(' ', el('strong', { class: 'en-retard', text: 'En retard' }));
  const who = (s.assignments ?? []).map((a) => a.user_name).filter(Boolean);
  return el('tr', { 'data-id': String(s.id), 'data-guichet': s.guichet, class: s.overdue ? 'ligne-en-retard' : false },
    el('td', {}, el('input', {
      type: 'checkbox', class: 'choix-ligne', value: String(s.id), 'data-guichet': s.guichet,
      'aria-label': `Sélectionner la saisie n° ${s.id} (${name})`,
    })),
    el('td', {}, el('a', { href: link, text: String(s.id) })),
    el('td', { text: GUICHETS[s.guichet] ?? s.guichet }),
    el('td', {}, el('a', { href: link, text: name })),
    el('td', { text: s.commune_nom ? `${s.commune_nom} (${s.insee_commune})` : s.insee_commune ?? '—' }),
    el('td', { class: 'etat', text: stateLabel(wf, s.state) }),
    el('td', { text: dateText(s.submitted_at) }),
    due,
    el('td', { text: who.length ? who.join(', ') : '—' }),
    el('td', { class: 'resultat', role: 'status' }));
}

async function load() {
  const q = query();
  if (offset) q.set('offset', String(offset));
  history.replaceState(null, '', q.toString() ? `?${q}` : location.pathname);
  q.set('limit', String(PAGE));
  const tbody = clear(document.querySelector('#file tbody'));
  document.getElementById('tout').checked = false;
  try {
    const { total, submissions } = await api('GET', `/api/v1/queue?${q}`);
    showError(filters(), null);
    document.getElementById('total').textContent = total === 0 ? 'Aucune saisie ne correspond.'
      : `${total} saisie${total > 1 ? 's' : ''}${total > PAGE ? ` — ${offset + 1} à ${offset + submissions.length}` : ''}`;
    if (!submissions.length) tbody.append(el('tr', {}, el('td', { colspan: 10, text: 'Rien à instruire ici.' })));
    for (const s of submissions) tbody.append(row(s));
    document.getElementById('precedente').hidden = offset === 0;
    document.getElementById('suivante').hidden = offset + submissions.length >= total;
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    document.getElementById('total').textContent = '';
    showError(filters(), e);
  }
}

function ok(r) {
  if (r.code) return false;
  if (typeof r.status === 'number') return r.status >= 200 && r.status < 300;
  return !/^(error|erreur|failed|forbidden|refused|ko)$/i.test(String(r.status ?? 'ok'));
}

// Validates the ticked rows: one request per guichet, each row's outcome
// shown in its "Résultat" cell.
async function validateSelection(ev) {
  ev.preventDefault();
  const fm = ev.target;
  const ticked = [...document.querySelectorAll('#file .choix-ligne:checked')];
  if (!ticked.length) {
    showError(fm, { message: 'Cochez d’abord les saisies à valider.' });
    return;
  }
  const groups = new Map();
  for (const c of ticked) {
    if (!groups.has(c.dataset.guichet)) groups.set(c.dataset.guichet, []);
    groups.get(c.dataset.guichet).push(Number(c.value));
  }
  const comment = fm.elements.comment.value.trim();
  const button = document.getElementById('valider-lot');
  button.disabled = true;
  let done = 0;
  let failed = 0;
  const mark = (g, id, good, text) => {
    const cell = document.querySelector(`#file tr[data-guichet="${CSS.escape(g)}"][data-id="${id}"] .resultat`);
    if (!cell) return;
    cell.textContent = text;
    cell.className = `resultat ${good ? 'ok' : 'ko'}`;
    if (good) done++;
    else failed++;
  };
  for (const [g, ids] of groups) {
    const body = { ids, action: 'validate' };
    if (comment) body.comment = comment;
    try {
      const { results } = await api('POST', `/api/v1/guichets/${encodeURIComponent(g)}/decisions`, body);
      for (const r of results ?? []) {
        const good = ok(r);
        mark(g, r.id, good, good ? 'Validation enregistrée' : (r.message ?? r.code ?? 'Échec'));
      }
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      for (const id of ids) mark(g, id, false, e.message);
    }
  }
  button.disabled = false;
  for (const c of ticked) c.checked = false;
  if (failed) showError(fm, { message: `${done} validation(s) enregistrée(s), ${failed} refusée(s) : voir la colonne « Résultat ».` });
  else showOk(fm, `${done} validation(s) enregistrée(s).`);
}

if (await startPage('reviewer')) {
  wf = await loadWorkflow();
  const f = filters().elements;
  for (const [g, label] of Object.entries(GUICHETS)) f.guichet.append(el('option', { value: g, text: label }));
  for (const s of wf.states) if (s.code !== 'draft') f.state.append(el('option', { value: s.code, text: s.label }));
  fromAddress();
  filters().addEventListener('submit', (ev) => { ev.preventDefault(); offset = 0; load(); });
  document.getElementById('precedente').addEventListener('click', () => { offset = Math.max(0, offset - PAGE); load(); });
  document.getElementById('suivante').addEventListener('click', () => { offset += PAGE; load(); });
  document.getElementById('tout').addEventListener('change', (ev) => {
    for (const c of document.querySelectorAll('#file .choix-ligne')) c.checked = ev.target.checked;
  });
  document.getElementById('form-lot').addEventListener('submit', validateSelection);
  await load();
}
