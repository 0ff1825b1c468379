// "Importer un fichier": a base that exists elsewhere, put into a guichet
// at once. The file goes up as it is (with its progress); then each field
// of the guichet's form gets a column of the file (the server suggests
// them), the geometry its source and the values of the lists their
// equivalents, with the first rows in sight; a dry run checks every line
// as a submission is checked and reports its problems, page by page; the
// lines without errors are then recorded as one batch, which can be undone
// as long as no reviewer has acted on it. The page reopens an import from
// its address (?id=12), and lists the organisation's imports.
import { api, ApiError, sendFile } from './api.js';
import { el, clear, dateText, showError, showOk } from './dom.js';
import { startPage } from './layout.js';
import { GUICHETS, fieldLabel } from './suivi.js';

const STATES = {
  uploaded: 'Déposé', checking: 'Vérification en cours', checked: 'Vérifié',
  committing: 'Enregistrement en cours', committed: 'Enregistré', cancelled: 'Annulé', failed: 'Échec',
};
const ROW_STATUS = { valid: 'Valide', warning: 'Avertissement', error: 'Erreur' };
const FORMATS = { csv: 'CSV', geojson: 'GeoJSON', gpkg: 'GeoPackage' };
// Where the geometry comes from, and the columns each source needs.
const GEOMETRY = {
  native: { label: 'Les géométries du fichier', columns: [] },
  wkt: { label: 'Une colonne en WKT', columns: [['column', 'Colonne WKT']] },
  xy: { label: 'Deux colonnes X et Y en Lambert-93 (EPSG:2154)', columns: [['x', 'Colonne X'], ['y', 'Colonne Y']] },
  lonlat: { label: 'Longitude et latitude en degrés (WGS 84)',
    columns: [['lon', 'Colonne de la longitude'], ['lat', 'Colonne de la latitude']] },
};
const EDITABLE = ['uploaded', 'checked', 'failed'];
const ACTIVE = ['checking', 'committing'];
const CANCELLABLE = ['uploaded', 'checked', 'failed', 'committed'];
const ROWS_PAGE = 20;
const LIST_PAGE = 20;
const POLL_MS = 1000;

let session = null;
let imp = null;			// the import shown
let form = null;		// its guichet's form
let dirty = false;		// the mapping changed since it was loaded or saved
let vmState = {};		// field → Map(value in the file → value of the form, '' for none)
let vmExtra = {};		// field → Set of values typed in, beyond the sample's
let rowOffset = 0;
let listOffset = 0;
let maxBytes = 0;		// the server's import_max_bytes, from the list
let pollTimer = null;
let pollGeneration = 0;
let rowsGeneration = 0;
const forms = {};

const $ = (id) => document.getElementById(id);
const plural = (n, one, many = `${one}s`) => `${Number(n).toLocaleString('fr-FR')} ${n > 1 ? many : one}`;
const quoted = (s) => `« ${s} »`;

function loadForm(guichet) {
  forms[guichet] ??= api('GET', `/api/v1/forms/${encodeURIComponent(guichet)}`);
  return forms[guichet];
}

// May the signed-in organisation validate what it imports into this form?
// Only an authority whose sign-off suffices (the server says the same).
function competent(f) {
  const kind = session?.user?.organisation?.kind;
  const review = f?.review;
  const alone = review?.mode !== 'all' || (review?.authorities?.length ?? 0) <= 1;
  return Boolean(kind && alone && review?.authorities?.some((a) => a.kinds?.includes(kind)));
}

function problemField(name) {
  if (!name) return 'Ligne';
  return fieldLabel(form, name);
}

function countsText(i) {
  const c = i.counts ?? {};
  if (c.valid === undefined) return '—';
  const parts = [plural(c.valid, 'valide'), `${Number(c.warning ?? 0).toLocaleString('fr-FR')} avec avertissement`,
    `${Number(c.error ?? 0).toLocaleString('fr-FR')} en erreur`];
  if (c.committed !== undefined) parts.push(plural(c.committed, 'enregistrée'));
  return parts.join(', ');
}

const recordable = (i) => Number(i.counts?.valid ?? 0) + Number(i.counts?.warning ?? 0);

// 12 345 bytes → "12,1 Ko"
function sizeText(bytes) {
  const n = Number(bytes) || 0;
  const fmt = (x) => x.toLocaleString('fr-FR', { maximumFractionDigits: 1 });
  if (n < 1024 * 1024) return `${fmt(Math.max(n / 1024, n ? 0.1 : 0))} Ko`;
  return `${fmt(n / (1024 * 1024))} Mo`;
}

// --- the upload --------------------------------------------------------------

