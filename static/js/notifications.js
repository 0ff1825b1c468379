// The signed-in member's notifications: decisions on their records, records
// to review, messages; each links to its record (the server says where: the
// entry page for its author, the review page for the others) and can be
// marked read.
import { api, ApiError } from './api.js';
import { el, clear, dateText } from './dom.js';
import { startPage, setUnread } from './layout.js';

// Only paths of this site are followed.
function target(n) {
  return typeof n.link === 'string' && n.link.startsWith('/') && !n.link.startsWith('//') ? n.link : null;
}

function report(e) {
  const p = document.getElementById('message-notifications');
  p.textContent = e ? e.message : '';
  p.className = e ? 'message ko' : 'message';
}

async function markRead(body) {
  await api('POST', '/api/v1/notifications/read', body);
}

function item(n) {
  const href = target(n);
  const unread = !n.read_at;
  const li = el('li', { class: unread ? 'notification non-lue' : 'notification', 'data-id': String(n.id) },
    el('p', { class: 'entete-notification' },
      unread ? el('strong', { class: 'badge', text: 'Non lue' }) : null, unread ? ' ' : null,
      el('time', { datetime: n.created_at, text: dateText(n.created_at) })),
    el('p', { class: 'texte-notification', text: n.message }));
  const tools = el('p', { class: 'outils' });
  if (href) {
    tools.append(el('a', {
      href, text: n.submission_id ? `Ouvrir la saisie n° ${n.submission_id}` : 'Ouvrir les saisies du lot',
      onclick: async (ev) => {
        if (!unread) return;
        ev.preventDefault();
        try { await markRead({ ids: [n.id] }); } catch { /* open it anyway */ }
        location.href = href;
      },
    }));
  }
  if (unread) {
    tools.append(' ', el('button', {
      type: 'button', class: 'secondaire', text: 'Marquer comme lue',
      'aria-label': `Marquer comme lue : ${n.message}`,
      onclick: async () => {
        try { await markRead({ ids: [n.id] }); await load(); } catch (e) { if (e instanceof ApiError) report(e); else throw e; }
      },
    }));
  }
  li.append(tools);
  return li;
}

async function load() {
  const { unread, notifications } = await api('GET', '/api/v1/notifications?limit=100');
  const ul = clear(document.getElementById('notifications'));
  for (const n of notifications) ul.append(item(n));
  document.getElementById('resume-notifications').textContent = notifications.length
    ? `${unread} non lue${unread > 1 ? 's' : ''}.` : 'Aucune notification.';
  document.getElementById('tout-lu').hidden = unread === 0;
  setUnread(unread);
}

const session = await startPage('contributor');
if (session) {
  document.getElementById('tout-lu').addEventListener('click', async () => {
    report(null);
    try {
      await markRead({ all: true });
      await load();
    } catch (e) {
      if (e instanceof ApiError) report(e);
      else throw e;
    }
  });
  try {
    await load();
  } catch (e) {
    if (e instanceof ApiError) report(e);
    else throw e;
  }
}
