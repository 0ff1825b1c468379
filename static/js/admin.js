// Platform administration: the member organisations.
import { api } from './api.js';
import { el, clear, showError, showOk, codesFrom, territoryText } from './dom.js';
import { startPage } from './layout.js';

let kinds = {};

async function liste() {
  const { organisations } = await api('GET', '/api/v1/organisations');
  const tbody = clear(document.querySelector('#orgs tbody'));
  for (const o of organisations) {
    tbody.append(el('tr', { 'data-org': o.name },
      el('td', {}, el('a', { href: `/organisation.html?id=${o.id}`, text: o.name })),
      el('td', { text: kinds[o.kind] ?? o.kind }), el('td', { text: o.siren ?? '—' }),
      el('td', { text: territoryText(o) }), el('td', { text: String(o.members) }),
      el('td', { text: o.active ? 'active' : 'désactivée' }),
      el('td', {}, el('button', {
        type: 'button', class: 'secondaire', text: o.active ? 'Désactiver' : 'Réactiver',
        'aria-label': `${o.active ? 'Désactiver' : 'Réactiver'} ${o.name}`,
        onclick: async () => { await api('PATCH', `/api/v1/organisations/${o.id}`, { active: !o.active }); liste(); },
      }))));
  }
}

async function formulaire() {
  const { kinds: list } = await api('GET', '/api/v1/organisation-kinds');
  const form = document.getElementById('form-org');
  for (const k of list) {
    kinds[k.code] = k.label;
    form.elements.kind.append(el('option', { value: k.code, text: k.label }));
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {
      name: form.elements.name.value, kind: form.elements.kind.value,
      departements: codesFrom(form.elements.departements.value), communes: codesFrom(form.elements.communes.value),
    };
    if (form.elements.siren.value.trim()) body.siren = form.elements.siren.value.trim();
    try {
      const o = await api('POST', '/api/v1/organisations', body);
      form.reset();
      showOk(form, `Organisation « ${o.name} » ajoutée.`);
      liste();
    } catch (e) {
      showError(form, e);
    }
  });
}

if (await startPage('admin')) {
  await formulaire();
  await liste();
}
