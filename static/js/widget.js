// widget.js — the embeddable map of the open data (/widget?theme=…&territory=…),
// shown in a frame on partners' sites. It reads the validated objects of one
// collection of /ogc in one territory (a département or a commune), page by
// page up to MAX_OBJECTS, draws them (points as circles, outlines as
// polygons) and fits the map to them, or to the territory's outline when
// there are none. A popup names each object and lists its filled fields
// with the labels of its form. Every request goes without cookies: the page
// is the same for everyone and never touches a session. A list of the
// objects gives the same popups from the keyboard.
import * as L from '/vendor/leaflet/leaflet-src.esm.js';
import { el, clear } from './dom.js';
import { THEMES, territoryKind } from './territoire.js';

const PAGE = 1000;		// objects per request
const MAX_OBJECTS = 20000;	// beyond, the map would be unreadable and slow
const SVG_MAX = 3000;		// beyond, drawn on one canvas
const LIST_MAX = 1000;		// entries of the list, in name order

const nombre = new Intl.NumberFormat('fr-FR');
const collator = new Intl.Collator('fr', { sensitivity: 'base', numeric: true });

const params = new URLSearchParams(location.search);
const theme = THEMES.find((t) => t.id === params.get('theme')) ?? null;
const territory = (params.get('territory') ?? '').trim();
const kind = territory ? territoryKind(territory) : null;

const body = document.body;
const etat = document.getElementById('etat');

class LoadError extends Error {
  constructor(status, data) {
    super(data?.error?.message ?? `erreur ${status}`);
    this.status = status;
  }
}

// GET path as JSON, without cookies.
async function getJson(path) {
  const rep = await fetch(path, {
    credentials: 'omit',
    headers: { Accept: 'application/geo+json, application/json' },
  });
  const data = await rep.json().catch(() => null);
  if (!rep.ok) throw new LoadError(rep.status, data);
  return data;
}

// The server writes its links with its public address; the page may have
// been reached at another one (its connect-src is 'self'): same path here.
function here(href) {
  const u = new URL(href, location.href);
  return u.origin === location.origin ? u.href : location.origin + u.pathname + u.search;
}

function plural(n, one, many) {
  return `${nombre.format(n)} ${n > 1 ? many : one}`;
}

function showState(state, text) {
  body.dataset.etat = state;
  etat.textContent = text;
  etat.hidden = text === '';
  etat.className = `etat-widget etat-${state}`;
}

// --- what the popups say ---------------------------------------------------

let form = null;		// the form of the theme, for labels (null: raw names)

function valueText(field, v) {
  if (v === null || v === undefined || v === '') return null;
  if (Array.isArray(v)) {
    if (v.length === 0) return null;
    return v.map((x) => valueText({ ...field, type: 'enum' }, x)).join(', ');
  }
  switch (field.type) {
    case 'enum':
    case 'enum_list':
      return field.values?.find((o) => String(o.value) === String(v))?.label ?? String(v);
    case 'boolean':
      return v === true ? 'Oui' : v === false ? 'Non' : String(v);
    case 'integer':
      return typeof v === 'number' ? nombre.format(v) : String(v);
    default:
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
}

// The fields that name an object: the form's name field, and for an
// address its number and suffix before the street.
function nameFields() {
  if (!form?.name_field) return [];
  return theme.guichet === 'adresse' ? ['numero', 'suffixe', form.name_field] : [form.name_field];
}

function nameOf(f) {
  const p = f.properties ?? {};
  const name = nameFields().map((k) => p[k]).filter((x) => x !== null && x !== undefined && x !== '').join(' ');
  return name || 'Objet sans nom';
}

// Every filled field but the name, in form order, then where, when and by whom.
function rowsOf(f) {
  const p = f.properties ?? {};
  const rows = [];
  const fields = form?.fields ?? Object.keys(p)
    .filter((k) => !['commune', 'departement', 'valide_le', 'producteur'].includes(k))
    .map((k) => ({ name: k, label: k }));
  const naming = nameFields();
  for (const field of fields) {
    if (naming.includes(field.name)) continue;
    const text = valueText(field, p[field.name]);
    if (text !== null) rows.push([field.label, text]);
  }
  if (p.commune && !fields.some((x) => p[x.name] === p.commune)) rows.push(['Commune (code INSEE)', p.commune]);
  if (p.valide_le) {
    const d = new Date(p.valide_le);
    rows.push(['Validé le', Number.isNaN(d.getTime()) ? p.valide_le : d.toLocaleDateString('fr-FR')]);
  }
  if (p.producteur) rows.push(['Producteur', String(p.producteur)]);
  return rows;
}

function popupFor(f) {
  return el('div', { class: 'objet-widget' },
    el('h2', { text: nameOf(f), tabindex: '-1' }),
    el('dl', {}, rowsOf(f).flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })])));
}

