// layout.js — what every page shares: the navigation for the signed-in
// identity (only what its role may use, with its count of unread
// notifications), the log-out button, and the guard
// that sends a page's visitor home when its role may not see it.
import { api, currentSession, logout } from './api.js';
import { el, clear, ROLE_LABELS } from './dom.js';

const RANK = { contributor: 1, reviewer: 2, org_admin: 3, admin: 4 };

export function roleAtLeast(session, role) {
  return session && RANK[session.user.role] >= RANK[role];
}

// The open-data page is everyone's, always last.
const OPEN_DATA = { href: '/donnees.html', text: 'Données ouvertes' };

function navLinks(session, unread) {
  const links = [{ href: '/', text: 'Accueil' }];
  if (!session) return [...links, OPEN_DATA];
  links.push({ href: '/saisies.html', text: 'Mes saisies' });
  links.push({ href: '/import.html', text: 'Importer un fichier' });
  if (roleAtLeast(session, 'reviewer')) {
    links.push({ href: '/moderation.html', text: 'File de modération' });
    links.push({ href: '/tableau-de-bord.html', text: 'Tableau de bord' });
  }
  links.push({ href: '/notifications.html', id: 'lien-notifications',
    text: unread === null ? 'Notifications' : `Notifications (${unread})` });
  links.push({ href: '/compte.html', text: 'Mon compte' });
  if (roleAtLeast(session, 'org_admin')) {
    links.push({ href: `/organisation.html?id=${session.user.organisation.id}`, text: 'Mon organisation' });
  }
  if (roleAtLeast(session, 'admin')) {
    links.push({ href: '/exports.html', text: 'Exports' });
    links.push({ href: '/admin.html', text: 'Administration' });
  }
  links.push(OPEN_DATA);
  return links;
}

// The number of unread notifications, or null when it cannot be had.
async function unreadCount() {
  try {
    const n = await api('GET', '/api/v1/notifications?unread=true&limit=1');
    return typeof n?.unread === 'number' ? n.unread : null;
  } catch {
    return null;
  }
}

// Shows a new unread count in the navigation (after marking as read).
export function setUnread(n) {
  const a = document.getElementById('lien-notifications');
  if (a) a.textContent = `Notifications (${n})`;
}

export async function renderNav(session) {
  const nav = document.getElementById('nav');
  if (!nav) return;
  const unread = session ? await unreadCount() : null;
  clear(nav);
  const here = location.pathname + location.search;
  const list = el('ul', {}, navLinks(session, unread).map((l) =>
    el('li', {}, el('a', { href: l.href, id: l.id, 'aria-current': here === l.href ? 'page' : false, text: l.text }))));
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
  await renderNav(session);
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