async function upload(ev) {
  ev.preventDefault();
  const fm = $('form-depot');
  const file = fm.elements.file.files[0];
  if (!file) {
    showError(fm, { field: 'file', message: 'Choisissez le fichier à importer.' });
    return;
  }
  if (maxBytes && file.size > maxBytes) {
    showError(fm, { field: 'file', message: `Ce fichier (${sizeText(file.size)}) dépasse la taille maximale acceptée `
      + `(${sizeText(maxBytes)}) : découpez-le en plusieurs fichiers.` });
    return;
  }
  showError(fm, null);
  const guichet = fm.elements.guichet.value;
  const bar = $('d-progression');
  const status = $('d-etat');
  let step = -1;
  bar.value = 0;
  $('d-envoi').hidden = false;
  $('deposer').disabled = true;
  status.textContent = `Envoi de ${file.name} (${sizeText(file.size)})…`;
  try {
    const created = await sendFile(`/api/v1/imports?guichet=${encodeURIComponent(guichet)}&filename=${encodeURIComponent(file.name)}`,
      file, (sent, total) => {
        const pct = total ? Math.min(100, Math.floor((sent / total) * 100)) : 0;
        bar.value = pct;
        // The live region speaks at each tenth, not at each packet.
        if (Math.floor(pct / 10) !== step) {
          step = Math.floor(pct / 10);
          status.textContent = pct < 100 ? `Envoi : ${pct} % (${sizeText(sent)} sur ${sizeText(total)}).`
            : 'Fichier envoyé : le serveur le lit…';
        }
      });
    bar.value = 100;
    status.textContent = `Fichier déposé : import n° ${created.id}.`;
    fm.reset();
    fm.elements.guichet.value = guichet;
    history.replaceState(null, '', `?id=${created.id}`);
    await show(created);
    const box = $('message-import');
    box.textContent = `Fichier déposé (${sizeText(file.size)}) : faites correspondre ses colonnes aux champs du formulaire, `
      + 'puis lancez « Vérifier ».';
    box.className = 'message ok';
    $('import-titre').focus();
    loadList();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    $('d-envoi').hidden = true;
    status.textContent = '';
    if (e.status === 413) e.message = 'Ce fichier dépasse la taille maximale qu’accepte le serveur : découpez-le en plusieurs fichiers.';
    showError(fm, e);
  } finally {
    $('deposer').disabled = false;
  }
}

// --- the import, as a whole ----------------------------------------------------

function renderSummary() {
  $('import-titre').textContent = `Import n° ${imp.id} — ${imp.filename}`;
  const facts = [FORMATS[imp.format] ?? imp.format];
  if (imp.encoding) facts.push(imp.encoding);
  if (imp.separator) facts.push(`séparateur ${quoted(imp.separator === '\t' ? 'tabulation' : imp.separator)}`);
  if (imp.bytes) facts.push(sizeText(imp.bytes));
  const state = el('dd', { id: 'import-etat', 'data-state': imp.state },
    el('span', { class: `etat-import etat-${imp.state}`, text: STATES[imp.state] ?? imp.state }));
  if (imp.state === 'failed' && imp.error) state.append(el('span', { class: 'erreur-lot ko', text: ` — ${imp.error}` }));
  clear($('import-fiche')).append(
    el('dt', { text: 'Guichet' }), el('dd', { text: GUICHETS[imp.guichet] ?? imp.guichet }),
    el('dt', { text: 'Fichier' }), el('dd', { text: `${imp.filename} (${facts.join(', ')})` }),
    el('dt', { text: 'Déposé le' }), el('dd', { text: dateText(imp.created_at) }),
    el('dt', { text: 'État' }), state,
    el('dt', { text: 'Lignes' }), el('dd', { id: 'import-lignes', text: countsText(imp) }));
  const cancellable = CANCELLABLE.includes(imp.state);
  $('annuler-import').hidden = !cancellable;
  if (!cancellable) closeConfirmation('annuler-import', 'confirmation-annulation', false);
  const k = Number(imp.counts?.committed ?? 0);
  $('confirmation-annulation-texte').textContent = imp.state !== 'committed'
    ? 'L’import sera abandonné. Rien n’a encore été enregistré : aucune saisie n’est touchée.'
    : k === 1 ? 'La saisie enregistrée par cet import sera retirée (supprimée si elle a été validée). '
      + 'C’est possible tant qu’aucun relecteur n’a agi sur elle.'
      : `Les ${k} saisies enregistrées par cet import seront retirées (supprimées si elles ont été validées). `
      + 'C’est possible tant qu’aucun relecteur n’a agi sur l’une d’elles.';
}

// Shows an import: everything when it is opened or saved, all but the
// mapping (which the user may be editing) when a poll brings a new state.
async function show(i, { mapping = true } = {}) {
  const changed = !imp || imp.id !== i.id || imp.state !== i.state;
  if (imp?.id !== i.id) rowOffset = 0;
  imp = i;
  form = await loadForm(i.guichet);
  $('depot').hidden = true;
  $('import').hidden = false;
  renderSummary();
  if (mapping) renderMapping();
  setEditable(EDITABLE.includes(imp.state));
  renderReport(changed);
  renderCommit();
  markCurrentInList();
  schedulePoll();
}

async function openImport(id) {
  try {
    await show(await api('GET', `/api/v1/imports/${id}`));
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    $('depot').hidden = false;
    showError($('form-depot'), e.status === 404
      ? { message: `L’import n° ${id} n’existe pas, ou il n’est pas de votre organisation.` } : e);
  }
}

