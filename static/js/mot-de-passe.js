// Forgotten password: ask for a link, then (with #jeton=… from the mail)
// choose a new password.
import { api } from './api.js';
import { showError, showOk } from './dom.js';
import { startPage } from './layout.js';

await startPage();
const token = new URLSearchParams(location.hash.slice(1)).get('jeton');

if (token) {
  const form = document.getElementById('form-nouveau');
  form.hidden = false;
  form.elements.token.value = token;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('POST', '/api/v1/password-reset/confirm', { token, password: form.elements.password.value });
      form.reset();
      history.replaceState(null, '', location.pathname);
      showOk(form, r.message);
    } catch (e) {
      showError(form, e);
    }
  });
} else {
  const form = document.getElementById('form-demande');
  form.hidden = false;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('POST', '/api/v1/password-reset', { email: form.elements.email.value });
      showOk(form, r.message);
    } catch (e) {
      showError(form, e);
    }
  });
}
