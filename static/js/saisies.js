// "Mes saisies": the signed-in author's submissions to one guichet.
import { api } from './api.js';
import { el, clear, dateText } from './dom.js';
import { startPage } from './layout.js';

export const GUICHETS = { erp: 'ERP', equipco: 'Équipements', adresse: 'Adresses' };
export const STATES = {
  draft: 'Brouillon', submitted: 'Soumise', in_review: 'En relecture', changes_requested: 'À corriger',
  validated: 'Validée', rejected: 'Refusée', withdrawn: 'Retirée',
};

const guichet = new URLSearchParams(location.search).get('guichet') ?? 'erp';

if (await startPage('contributor')) {
  const tabs = document.getElementById('guichets');
  for (const [g, label] of Object.entries(GUICHETS)) {
    tabs.append(el('a', { href: `?guichet=${g}`, 'aria-current': g === guichet ? 'page' : false, text: label }), ' ');
  }
  document.getElementById('nouvelle').href = `/saisie.html?guichet=${guichet}`;
  const { submissions } = await api('GET', `/api/v1/guichets/${guichet}/submissions?limit=200`);
  const tbody = clear(document.querySelector('#saisies tbody'));
  if (!submissions.length) tbody.append(el('tr', {}, el('td', { colspan: 5, text: 'Aucune saisie pour l’instant.' })));
  for (const s of submissions) {
    const name = s.attributes[{ erp: 'libelle', equipco: 'toponyme', adresse: 'voie_nom' }[guichet]] ?? 'sans nom';
    tbody.append(el('tr', {},
      el('td', { text: String(s.id) }),
      el('td', {}, el('a', { href: `/saisie.html?guichet=${guichet}&id=${s.id}`, text: name })),
      el('td', { text: s.insee_commune ?? '—' }),
      el('td', { text: STATES[s.state] ?? s.state }),
      el('td', { text: dateText(s.updated_at) })));
  }
}