function schedulePoll() {
  clearTimeout(pollTimer);
  pollTimer = null;
  if (imp && ACTIVE.includes(imp.state)) pollTimer = setTimeout(poll, POLL_MS);
}

async function poll() {
  const mine = ++pollGeneration;
  const id = imp.id;
  let i;
  try {
    i = await api('GET', `/api/v1/imports/${id}`);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (mine === pollGeneration) pollTimer = setTimeout(poll, POLL_MS * 3);
    return;
  }
  if (mine !== pollGeneration || imp?.id !== id) return;
  const before = imp.state;
  await show(i, { mapping: false });
  if (before !== i.state) loadList();
}

// --- the mapping -----------------------------------------------------------------

// The distinct non-empty texts of a column in the sample rows, in order.
function sampleValues(column) {
  const out = [];
  for (const row of imp.sample ?? []) {
    const v = row?.[column];
    if (v !== undefined && v !== null && String(v) !== '' && !out.includes(String(v))) out.push(String(v));
  }
  return out;
}

function exampleText(f, column) {
  if (!column) return f.required ? 'Aucune colonne : ce champ obligatoire manquera à chaque ligne.' : 'Non importé.';
  const values = sampleValues(column);
  if (!values.length) return 'Cette colonne est vide dans l’aperçu.';
  return `Dans l’aperçu : ${values.slice(0, 3).map(quoted).join(', ')}${values.length > 3 ? '…' : ''}`;
}

function renderSample() {
  const cols = imp.columns ?? [];
  const rows = imp.sample ?? [];
  const table = $('apercu');
  clear(table.tHead).append(el('tr', {}, cols.map((c) => el('th', { scope: 'col', text: c }))));
  const tbody = clear(table.tBodies[0]);
  for (const r of rows) tbody.append(el('tr', {}, cols.map((c) => el('td', { text: r?.[c] ?? '' }))));
  if (!rows.length) tbody.append(el('tr', {}, el('td', { colspan: Math.max(cols.length, 1), text: 'Aucune ligne lue.' })));
  const which = rows.length > 1 ? `les ${rows.length} premières lignes du fichier` : rows.length ? 'la première ligne du fichier'
    : 'aucune ligne lue';
  $('apercu-info').textContent = `${plural(cols.length, 'colonne')} ; ${which}.`;
}

function orderedFields() {
  const fields = form?.fields ?? [];
  return [...fields.filter((f) => f.required), ...fields.filter((f) => !f.required)];
}

function columnOptions(selected, empty) {
  const opts = [el('option', { value: '', text: empty })];
  for (const c of imp.columns ?? []) opts.push(el('option', { value: c, text: c, selected: c === selected }));
  return opts;
}

function renderFields() {
  const box = clear($('m-liste'));
  for (const f of orderedFields()) {
    const id = `m-champ-${f.name}`;
    const column = imp.mapping?.[f.name] ?? '';
    const select = el('select', { id, name: `mapping.${f.name}`, 'data-field': f.name, 'aria-describedby': `${id}-exemple` },
      columnOptions(column, '— Aucune colonne —'));
    select.value = (imp.columns ?? []).includes(column) ? column : '';
    const example = el('p', { class: 'aide exemple', id: `${id}-exemple`, text: exampleText(f, select.value) });
    select.addEventListener('change', () => {
      example.textContent = exampleText(f, select.value);
      if (f.values) renderValueMaps();
    });
    box.append(el('div', { class: 'champ-import', 'data-field': f.name },
      el('label', { for: id, class: f.required ? 'requis' : false }, f.label,
        f.required ? el('span', { class: 'vh', text: ' (obligatoire)' }) : null),
      select, example));
  }
}

function renderGeometry() {
  const g = imp.geometry ?? null;
  const box = clear($('m-geometrie-choix'));
  for (const [kind, spec] of Object.entries(GEOMETRY)) {
    if (kind === 'native' && imp.format === 'csv' && g?.kind !== 'native') continue;
    const id = `m-geo-${kind}`;
    const radio = el('input', { type: 'radio', id, name: 'geometry.kind', value: kind, checked: g?.kind === kind,
      'aria-controls': spec.columns.length ? `${id}-colonnes` : false });
    box.append(el('label', { class: 'case', for: id }, radio, spec.label));
    if (!spec.columns.length) continue;
    const cols = el('div', { class: 'colonnes-geometrie', id: `${id}-colonnes`, hidden: g?.kind !== kind });
    for (const [member, label] of spec.columns) {
      const sid = `${id}-${member}`;
      const select = el('select', { id: sid, name: `geometry.${member}`, 'data-kind': kind, 'data-member': member },
        columnOptions(g?.kind === kind ? g[member] : '', '— Choisir —'));
      cols.append(el('div', {}, el('label', { for: sid, text: label }), select));
    }
    box.append(cols);
  }
  box.append(el('p', { class: 'aide', id: 'm-geometrie-aide', text: g ? ''
    : 'Aucune source choisie : sans géométrie, chaque ligne sera en erreur.' }));
}

