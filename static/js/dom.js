// dom.js — building pages without HTML strings: text always goes through
// textContent, so nothing a user typed can become markup.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

export const ROLE_LABELS = {
  contributor: 'Agent de saisie',
  reviewer: 'Relecteur',
  org_admin: "Administrateur de l'organisation",
  admin: 'Administrateur de la plateforme',
};

export const SCOPE_LABELS = {
  read: 'lecture',
  submit: 'saisie',
  review: 'relecture',
  export: 'export',
  admin: 'administration',
};

// "31, 34" ⇄ ["31", "34"]
export function codesFrom(text) {
  return text.split(/[\s,;]+/).map((s) => s.trim().toUpperCase()).filter(Boolean);
}

export function codesText(list) {
  return (list ?? []).join(', ');
}

export function territoryText(t) {
  if (t?.all) return 'toute la plateforme';
  const parts = [];
  if (t?.departements?.length) parts.push(`départements ${t.departements.join(', ')}`);
  if (t?.communes?.length) parts.push(`communes ${t.communes.join(', ')}`);
  return parts.length ? parts.join(' ; ') : 'aucun territoire';
}

export function dateText(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleString('fr-FR', { dateStyle: 'short', timeStyle: 'short' });
}

// Shows an ApiError on a form: beside the field it names, else in the form's
// message area. Clears earlier errors first.
export function showError(form, err) {
  for (const f of form.querySelectorAll('[aria-invalid]')) f.removeAttribute('aria-invalid');
  for (const m of form.querySelectorAll('.erreur-champ')) m.remove();
  const box = form.querySelector('.message');
  if (box) {
    box.textContent = '';
    box.className = 'message';
  }
  if (!err) return;
  const input = err.field ? form.querySelector(`[name="${CSS.escape(err.field)}"]`) : null;
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    const msg = el('p', { class: 'erreur-champ', id: `${input.id || input.name}-erreur`, text: err.message });
    input.setAttribute('aria-describedby', msg.id);
    input.insertAdjacentElement('afterend', msg);
    input.focus();
  } else if (box) {
    box.textContent = err.message;
    box.className = 'message ko';
  }
}

export function showOk(form, text) {
  showError(form, null);
  const box = form.querySelector('.message');
  if (box) {
    box.textContent = text;
    box.className = 'message ok';
  }
}
