// "Mon organisation": members with their roles and territories, invitations,
// and the account journal. For the organisation's admins (and the platform's).
import { api } from './api.js';
import { el, clear, showError, showOk, ROLE_LABELS, codesFrom, codesText, territoryText, dateText } from './dom.js';
import { startPage } from './layout.js';

const RANK = { contributor: 1, reviewer: 2, org_admin: 3, admin: 4 };
const EVENT_LABELS = {
  login: 'Connexion', login_failed: 'Échec de connexion', logout: 'Déconnexion',
  password_changed: 'Mot de passe changé', password_reset: 'Mot de passe réinitialisé',
  password_reset_requested: 'Réinitialisation demandée', user_invited: 'Invitation envoyée',
  invitation_accepted: 'Invitation acceptée', role_changed: 'Rôle changé',
  territory_changed: 'Territoire changé', user_disabled: 'Compte désactivé',
  user_enabled: 'Compte réactivé', user_updated: 'Compte modifié', user_created: 'Compte créé',
  token_created: 'Jeton créé', token_revoked: 'Jeton révoqué',
  service_account_created: 'Compte de service créé', organisation_updated: 'Organisation modifiée',
};

const params = new URLSearchParams(location.search);
let me;
let orgId;

function roleOptions(select, current) {
  clear(select);
  for (const [code, label] of Object.entries(ROLE_LABELS)) {
    if (RANK[code] > RANK[me.user.role]) continue;
    select.append(el('option', { value: code, selected: code === current, text: label }));
  }
}

function restriction(m) {
  if (m.departements === null && m.communes === null) return "celui de l'organisation";
  return territoryText({ departements: m.departements, communes: m.communes });
}

function editer(m) {
  const form = document.getElementById('form-membre');
  form.hidden = false;
  showError(form, null);
  document.getElementById('membre-titre').textContent = `Modifier ${m.display_name}`;
  form.elements.id.value = m.id;
  roleOptions(form.elements.role, m.role);
  form.elements.departements.value = codesText(m.departements);
  form.elements.communes.value = codesText(m.communes);
  form.elements.active.checked = m.active;
  form.elements.role.focus();
}

async function membres() {
  const { members } = await api('GET', `/api/v1/organisations/${orgId}/members`);
  const tbody = clear(document.querySelector('#membres tbody'));
  for (const m of members) {
    const etat = m.is_service ? 'compte de service' : !m.active ? 'désactivé' : m.invited ? 'invité' : 'actif';
    tbody.append(el('tr', { 'data-email': m.email },
      el('td', { text: m.display_name }), el('td', { text: m.email }),
      el('td', { text: ROLE_LABELS[m.role] }), el('td', { text: restriction(m) }),
      el('td', { text: etat }), el('td', { text: dateText(m.last_login_at) }),
      el('td', {}, RANK[m.role] <= RANK[me.user.role]
        ? el('button', { type: 'button', class: 'secondaire', text: 'Modifier', 'aria-label': `Modifier ${m.display_name}`, onclick: () => editer(m) })
        : null)));
  }
}

async function journal() {
  const { events } = await api('GET', `/api/v1/organisations/${orgId}/events`);
  const tbody = clear(document.querySelector('#journal tbody'));
  for (const e of events.slice(0, 50)) {
    tbody.append(el('tr', {}, el('td', { text: dateText(e.at) }), el('td', { text: EVENT_LABELS[e.kind] ?? e.kind }),
      el('td', { text: e.actor ?? '—' }), el('td', { text: e.user ?? '—' }), el('td', { text: e.client_addr ?? '—' })));
  }
}

function territoryBody(form, nullWhenEmpty) {
  const d = codesFrom(form.elements.departements.value);
  const c = codesFrom(form.elements.communes.value);
  if (nullWhenEmpty && d.length === 0 && c.length === 0) return { departements: null, communes: null };
  return { departements: d, communes: c };
}

function formulaires() {
  const edit = document.getElementById('form-membre');
  document.getElementById('m-annuler').addEventListener('click', () => { edit.hidden = true; });
  edit.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { role: edit.elements.role.value, active: edit.elements.active.checked, ...territoryBody(edit, true) };
    try {
      await api('PATCH', `/api/v1/users/${edit.elements.id.value}`, body);
      edit.hidden = true;
      membres();
      journal();
    } catch (e) {
      showError(edit, e);
    }
  });
  const inv = document.getElementById('form-invitation');
  roleOptions(inv.elements.role, 'contributor');
  inv.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { email: inv.elements.email.value, display_name: inv.elements.display_name.value,
      role: inv.elements.role.value, ...territoryBody(inv, true) };
    try {
      const u = await api('POST', `/api/v1/organisations/${orgId}/invitations`, body);
      inv.reset();
      showOk(inv, `Invitation envoyée à ${u.email}.`);
      membres();
      journal();
    } catch (e) {
      showError(inv, e);
    }
  });
}

me = await startPage('org_admin');
if (me) {
  orgId = Number(params.get('id') ?? me.user.organisation.id);
  try {
    const org = await api('GET', `/api/v1/organisations/${orgId}`);
    document.getElementById('titre').textContent = org.name;
    const dl = document.getElementById('fiche');
    dl.append(el('dt', { text: 'Type' }), el('dd', { text: org.kind }),
      el('dt', { text: 'Territoire' }), el('dd', { text: territoryText(org) }),
      el('dt', { text: 'SIREN' }), el('dd', { text: org.siren ?? '—' }));
    formulaires();
    await membres();
    await journal();
  } catch (e) {
    const main = clear(document.querySelector('main'));
    main.append(el('h1', { text: 'Accès refusé' }), el('p', { class: 'message ko', role: 'alert', text: e.message }));
  }
}
