// "Mon compte": profile, password change, mail notifications, API tokens.
import { api } from './api.js';
import { el, clear, showError, showOk, ROLE_LABELS, SCOPE_LABELS, territoryText, dateText } from './dom.js';
import { startPage } from './layout.js';

const SCOPES_BY_ROLE = {
  contributor: ['read', 'submit'],
  reviewer: ['read', 'submit', 'review'],
  org_admin: ['read', 'submit', 'review', 'admin'],
  admin: ['read', 'submit', 'review', 'export', 'admin'],
};

function profil(u) {
  const dl = clear(document.getElementById('profil'));
  const rows = [
    ['Nom', u.display_name], ['Adresse', u.email], ['Rôle', ROLE_LABELS[u.role]],
    ['Organisation', u.organisation.name], ['Territoire', territoryText(u.territory)],
  ];
  for (const [k, v] of rows) dl.append(el('dt', { text: k }), el('dd', { text: v }));
}

function motDePasse() {
  const form = document.getElementById('form-mdp');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const d = Object.fromEntries(new FormData(form));
    try {
      const r = await api('POST', '/api/v1/account/password', d);
      form.reset();
      showOk(form, r.message);
    } catch (e) {
      showError(form, e);
    }
  });
}

async function avis() {
  const form = document.getElementById('form-avis');
  const { notify } = await api('GET', '/api/v1/account/notifications');
  form.querySelector(`input[value="${notify}"]`).checked = true;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('PATCH', '/api/v1/account/notifications', { notify: new FormData(form).get('notify') });
      showOk(form, 'Préférence enregistrée.');
    } catch (e) {
      showError(form, e);
    }
  });
}

async function listeJetons() {
  const tbody = clear(document.querySelector('#jetons tbody'));
  const { tokens } = await api('GET', '/api/v1/account/tokens');
  if (tokens.length === 0) tbody.append(el('tr', {}, el('td', { colspan: 6, text: 'Aucun jeton.' })));
  for (const t of tokens) {
    tbody.append(el('tr', {},
      el('td', { text: t.name }), el('td', {}, el('code', { text: `${t.prefix}…` })),
      el('td', { text: t.scopes.map((s) => SCOPE_LABELS[s]).join(', ') }),
      el('td', { text: dateText(t.last_used_at) }), el('td', { text: dateText(t.expires_at) }),
      el('td', {}, el('button', {
        type: 'button', class: 'secondaire', text: 'Révoquer', 'aria-label': `Révoquer le jeton ${t.name}`,
        onclick: async () => { await api('DELETE', `/api/v1/account/tokens/${t.id}`); listeJetons(); },
      }))));
  }
}

function jetons(role) {
  const fs = document.getElementById('portees');
  for (const s of SCOPES_BY_ROLE[role]) {
    fs.append(el('label', { class: 'case' }, el('input', { type: 'checkbox', name: 'scopes', value: s, checked: s === 'read' }), SCOPE_LABELS[s]));
  }
  const form = document.getElementById('form-jeton');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const body = { name: fd.get('name'), scopes: fd.getAll('scopes') };
    if (fd.get('expires_days')) body.expires_days = Number(fd.get('expires_days'));
    const out = document.getElementById('nouveau-jeton');
    try {
      const t = await api('POST', '/api/v1/account/tokens', body);
      form.reset();
      showOk(form, t.message);
      clear(out).append(el('code', { text: t.token }));
      out.hidden = false;
      listeJetons();
    } catch (e) {
      out.hidden = true;
      showError(form, e);
    }
  });
  listeJetons();
}

const session = await startPage('contributor');
if (session) {
  profil(session.user);
  motDePasse();
  avis();
  jetons(session.user.role);
}
