// The dashboard of reviewers: records by guichet, département and state;
// the overdue ones; the median time from submission to decision.
import { api, ApiError } from './api.js';
import { el, clear } from './dom.js';
import { startPage } from './layout.js';
import { GUICHETS, loadWorkflow } from './suivi.js';

const guichetText = (g) => GUICHETS[g] ?? g;
const dept = (d) => d ?? '—';
const number = (n, digits = 0) => Number(n).toLocaleString('fr-FR', { maximumFractionDigits: digits });

function empty(tbody, cols) {
  tbody.append(el('tr', {}, el('td', { colspan: cols, text: 'Aucune donnée.' })));
}

// One row per (guichet, département), one column per state met, and a total.
function counts(rows, wf) {
  const table = document.getElementById('comptes');
  const seen = new Set(rows.map((r) => r.state));
  const states = wf.states.filter((s) => seen.has(s.code));
  for (const code of seen) if (!states.some((s) => s.code === code)) states.push({ code, label: code });
  clear(table.tHead).append(el('tr', {},
    el('th', { scope: 'col', text: 'Guichet' }), el('th', { scope: 'col', text: 'Département' }),
    states.map((s) => el('th', { scope: 'col', 'data-state': s.code, text: s.label })),
    el('th', { scope: 'col', text: 'Total' })));
  const groups = new Map();
  for (const r of rows) {
    const key = `${r.guichet}|${r.departement ?? ''}`;
    if (!groups.has(key)) groups.set(key, { guichet: r.guichet, departement: r.departement, n: {} });
    const g = groups.get(key);
    g.n[r.state] = (g.n[r.state] ?? 0) + r.n;
  }
  const tbody = clear(table.tBodies[0]);
  const sorted = [...groups.values()].sort((a, b) =>
    a.guichet.localeCompare(b.guichet) || String(a.departement ?? '').localeCompare(String(b.departement ?? '')));
  for (const g of sorted) {
    const total = Object.values(g.n).reduce((x, y) => x + y, 0);
    tbody.append(el('tr', { 'data-guichet': g.guichet, 'data-departement': g.departement ?? '' },
      el('th', { scope: 'row', text: guichetText(g.guichet) }), el('td', { text: dept(g.departement) }),
      states.map((s) => el('td', { 'data-state': s.code, text: number(g.n[s.code] ?? 0) })),
      el('td', { class: 'total', text: number(total) })));
  }
  if (!sorted.length) empty(tbody, states.length + 3);
}

function overdue(rows) {
  const tbody = clear(document.querySelector('#retards tbody'));
  for (const r of rows) {
    tbody.append(el('tr', { 'data-guichet': r.guichet, 'data-departement': r.departement ?? '' },
      el('th', { scope: 'row', text: guichetText(r.guichet) }), el('td', { text: dept(r.departement) }),
      el('td', { class: r.n > 0 ? 'en-retard' : false, text: number(r.n) })));
  }
  if (!rows.length) empty(tbody, 3);
}

function delays(rows) {
  const tbody = clear(document.querySelector('#delais tbody'));
  for (const r of rows) {
    tbody.append(el('tr', { 'data-guichet': r.guichet },
      el('th', { scope: 'row', text: guichetText(r.guichet) }),
      el('td', { text: r.hours === null || r.hours === undefined ? '—' : number(r.hours, 1) }),
      el('td', { text: number(r.n ?? 0) })));
  }
  if (!rows.length) empty(tbody, 3);
}

if (await startPage('reviewer')) {
  try {
    const [wf, d] = await Promise.all([loadWorkflow(), api('GET', '/api/v1/dashboard')]);
    counts(d.counts ?? [], wf);
    overdue(d.overdue ?? []);
    delays(d.median_hours ?? []);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    const p = document.getElementById('message-tableau');
    p.textContent = e.message;
    p.className = 'message ko';
  }
}