// --- the map ----------------------------------------------------------------

const map = L.map('carte', { zoomControl: true }).setView([43.7, 2.2], 7);
// The footer grows once the count is known, and a frame may be resized:
// Leaflet is told, or it would fit the objects into a map taller than shown.
new ResizeObserver(() => map.invalidateSize()).observe(document.getElementById('carte'));

// Fits the map to bounds at once (an animated first view would show the
// shapes scaled for a moment).
function fit(bounds, padding) {
  map.invalidateSize();
  if (bounds?.isValid()) map.fitBounds(bounds, { padding: [padding, padding], maxZoom: 16, animate: false });
}

// A popup is sized to the map as it is when it opens (its frame adds
// about 45 px to its content's width), then laid out and panned again.
map.on('popupopen', ({ popup }) => {
  const size = map.getSize();
  Object.assign(popup.options, {
    maxWidth: Math.max(150, Math.min(320, size.x - 80)),
    maxHeight: Math.max(100, size.y - 100),
    autoPanPadding: L.point(8, 8),
  });
  popup.update();
});

let layer = null;
const objects = [];		// [{feature, layer}]

function makeLayer(matched) {
  const renderer = matched > SVG_MAX ? L.canvas({ padding: 0.3 }) : L.svg();
  const shape = { renderer, color: '#000091', weight: 2, fillColor: '#6a6af4' };
  layer = L.geoJSON(null, {
    renderer,
    style: () => ({ ...shape, fillOpacity: 0.3 }),
    pointToLayer: (_f, ll) => L.circleMarker(ll, { ...shape, radius: 7, fillOpacity: 0.75 }),
    onEachFeature: (f, l) => {
      l.bindPopup(() => popupFor(f));
      objects.push({ feature: f, layer: l });
    },
  }).addTo(map);
}

// Marks each drawn object with its id (SVG only: a canvas has no elements).
function markElements(from) {
  for (const o of objects.slice(from)) {
    const e = o.layer.getElement?.();
    if (e && o.feature.id !== undefined) e.setAttribute('data-id', String(o.feature.id));
  }
}

function itemsPath() {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (kind) q.set(kind, territory);
  return `/ogc/collections/${encodeURIComponent(theme.id)}/items?${q}`;
}

// Reads every page (following the next links) up to MAX_OBJECTS and draws
// each as it comes. Returns {drawn, matched, more: pages left unread}.
async function loadObjects() {
  let path = itemsPath();
  let matched = null;
  while (path && objects.length < MAX_OBJECTS) {
    const page = await getJson(path);
    if (typeof page?.numberMatched === 'number') matched = page.numberMatched;
    if (!layer) makeLayer(matched ?? 0);
    const room = MAX_OBJECTS - objects.length;
    const from = objects.length;
    layer.addData({ type: 'FeatureCollection', features: (page?.features ?? []).filter((f) => f?.geometry).slice(0, room) });
    markElements(from);
    const next = (page?.links ?? []).find((l) => l.rel === 'next');
    path = next && page.features?.length ? here(next.href) : null;
    if (path) {
      showState('chargement', matched === null ? `Chargement… ${plural(objects.length, 'objet', 'objets')}`
        : `Chargement… ${nombre.format(objects.length)} objets sur ${nombre.format(Math.min(matched, MAX_OBJECTS))}`);
    }
  }
  return { drawn: objects.length, matched: matched ?? objects.length, more: Boolean(path) };
}

// The territory's outline and name (none when the reference data lacks it).
async function loadZone() {
  if (!kind) return null;
  try {
    const fc = await getJson(`/api/v1/ref/zones?kind=${kind}&code=${encodeURIComponent(territory)}`);
    return fc?.features?.[0] ?? null;
  } catch {
    return null;
  }
}

async function loadConfig() {
  try {
    return await getJson('/api/v1/ui-config');
  } catch {
    return null;		// no base layer
  }
}

async function loadForm() {
  try {
    return await getJson(`/api/v1/forms/${encodeURIComponent(theme.guichet)}`);
  } catch {
    return null;		// popups with the raw property names
  }
}

