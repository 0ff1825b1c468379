// layout.js — what every page shares: the navigation for the signed-in
// identity (only what its role may use), the log-out button, and the guard
// that sends a page's visitor home when its role may not see it.
import { currentSession, logout } from './api.js';
import { el, clear, ROLE_LABELS } from './dom.js';

const RANK = { contributor: 1, reviewer: 2, org_admin: 3, admin: 4 };

export function roleAtLeast(session, role) {
  return session && RANK[session.user.role] >= RANK[role];
}

function navLinks(session) {
  const links = [{ href: '/', text: 'Accueil' }];
  if (!session) return links;
  links.push({ href: '/saisies.html', text: 'Mes saisies' });
  links.push({ href: '/compte.html', text: 'Mon compte' });
  if (roleAtLeast(session, 'org_admin')) {
    links.push({ href: `/organisation.html?id=${session.user.organisation.id}`, text: 'Mon organisation' });
  }
  if (roleAtLeast(session, 'admin')) links.push({ href: '/admin.html', text: 'Administration' });
  return links;
}

export function renderNav(session) {
  const nav = document.getElementById('nav');
  if (!nav) return;
  clear(nav);
  const here = location.pathname + location.search;
  const list = el('ul', {}, navLinks(session).map((l) =>
    el('li', {}, el('a', { href: l.href, 'aria-current': here === l.href ? 'page' : false, text: l.text }))));
  nav.append(list);
  if (session) {
    nav.append(el('p', { class: 'qui' },
      el('span', { class: 'nom', text: session.user.display_name }), ' — ',
      el('span', { class: 'role', text: ROLE_LABELS[session.user.role] }), ' — ',
      el('span', { class: 'org', text: session.user.organisation.name }),
      ' ',
      el('button', {
        type: 'button', class: 'lien', id: 'deconnexion', text: 'Se déconnecter',
        onclick: async () => { await logout(); location.href = '/'; },
      })));
  }
}

// Loads the session and the navigation; when minRole is given and the
// visitor lacks it, replaces the page's main content with a refusal.
export async function startPage(minRole) {
  const session = await currentSession();
  renderNav(session);
  if (minRole && !roleAtLeast(session, minRole)) {
    const main = clear(document.querySelector('main'));
    main.append(el('h1', { text: session ? 'Accès refusé' : 'Connexion requise' }),
      el('p', { class: 'message ko', role: 'alert',
        text: session ? "Votre rôle ne permet pas d'ouvrir cette page." : 'Connectez-vous pour ouvrir cette page.' }),
      el('p', {}, el('a', { href: '/', text: "Retour à l'accueil" })));
    return null;
  }
  return session;
}