// A source chosen shows the columns it needs, and only those.
function onGeometryKind(ev) {
  if (ev.target.name !== 'geometry.kind') return;
  for (const d of $('m-geometrie-choix').querySelectorAll('.colonnes-geometrie')) d.hidden = d.id !== `${ev.target.id}-colonnes`;
  $('m-geometrie-aide').textContent = '';
}

// Are all the items of a text values of the field (an enum_list holds several)?
function knownValue(f, text) {
  const known = (v) => f.values.some((x) => x.value === v);
  if (f.type !== 'enum_list') return known(text);
  const items = text.split(f.export?.separator ? f.export.separator : /[|,;]/).map((s) => s.trim()).filter(Boolean);
  return items.length > 0 && items.every(known);
}

function valueRow(f, source) {
  const target = vmState[f.name]?.get(source) ?? '';
  const known = knownValue(f, source);
  const select = el('select', {
    'data-field': f.name, 'data-source': source, name: `value_map.${f.name}`,
    'aria-label': `${f.label} : valeur du formulaire pour ${quoted(source)}`,
  }, el('option', { value: '', text: known ? 'Telle quelle' : 'À choisir (sinon, erreur)' }),
  f.values.map((v) => el('option', { value: v.value, text: v.label, selected: v.value === target })));
  select.addEventListener('change', () => {
    vmState[f.name] ??= new Map();
    vmState[f.name].set(source, select.value);
  });
  return el('tr', { 'data-source': source, class: !known && !target ? 'valeur-inconnue' : false },
    el('th', { scope: 'row', text: source }), el('td', {}, select));
}

function addValue(f, input) {
  const v = input.value;
  if (!v.trim()) {
    input.focus();
    return;
  }
  vmExtra[f.name] ??= new Set();
  vmExtra[f.name].add(v);
  input.value = '';
  renderValueMaps();
  document.querySelector(`#m-valeurs select[data-field="${CSS.escape(f.name)}"][data-source="${CSS.escape(v)}"]`)?.focus();
}

// One table per list field mapped to a column: the values of the sample,
// those already mapped and those typed in, each with a value of the form.
function renderValueMaps() {
  const box = clear($('m-valeurs-liste'));
  let any = false;
  for (const f of orderedFields()) {
    if (!f.values) continue;
    const column = document.querySelector(`#m-liste select[data-field="${CSS.escape(f.name)}"]`)?.value;
    if (!column) continue;
    any = true;
    const sources = sampleValues(column);
    for (const s of [...(vmState[f.name]?.keys() ?? []), ...(vmExtra[f.name] ?? [])]) if (!sources.includes(s)) sources.push(s);
    const tbody = el('tbody', {}, sources.map((s) => valueRow(f, s)));
    if (!sources.length) tbody.append(el('tr', {}, el('td', { colspan: 2, text: 'Aucune valeur dans l’aperçu.' })));
    const inputId = `m-valeur-${f.name}`;
    const input = el('input', { id: inputId, autocomplete: 'off', maxlength: 1000 });
    const add = el('button', { type: 'button', class: 'secondaire', text: 'Ajouter la valeur', onclick: () => addValue(f, input) });
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        addValue(f, input);
      }
    });
    box.append(el('div', { class: 'valeurs-champ', 'data-field': f.name },
      el('div', { class: 'table-wrap' }, el('table', { class: 'valeurs' },
        el('caption', { text: `${f.label} — colonne ${quoted(column)}` }),
        el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Dans le fichier' }), el('th', { scope: 'col', text: 'Dans le formulaire' }))),
        tbody)),
      el('div', { class: 'ajout-valeur' },
        el('div', {}, el('label', { for: inputId, text: `Autre valeur du fichier pour ${quoted(f.label)}` }), input),
        add)));
  }
  $('m-valeurs').hidden = !any;
}

function renderMapping() {
  dirty = false;
  vmState = {};
  vmExtra = {};
  for (const [field, m] of Object.entries(imp.value_map ?? {})) vmState[field] = new Map(Object.entries(m));
  $('correspondance').hidden = false;
  showMappingError(null);
  renderSample();
  renderFields();
  renderGeometry();
  renderValueMaps();
  const bloc = $('m-valider-bloc');
  bloc.hidden = !competent(form) && !imp.validate;
  $('m-valider').checked = Boolean(imp.validate);
}

function setEditable(on) {
  const fm = $('form-correspondance');
  for (const c of fm.querySelectorAll('input, select, button')) c.disabled = !on;
  fm.querySelector('.outils').hidden = !on;
  $('correspondance-aide').textContent = on
    ? 'Choisissez, pour chaque champ du formulaire, la colonne du fichier qui le contient. La correspondance proposée vient des noms des colonnes, ou du dernier import de votre organisation dans ce guichet.'
    : `La correspondance ne change plus : l’import est ${(STATES[imp.state] ?? imp.state).toLowerCase()}.`;
}