function territoryText(zone) {
  if (!territory) return '';
  const name = zone?.properties?.nom;
  if (name) return `${name} (${territory})`;
  return kind === 'commune' ? `commune ${territory}` : `département ${territory}`;
}

// --- the list (the keyboard's way to the popups) ----------------------------

const listButton = document.getElementById('voir-liste');
const listBox = document.getElementById('liste');

function openObject(o) {
  showList(false);
  if (o.layer.getLatLng) map.setView(o.layer.getLatLng(), Math.max(map.getZoom(), 15));
  else map.fitBounds(o.layer.getBounds(), { maxZoom: 17 });
  o.layer.openPopup();
  o.layer.getPopup()?.getElement()?.querySelector('h2')?.focus();
}

function fillList() {
  const ul = clear(document.getElementById('liste-objets'));
  const named = objects.map((o) => ({ o, name: nameOf(o.feature) }))
    .sort((a, b) => collator.compare(a.name, b.name));
  for (const { o, name } of named.slice(0, LIST_MAX)) {
    ul.append(el('li', {}, el('button', { type: 'button', class: 'lien', text: name, onclick: () => openObject(o) })));
  }
  const note = document.getElementById('liste-note');
  note.hidden = named.length <= LIST_MAX;
  note.textContent = note.hidden ? '' : `Les ${nombre.format(LIST_MAX)} premiers objets par ordre alphabétique.`;
}

function showList(on) {
  if (on && !document.getElementById('liste-objets').firstChild) fillList();
  listBox.hidden = !on;
  listButton.setAttribute('aria-expanded', String(on));
  listButton.textContent = on ? 'Carte' : 'Liste';
  if (on) listBox.querySelector('h2').focus();
}

listButton.addEventListener('click', () => showList(listBox.hidden));
listBox.querySelector('h2').setAttribute('tabindex', '-1');
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && !listBox.hidden) {
    showList(false);
    listButton.focus();
  }
});

// --- start ------------------------------------------------------------------

async function start() {
  if (!theme) {
    showState('erreur', 'Thème inconnu : l’adresse de la carte doit indiquer theme=erp, equipco ou adresses.');
    return;
  }
  if (territory && !kind) {
    showState('erreur', 'Territoire invalide : donnez un code de département (31) ou de commune (31555).');
    return;
  }
  const [config, zone, f] = await Promise.all([loadConfig(), loadZone(), loadForm()]);
  form = f;
  if (config?.tiles_url) {
    L.tileLayer(config.tiles_url, { attribution: config.tiles_attribution ?? '', maxZoom: 19 }).addTo(map);
  }
  const where = territoryText(zone);
  const h1 = document.getElementById('titre');
  h1.textContent = where ? `${theme.short} — ${where}` : theme.label;
  h1.title = where ? `${theme.label} — ${where}` : theme.label;
  document.title = `${h1.title} — Guichet`;
  let outline = null;
  if (zone?.geometry) {
    outline = L.geoJSON(zone, {
      style: { className: 'contour-territoire', color: '#555', weight: 2, dashArray: '6 4', fill: false },
      interactive: false,
    }).addTo(map);
  }

  let got;
  try {
    got = await loadObjects();
  } catch (e) {
    showState('erreur', `Les données n’ont pas pu être chargées : ${e.message}`);
    if (outline) fit(outline.getBounds(), 8);
    return;
  }
  const resume = document.getElementById('resume');
  if (got.drawn === 0) {
    resume.textContent = 'Aucun objet';
    showState('vide', where
      ? `Aucun objet validé pour « ${theme.label} » sur ce territoire (${where}).`
      : `Aucun objet validé pour « ${theme.label} ».`);
    if (outline) fit(outline.getBounds(), 8);
    return;
  }
  resume.textContent = plural(got.drawn, 'objet', 'objets');
  if (got.more || got.matched > got.drawn) {
    const note = document.getElementById('note');
    note.hidden = false;
    note.textContent = `Seuls les ${nombre.format(got.drawn)} premiers objets sur ${nombre.format(got.matched)} sont affichés : choisissez un territoire plus petit pour les voir tous.`;
  }
  listButton.hidden = false;
  fit(layer.getBounds(), 16);
  showState('pret', '');
}

start().catch((e) => showState('erreur', `La carte n’a pas pu s’afficher : ${e.message}`));
