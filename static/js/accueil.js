// Home page: the login form for visitors, the shortcuts of the signed-in
// member's role, and whether the server reaches its database.
import { api, rememberCsrf } from './api.js';
import { el, clear, showError, ROLE_LABELS, territoryText } from './dom.js';
import { startPage, roleAtLeast, renderNav } from './layout.js';

async function etat() {
  const p = document.getElementById('etat');
  try {
    const rep = await fetch('/healthz', { headers: { Accept: 'application/json' } });
    const corps = await rep.json();
    p.textContent = rep.ok ? `En service — PostGIS ${corps.postgis}` : `Indisponible : ${corps.reason ?? 'raison inconnue'}`;
    p.className = rep.ok ? 'ok' : 'ko';
  } catch {
    p.textContent = 'Serveur injoignable.';
    p.className = 'ko';
  }
}

function espace(session) {
  document.getElementById('connexion').hidden = true;
  document.getElementById('espace').hidden = false;
  const u = session.user;
  document.getElementById('bienvenue').textContent =
    `Bonjour ${u.display_name} (${ROLE_LABELS[u.role]}, ${u.organisation.name}) — territoire : ${territoryText(u.territory)}.`;
  const cartes = [
    { href: '/saisie.html?guichet=erp', titre: 'Saisir un ERP', texte: 'Un établissement recevant du public.' },
    { href: '/saisie.html?guichet=equipco', titre: 'Saisir un équipement', texte: 'Un équipement collectif, point ou emprise.' },
    { href: '/saisie.html?guichet=adresse', titre: 'Saisir une adresse', texte: 'Un numéro dans une voie, ou un lieu-dit.' },
    { href: '/saisies.html', titre: 'Mes saisies', texte: 'Brouillons et saisies soumises.' },
    { href: '/import.html', titre: 'Importer un fichier', texte: 'Une base existante (CSV, GeoJSON, GeoPackage) versée en une fois.' },
  ];
  if (roleAtLeast(session, 'reviewer')) {
    cartes.push({ href: '/moderation.html', titre: 'File de modération', texte: 'Les saisies à instruire de votre territoire.' },
      { href: '/tableau-de-bord.html', titre: 'Tableau de bord', texte: 'Saisies par état, retards et délais de décision.' });
  }
  cartes.push({ href: '/notifications.html', titre: 'Notifications', texte: 'Décisions, demandes et messages reçus.' },
    { href: '/compte.html', titre: 'Mon compte', texte: 'Mot de passe et jetons d’API.' });
  if (roleAtLeast(session, 'org_admin')) {
    cartes.push({ href: `/organisation.html?id=${u.organisation.id}`, titre: 'Mon organisation',
      texte: 'Membres, rôles, territoires et invitations.' });
  }
  if (roleAtLeast(session, 'admin')) {
    cartes.push({ href: '/exports.html', titre: 'Exports', texte: 'Lots de données validées pour l’IGN et la BAL.' },
      { href: '/admin.html', titre: 'Administration', texte: 'Organisations membres de la plateforme.' });
  }
  cartes.push({ href: '/donnees.html', titre: 'Données ouvertes', texte: 'Les données validées, leur API et la carte à intégrer.' });
  const ul = clear(document.getElementById('raccourcis'));
  for (const c of cartes) ul.append(el('li', {}, el('a', { href: c.href }, el('strong', { text: c.titre }), el('span', { text: c.texte }))));
}

function connexion() {
  document.getElementById('connexion').hidden = false;
  const form = document.getElementById('form-connexion');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try {
      const session = await api('POST', '/api/v1/session', { email: data.email, password: data.password });
      rememberCsrf(session.csrf_token);
      form.reset();
      showError(form, null);
      await renderNav(session);
      espace(session);
    } catch (e) {
      showError(form, e);
    }
  });
}

const session = await startPage();
if (session) espace(session);
else connexion();
etat();