// The PATCH body from the form; throws {field, message} when a geometry
// source lacks a column.
function mappingBody() {
  const mapping = {};
  for (const s of document.querySelectorAll('#m-liste select[data-field]')) if (s.value) mapping[s.dataset.field] = s.value;
  const kind = document.querySelector('#m-geometrie input[name="geometry.kind"]:checked')?.value;
  let geometry = null;
  if (kind) {
    geometry = { kind };
    for (const [member, label] of GEOMETRY[kind].columns) {
      const v = document.querySelector(`#m-geometrie select[data-kind="${kind}"][data-member="${member}"]`).value;
      if (!v) throw { field: `geometry.${member}`, message: `Choisissez la ${label.toLowerCase()}.` };
      geometry[member] = v;
    }
  }
  const valueMap = {};
  for (const f of form.fields) {
    if (!f.values || !mapping[f.name] || !vmState[f.name]) continue;
    const m = {};
    for (const [source, target] of vmState[f.name]) if (target) m[source] = target;
    if (Object.keys(m).length) valueMap[f.name] = m;
  }
  const body = { mapping, geometry, value_map: valueMap };
  if (!$('m-valider-bloc').hidden) body.validate = $('m-valider').checked;
  return body;
}

// Puts an error beside the part of the mapping it names: "mapping",
// "geometry", "value_map", "validate", or one of their members
// ("mapping.categorie"); anything else in the form's message area.
function showMappingError(err) {
  const fm = $('form-correspondance');
  showError(fm, null);
  undescribeAll($('correspondance'));
  if (!err) return;
  const [member, sub] = String(err.field ?? '').split(/\.(.*)/s);
  const groups = { mapping: 'm-champs', geometry: 'm-geometrie', value_map: 'm-valeurs' };
  let target = null;
  let focus = null;
  if (member === 'validate' && !$('m-valider-bloc').hidden) {
    target = $('m-valider').closest('label');
    focus = $('m-valider');
  } else if (sub && member === 'mapping') {
    target = fm.querySelector(`select[name="mapping.${CSS.escape(sub)}"]`);
  } else if (sub && member === 'geometry') {
    target = fm.querySelector(`#m-geometrie .colonnes-geometrie:not([hidden]) select[data-member="${CSS.escape(sub)}"]`);
  } else if (sub && member === 'value_map') {
    target = fm.querySelector(`.valeurs-champ[data-field="${CSS.escape(sub)}"]`);
  }
  if (!target && groups[member] && !$(groups[member]).hidden) target = $(groups[member]).querySelector('legend');
  if (!target) {
    showError(fm, { message: err.message });
    return;
  }
  const msg = el('p', { class: 'erreur-champ', role: 'alert', id: `erreur-${member}`, text: err.message });
  target.insertAdjacentElement('afterend', msg);
  if (target.tagName === 'SELECT') {
    target.setAttribute('aria-invalid', 'true');
    focus = target;
  } else if (!focus) {
    const group = target.closest('fieldset') ?? target.parentElement;
    describe(group, msg.id);
    focus = group.querySelector('select:not([disabled]), input:not([disabled])');
  }
  if (focus) describe(focus, msg.id);
  focus?.focus();
}

// Adds an error's id to what describes node; undone by undescribeAll.
function describe(node, id) {
  if (!node.hasAttribute('data-decrit')) node.setAttribute('data-decrit', node.getAttribute('aria-describedby') ?? '');
  node.setAttribute('aria-describedby', `${id} ${node.getAttribute('data-decrit')}`.trim());
}

function undescribeAll(root) {
  for (const n of root.querySelectorAll('[data-decrit]')) {
    const base = n.getAttribute('data-decrit');
    if (base) n.setAttribute('aria-describedby', base);
    else n.removeAttribute('aria-describedby');
    n.removeAttribute('data-decrit');
  }
}

async function saveMapping() {
  let body;
  try {
    body = mappingBody();
  } catch (e) {
    if (e instanceof Error) throw e;
    showMappingError(e);
    return null;
  }
  try {
    const i = await api('PATCH', `/api/v1/imports/${imp.id}`, body);
    await show(i);
    return i;
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    showMappingError(e);
    return null;
  }
}

function mappingBusy(on) {
  $('enregistrer-correspondance').disabled = on;
  $('verifier').disabled = on;
}

function clearImportMessage() {
  $('message-import').textContent = '';
  $('message-import').className = 'message';
}

async function onSave() {
  clearImportMessage();
  mappingBusy(true);
  try {
    if (await saveMapping()) {
      showOk($('form-correspondance'), imp.checked_at
        ? 'Correspondance enregistrée. Lancez « Vérifier » pour refaire le rapport avec elle.'
        : 'Correspondance enregistrée.');
    }
  } finally {
    mappingBusy(false);
  }
}

