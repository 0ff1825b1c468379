// suivi.js — what the moderation pages share: the workflow (states,
// actions, reasons of refusal) with its French labels, values shown as the
// form defines them, and the comment thread of a record.
import { api } from './api.js';
import { el, clear, dateText, showError } from './dom.js';

export const GUICHETS = { erp: 'ERP', equipco: 'Équipements', adresse: 'Adresses' };

let workflow = null;

// GET /api/v1/workflow, once per page.
export async function loadWorkflow() {
  workflow ??= await api('GET', '/api/v1/workflow');
  return workflow;
}

export function stateLabel(wf, code) {
  return wf?.states?.find((s) => s.code === code)?.label ?? code ?? '—';
}

// A reviewer's decision (validate, request_changes, reject) by the label of
// the state it leads to: "Validé", "Modifications demandées", "Refusé".
export function decisionLabel(wf, action) {
  if (!action) return 'En attente';
  const t = wf?.transitions?.find((x) => x.action === action);
  return t ? stateLabel(wf, t.to) : action;
}

export function reasonLabel(wf, code) {
  return wf?.reject_reasons?.find((r) => r.code === code)?.label ?? code;
}

export const OPERATIONS = { create: 'Création', modify: 'Modification', delete: 'Suppression' };

// What an amendment (a modification or deletion request) asks, naming its
// object: "Demande de modification de l'objet n° 12".
export function amendmentText(s) {
  const what = s.operation === 'delete' ? 'Demande de suppression' : 'Demande de modification';
  return `${what} de l'objet n° ${s.target_id}`;
}

// A stored value as the form shows it: enum values by their labels.
export function valueText(field, v) {
  if (v === undefined || v === null || v === '') return '—';
  const label = (x) => field?.values?.find((o) => o.value === String(x))?.label ?? String(x);
  if (Array.isArray(v)) return v.length ? v.map(label).join(', ') : '—';
  if (typeof v === 'boolean') return v ? 'Oui' : 'Non';
  if (field?.type === 'enum') return label(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function fieldLabel(form, name) {
  if (name === 'geometry') return 'Géométrie';
  return form?.fields?.find((f) => f.name === name)?.label ?? name;
}

export function submissionPath(guichet, id) {
  return `/api/v1/guichets/${encodeURIComponent(guichet)}/submissions/${encodeURIComponent(id)}`;
}

// The comment thread of a record in box: the messages, then a form to add
// one (optionally about one field of form).
export async function renderThread(box, { guichet, id, form }) {
  const base = submissionPath(guichet, id);
  const list = el('ol', { class: 'fil', 'aria-live': 'polite' });
  const show = (c) => list.append(el('li', { class: 'message-fil', 'data-id': String(c.id) },
    el('p', { class: 'entete-fil' },
      el('strong', { text: c.author_name ?? 'Anonyme' }), ' — ',
      el('time', { datetime: c.created_at, text: dateText(c.created_at) }),
      c.field ? ` — à propos de « ${fieldLabel(form, c.field)} »` : ''),
    el('p', { class: 'corps-fil', text: c.body })));
  const empty = el('p', { class: 'aide', text: 'Aucun message pour l’instant.' });
  const { comments } = await api('GET', `${base}/comments`);
  for (const c of comments) show(c);
  empty.hidden = comments.length > 0;

  const fieldChoice = el('select', { id: 'fil-champ', name: 'field' },
    el('option', { value: '', text: 'La saisie en général' }),
    (form?.fields ?? []).map((f) => el('option', { value: f.name, text: f.label })),
    el('option', { value: 'geometry', text: 'La géométrie' }));
  const body = el('textarea', { id: 'fil-message', name: 'body', rows: 3, maxlength: 5000, required: true });
  const fm = el('form', { id: 'form-fil', novalidate: true },
    el('label', { for: 'fil-message', text: 'Votre message' }), body,
    el('label', { for: 'fil-champ', text: 'À propos de' }), fieldChoice,
    el('p', { class: 'message', role: 'alert' }),
    el('button', { type: 'submit', text: 'Envoyer le message' }));
  fm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = body.value.trim();
    if (!text) {
      showError(fm, { field: 'body', message: 'Écrivez un message.' });
      return;
    }
    const payload = { body: text };
    if (fieldChoice.value) payload.field = fieldChoice.value;
    try {
      const c = await api('POST', `${base}/comments`, payload);
      showError(fm, null);
      show(c);
      empty.hidden = true;
      body.value = '';
    } catch (e) {
      showError(fm, e);
    }
  });
  clear(box).append(el('h2', { id: 'fil-titre', text: 'Échanges' }), empty, list, fm);
  box.setAttribute('aria-labelledby', 'fil-titre');
  box.hidden = false;
}
