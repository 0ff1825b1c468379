// « Données ouvertes »: what the portal publishes (the collections of /ogc,
// their licence, the addresses partners need) and the code of the
// embeddable map (/widget): a theme, a territory checked by the server's
// rule, a size; the map is previewed as it will show, and its <iframe>
// snippet copied from a read-only field. Open to everyone.
import { el, clear, showError } from './dom.js';
import { startPage } from './layout.js';
import { THEMES, territoryKind } from './territoire.js';

const form = document.getElementById('form-widget');
const SIZES = {
  width: { min: 280, max: 2000, label: 'La largeur' },
  height: { min: 200, max: 2000, label: 'La hauteur' },
};

// --- the collections --------------------------------------------------------

function collectionItem(c) {
  const id = encodeURIComponent(c.id);
  const links = [
    { href: `/ogc/collections/${id}/items?f=html`, text: 'Parcourir' },
    { href: `/ogc/collections/${id}/items?f=json`, text: 'GeoJSON' },
    { href: `/ogc/collections/${id}?f=jsonld`, text: 'Description DCAT-AP' },
    { href: `/widget?theme=${id}`, text: 'Carte' },
  ];
  return el('li', { 'data-collection': c.id },
    el('h3', { text: c.title ?? c.id }),
    c.description ? el('p', { text: c.description }) : null,
    el('ul', { class: 'liens-jeu' }, links.map((l) => el('li', {}, el('a', { href: l.href, text: l.text })))));
}

async function showCollections() {
  const list = clear(document.getElementById('jeux'));
  const box = document.getElementById('message-jeux');
  try {
    const rep = await fetch('/ogc/collections', { headers: { Accept: 'application/json' }, credentials: 'omit' });
    if (!rep.ok) throw new Error(`erreur ${rep.status}`);
    const doc = await rep.json();
    for (const c of doc.collections ?? []) list.append(collectionItem(c));
    const licence = (doc.collections ?? []).flatMap((c) => c.links ?? []).find((l) => l.rel === 'license');
    if (licence && /^https?:\/\//.test(licence.href)) {
      const p = clear(document.getElementById('licence'));
      p.append('Licence : ', el('a', { href: licence.href, text: licence.title || licence.href }),
        ' — réutilisation libre, en citant la source « OPenIG – CRIG Occitanie ».');
      p.hidden = false;
    }
  } catch (e) {
    box.textContent = `La liste des jeux de données n'a pas pu être chargée (${e.message}).`;
    box.className = 'message ko';
    for (const t of THEMES) list.append(collectionItem({ id: t.id, title: t.label }));
  }
}

// --- the snippet ------------------------------------------------------------

function attr(s) {
  return String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// The form's choices, or an error {field, message} (French) to show.
function choices() {
  const data = Object.fromEntries(new FormData(form));
  const theme = THEMES.find((t) => t.id === data.theme);
  if (!theme) return { error: { field: 'theme', message: 'Choisissez un thème.' } };
  const territory = String(data.territory ?? '').trim().toUpperCase();
  if (territory && !territoryKind(territory)) {
    return { error: { field: 'territory', message:
      'Code de territoire invalide : un département (01 à 95, 2A, 2B, 971 à 976) ou une commune (5 caractères, comme 31555).' } };
  }
  const size = {};
  for (const [name, s] of Object.entries(SIZES)) {
    const raw = String(data[name] ?? '').trim();
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < s.min || n > s.max) {
      return { error: { field: name, message: `${s.label} doit être un nombre entier de ${s.min} à ${s.max} pixels.` } };
    }
    size[name] = n;
  }
  return { theme, territory, ...size };
}

function widgetUrl(c) {
  const q = new URLSearchParams({ theme: c.theme.id });
  if (c.territory) q.set('territory', c.territory);
  return `${location.origin}/widget?${q}`;
}

function frameTitle(c) {
  return c.territory ? `Carte : ${c.theme.label}, territoire ${c.territory}` : `Carte : ${c.theme.label}`;
}

function snippet(c) {
  return `<iframe src="${attr(widgetUrl(c))}" title="${attr(frameTitle(c))}" width="${c.width}" height="${c.height}" loading="lazy"></iframe>`;
}

function generate() {
  const c = choices();
  showError(form, c.error ?? null);
  if (c.error) return false;
  const territoryInput = document.getElementById('w-territoire');
  territoryInput.value = c.territory;
  const url = widgetUrl(c);
  const box = clear(document.getElementById('apercu'));
  box.append(el('iframe', { src: url, title: frameTitle(c), width: c.width, height: c.height }));
  document.getElementById('lien-widget').href = url;
  document.getElementById('w-code').value = snippet(c);
  document.getElementById('copie').textContent = '';
  document.getElementById('resultat').hidden = false;
  return true;
}

async function copy() {
  const area = document.getElementById('w-code');
  const status = document.getElementById('copie');
  try {
    await navigator.clipboard.writeText(area.value);
    status.textContent = 'Code copié : collez-le dans votre page.';
    status.className = 'message ok';
  } catch {
    // No clipboard access (an old browser, a refused permission): the text
    // is selected for a manual copy.
    area.focus();
    area.select();
    status.textContent = 'Copie automatique impossible : le code est sélectionné, copiez-le avec Ctrl+C.';
    status.className = 'message ko';
  }
}

function setUp() {
  const select = document.getElementById('w-theme');
  for (const t of THEMES) select.append(el('option', { value: t.id, text: t.label }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (generate()) document.getElementById('resultat-titre').scrollIntoView({ block: 'nearest' });
  });
  // Once shown, the preview follows the choices.
  form.addEventListener('change', () => {
    if (!document.getElementById('resultat').hidden) generate();
  });
  document.getElementById('copier').addEventListener('click', copy);
}

setUp();
showCollections();
await startPage();