async function onCheck(ev) {
  ev.preventDefault();
  clearImportMessage();
  mappingBusy(true);
  try {
    if (!(await saveMapping())) return;
    try {
      const i = await api('POST', `/api/v1/imports/${imp.id}/check`);
      rowOffset = 0;
      await show(i, { mapping: false });
      loadList();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showMappingError({ message: e.message });
    }
  } finally {
    if (EDITABLE.includes(imp.state)) mappingBusy(false);
  }
}

// --- the report --------------------------------------------------------------------

function renderReport(changed) {
  const section = $('rapport');
  const body = $('rapport-corps');
  const bar = $('rapport-progression');
  const status = $('rapport-etat');
  const say = (t) => { if (status.textContent !== t) status.textContent = t; };
  const hasReport = imp.counts?.valid !== undefined && !['uploaded', 'checking', 'failed'].includes(imp.state);
  bar.hidden = imp.state !== 'checking';
  if (imp.state === 'checking') {
    section.hidden = false;
    body.hidden = true;
    bar.removeAttribute('value');
    say(`Vérification en cours : ${plural(imp.progress ?? 0, 'ligne vérifiée', 'lignes vérifiées')}…`);
    return;
  }
  if (imp.state === 'failed') {
    section.hidden = false;
    body.hidden = true;
    say(`La vérification ou l’enregistrement a échoué : ${imp.error ?? 'raison inconnue'}. Vous pouvez relancer « Vérifier ».`);
    return;
  }
  if (imp.state === 'uploaded') {
    section.hidden = !imp.checked_at;
    body.hidden = true;
    say(imp.checked_at ? 'La correspondance a changé depuis la dernière vérification : lancez « Vérifier » pour refaire le rapport.' : '');
    return;
  }
  section.hidden = !hasReport;
  body.hidden = !hasReport;
  if (!hasReport) return;
  const c = imp.counts;
  say(`Vérification terminée : ${plural(imp.total ?? (c.valid + c.warning + c.error), 'ligne lue', 'lignes lues')}.`);
  clear($('bilan')).append(
    el('li', { 'data-status': 'valid' }, el('strong', { class: 'statut-valid', text: String(c.valid ?? 0) }), ` ${c.valid > 1 ? 'valides' : 'valide'}`),
    el('li', { 'data-status': 'warning' }, el('strong', { class: 'statut-warning', text: String(c.warning ?? 0) }), ' avec avertissement'),
    el('li', { 'data-status': 'error' }, el('strong', { class: 'statut-error', text: String(c.error ?? 0) }), ' en erreur'));
  const csv = $('rapport-csv');
  csv.href = `/api/v1/imports/${imp.id}/report.csv`;
  csv.setAttribute('download', `import-${imp.id}-rapport.csv`);
  if (changed) loadRows();
}

function problemsCell(r) {
  const items = [...(r.errors ?? []).map((p) => ['erreur', p]), ...(r.warnings ?? []).map((p) => ['avertissement', p])];
  if (!items.length) return el('td', { class: 'problemes', text: '—' });
  return el('td', { class: 'problemes' }, el('ul', {}, items.map(([level, p]) => el('li', { class: `probleme-${level}` },
    level === 'avertissement' ? el('span', { class: 'niveau', text: 'Avertissement — ' }) : null,
    el('strong', { text: `${problemField(p.field)} : ` }), p.message ?? p.code))));
}

function rowLine(r) {
  const name = r.label || '—';
  return el('tr', { 'data-line': String(r.line), 'data-status': r.status },
    el('td', { text: String(r.line) }),
    el('td', {}, el('span', { class: `statut-${r.status}`, text: ROW_STATUS[r.status] ?? r.status })),
    el('td', {}, r.submission_id
      ? el('a', { href: `/saisie.html?guichet=${encodeURIComponent(imp.guichet)}&id=${r.submission_id}`, text: name })
      : name),
    el('td', { text: r.insee_commune ?? '—' }),
    problemsCell(r));
}

async function loadRows() {
  const mine = ++rowsGeneration;
  const status = $('l-statut').value;
  const q = new URLSearchParams({ limit: String(ROWS_PAGE), offset: String(rowOffset) });
  if (status) q.set('status', status);
  let page;
  try {
    page = await api('GET', `/api/v1/imports/${imp.id}/rows?${q}`);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (mine === rowsGeneration) $('lignes-etat').textContent = e.message;
    return;
  }
  if (mine !== rowsGeneration) return;
  const tbody = clear(document.querySelector('#lignes tbody'));
  for (const r of page.rows) tbody.append(rowLine(r));
  if (!page.rows.length) tbody.append(el('tr', {}, el('td', { colspan: 5, text: 'Aucune ligne ici.' })));
  $('lignes-etat').textContent = page.total === 0 ? 'Aucune ligne de ce statut.'
    : `Lignes ${rowOffset + 1} à ${rowOffset + page.rows.length} sur ${page.total}.`;
  $('lignes-precedentes').hidden = rowOffset === 0;
  $('lignes-suivantes').hidden = rowOffset + page.rows.length >= page.total;
}

// --- commit and cancel ------------------------------------------------------------

