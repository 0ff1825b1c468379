// Accepting an invitation: the token comes in the link's fragment (#jeton=…),
// which browsers never send to servers or put in Referer headers.
import { api, rememberCsrf } from './api.js';
import { showError, ROLE_LABELS } from './dom.js';
import { startPage } from './layout.js';

await startPage();
const token = new URLSearchParams(location.hash.slice(1)).get('jeton');
const p = document.getElementById('invitation');
const form = document.getElementById('form-accepter');

if (!token) {
  p.textContent = "Ce lien d'invitation est incomplet.";
  p.className = 'ko';
} else {
  try {
    const inv = await api('POST', '/api/v1/invitations/inspect', { token });
    p.textContent = `${inv.display_name} (${inv.email}) : vous êtes invité à rejoindre ${inv.organisation} comme ${ROLE_LABELS[inv.role]}.`;
    form.hidden = false;
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const s = await api('POST', '/api/v1/invitations/accept', { token, password: form.elements.password.value });
        rememberCsrf(s.csrf_token);
        history.replaceState(null, '', location.pathname);
        location.href = '/';
      } catch (e) {
        showError(form, e);
      }
    });
  } catch (e) {
    p.textContent = e.message;
    p.className = 'ko';
  }
}