function openConfirmation(buttonId, panelId, confirmId) {
  $(panelId).hidden = false;
  $(buttonId).setAttribute('aria-expanded', 'true');
  $(confirmId).focus();
}

function closeConfirmation(buttonId, panelId, refocus = true) {
  $(panelId).hidden = true;
  $(buttonId).setAttribute('aria-expanded', 'false');
  if (refocus && !$(buttonId).hidden) $(buttonId).focus();
}

function renderCommit() {
  const section = $('enregistrement');
  const button = $('enregistrer');
  const info = $('enregistrement-info');
  const status = $('enregistrement-etat');
  const n = recordable(imp);
  const c = imp.counts ?? {};
  const say = (t) => { if (status.textContent !== t) status.textContent = t; };
  button.hidden = true;
  section.hidden = false;
  if (imp.state === 'checked') {
    if (!n) {
      info.textContent = 'Aucune ligne sans erreur : rien à enregistrer. Corrigez la correspondance ou le fichier, puis vérifiez-le à nouveau.';
      say('');
      closeConfirmation('enregistrer', 'confirmation-enregistrement', false);
      return;
    }
    const validated = Boolean(imp.validate);
    info.textContent = `${n > 1 ? `Les ${n} lignes sans erreur` : 'La ligne sans erreur'}${c.warning ? ` (dont ${c.warning} avec avertissement)` : ''} `
      + `${n > 1 ? 'peuvent' : 'peut'} être enregistrée${n > 1 ? 's' : ''} en une fois, `
      + `${validated ? 'comme objets validés' : 'comme saisies soumises aux relecteurs'}`
      + `${c.error ? ` ; ${c.error > 1 ? `les ${c.error} lignes` : 'la ligne'} en erreur ne ${c.error > 1 ? 'le seront' : 'le sera'} pas` : ''}.`;
    button.textContent = n > 1 ? `Enregistrer les ${n} lignes sans erreur` : 'Enregistrer la ligne sans erreur';
    button.hidden = false;
    button.disabled = dirty;
    $('confirmation-enregistrement-texte').textContent = `${n > 1 ? `${n} saisies seront créées` : 'Une saisie sera créée'} `
      + `${validated ? 'et validées aussitôt' : 'et soumises aux relecteurs de leur territoire'}. `
      + 'Vous pourrez annuler l’import tant qu’aucun relecteur n’aura agi sur l’une d’elles.';
    say(dirty ? 'La correspondance a changé : enregistrez-la et vérifiez le fichier à nouveau avant d’enregistrer les lignes.' : '');
    return;
  }
  closeConfirmation('enregistrer', 'confirmation-enregistrement', false);
  if (imp.state === 'committing') {
    info.textContent = '';
    say('Enregistrement en cours…');
    return;
  }
  if (imp.state === 'committed' || (imp.state === 'cancelled' && c.committed !== undefined)) {
    const k = Number(c.committed ?? 0);
    info.textContent = '';
    const what = imp.validate ? (k > 1 ? 'validées' : 'validée') : (k > 1 ? 'soumises aux relecteurs' : 'soumise aux relecteurs');
    status.textContent = imp.state === 'committed'
      ? `${plural(k, 'saisie enregistrée', 'saisies enregistrées')}, ${what}. `
      : `${plural(k, 'saisie avait été enregistrée', 'saisies avaient été enregistrées')} ; l’import est annulé, `
        + `${k > 1 ? 'elles sont retirées' : 'elle est retirée'}. `;
    status.append(el('a', { href: `/saisies.html?guichet=${encodeURIComponent(imp.guichet)}`, text: 'Voir mes saisies' }));
    return;
  }
  section.hidden = true;
  info.textContent = '';
  say('');
}

async function commit() {
  const box = $('message-enregistrement');
  box.textContent = '';
  box.className = 'message';
  $('confirmer-enregistrement').disabled = true;
  try {
    const i = await api('POST', `/api/v1/imports/${imp.id}/commit`);
    closeConfirmation('enregistrer', 'confirmation-enregistrement', false);
    await show(i, { mapping: false });
    loadList();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    box.textContent = e.message;
    box.className = 'message ko';
  } finally {
    $('confirmer-enregistrement').disabled = false;
  }
}

async function cancel() {
  const box = $('message-import');
  box.textContent = '';
  box.className = 'message';
  $('confirmer-annulation').disabled = true;
  const wasCommitted = imp.state === 'committed';
  try {
    const i = await api('POST', `/api/v1/imports/${imp.id}/cancel`);
    closeConfirmation('annuler-import', 'confirmation-annulation', false);
    await show(i);
    const k = Number(i.counts?.committed ?? 0);
    box.textContent = !wasCommitted ? 'Import annulé.'
      : k > 1 ? `Import annulé : ses ${k} saisies ont été retirées.` : 'Import annulé : sa saisie a été retirée.';
    box.className = 'message ok';
    $('import-titre').focus();
    loadList();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    closeConfirmation('annuler-import', 'confirmation-annulation', false);
    box.textContent = e.code === 'import_not_cancellable' && wasCommitted
      ? 'Cet import ne peut plus être annulé : un relecteur a déjà agi sur l’une de ses saisies. '
        + 'Retirez ou corrigez les saisies une à une depuis « Mes saisies ».'
      : e.message;
    box.className = 'message ko';
    try {
      await show(await api('GET', `/api/v1/imports/${imp.id}`), { mapping: false });
    } catch (e2) {
      if (!(e2 instanceof ApiError)) throw e2;
    }
  } finally {
    $('confirmer-annulation').disabled = false;
  }
}

// --- the organisation's imports -------------------------------------------------------

function markCurrentInList() {
  for (const tr of document.querySelectorAll('#imports tbody tr[data-id]')) {
    if (imp && tr.dataset.id === String(imp.id)) tr.setAttribute('aria-current', 'true');
    else tr.removeAttribute('aria-current');
  }
}

function listRow(i) {
  return el('tr', { 'data-id': String(i.id), 'data-state': i.state },
    el('td', {}, el('a', { href: `/import.html?id=${i.id}`, text: String(i.id), 'aria-label': `Ouvrir l’import n° ${i.id}` })),
    el('td', { text: GUICHETS[i.guichet] ?? i.guichet }),
    el('td', { class: 'nom-fichier' }, el('a', { href: `/import.html?id=${i.id}`, text: i.filename })),
    el('td', {}, el('span', { class: `etat-import etat-${i.state}`, text: STATES[i.state] ?? i.state })),
    el('td', { text: countsText(i) }),
    el('td', { text: dateText(i.created_at) }));
}

async function loadList() {
  const q = new URLSearchParams({ limit: String(LIST_PAGE + 1), offset: String(listOffset) });
  let list;
  try {
    let max;
    ({ imports: list, max_bytes: max } = await api('GET', `/api/v1/imports?${q}`));
    if (max !== maxBytes) {
      maxBytes = max;
      $('d-taille-max').textContent = ` Taille maximale : ${sizeText(maxBytes)}.`;
    }
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    $('historique-etat').textContent = e.message;
    return;
  }
  const more = list.length > LIST_PAGE;
  list = list.slice(0, LIST_PAGE);
  const tbody = clear(document.querySelector('#imports tbody'));
  for (const i of list) tbody.append(listRow(i));
  if (!list.length) tbody.append(el('tr', {}, el('td', { colspan: 6, text: 'Aucun import pour l’instant.' })));
  $('historique-etat').textContent = list.length
    ? `Imports ${listOffset + 1} à ${listOffset + list.length}${more ? '' : ` sur ${listOffset + list.length}`}.` : '';
  $('imports-recents').hidden = listOffset === 0;
  $('imports-anciens').hidden = !more;
  markCurrentInList();
}

// --- start ----------------------------------------------------------------------------

session = await startPage('contributor');
if (session) {
  const fm = $('form-depot');
  for (const [g, label] of Object.entries(GUICHETS)) fm.elements.guichet.append(el('option', { value: g, text: label }));
  const params = new URLSearchParams(location.search);
  if (GUICHETS[params.get('guichet')]) fm.elements.guichet.value = params.get('guichet');
  fm.addEventListener('submit', upload);

  const mf = $('form-correspondance');
  mf.addEventListener('submit', onCheck);
  mf.addEventListener('change', () => {
    dirty = true;
    if (imp?.state === 'checked') renderCommit();
  });
  $('enregistrer-correspondance').addEventListener('click', onSave);
  $('m-geometrie-choix').addEventListener('change', onGeometryKind);

  $('form-lignes').addEventListener('submit', (ev) => { ev.preventDefault(); rowOffset = 0; loadRows(); });
  $('l-statut').addEventListener('change', () => { rowOffset = 0; loadRows(); });
  $('lignes-precedentes').addEventListener('click', () => { rowOffset = Math.max(0, rowOffset - ROWS_PAGE); loadRows(); });
  $('lignes-suivantes').addEventListener('click', () => { rowOffset += ROWS_PAGE; loadRows(); });

  $('enregistrer').addEventListener('click', () => openConfirmation('enregistrer', 'confirmation-enregistrement', 'confirmer-enregistrement'));
  $('renoncer-enregistrement').addEventListener('click', () => closeConfirmation('enregistrer', 'confirmation-enregistrement'));
  $('confirmer-enregistrement').addEventListener('click', commit);
  $('annuler-import').addEventListener('click', () => openConfirmation('annuler-import', 'confirmation-annulation', 'confirmer-annulation'));
  $('garder-import').addEventListener('click', () => closeConfirmation('annuler-import', 'confirmation-annulation'));
  $('confirmer-annulation').addEventListener('click', cancel);

  $('imports-recents').addEventListener('click', () => { listOffset = Math.max(0, listOffset - LIST_PAGE); loadList(); });
  $('imports-anciens').addEventListener('click', () => { listOffset += LIST_PAGE; loadList(); });

  const id = Number(params.get('id'));
  if (Number.isInteger(id) && id > 0) await openImport(id);
  await loadList();
}
