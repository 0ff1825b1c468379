// Helpers of the import suite (imports.test.mjs): files as spreadsheets
// write them (Windows-1252, quoting), the import calls (upload, mapping,
// dry run, every row of the report), and the report's CSV read back.
import assert from 'node:assert/strict';
import { SLOW, spawnCollect, waitFor } from './harness.mjs';

// --- files ---------------------------------------------------------------------------

// Windows-1252 0x80-0x9F (the five unassigned bytes have no character).
const CP1252_HIGH = '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f'
  + '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

/** Text in Windows-1252, as Excel's « CSV (séparateur : point-virgule) » writes it; throws on a character it lacks. */
export function cp1252(text) {
  const out = Buffer.alloc(text.length);
  let n = 0;
  for (const ch of text) {
    const u = ch.codePointAt(0);
    let b;
    if (u < 0x80 || (u >= 0xa0 && u <= 0xff)) b = u;
    else {
      const i = CP1252_HIGH.indexOf(ch);
      if (i < 0 || [0x81, 0x8d, 0x8f, 0x90, 0x9d].includes(0x80 + i)) throw new Error(`not in Windows-1252: U+${u.toString(16)}`);
      b = 0x80 + i;
    }
    out[n++] = b;
  }
  return out.subarray(0, n);
}

/** One CSV field: quoted (quotes doubled) when it holds the separator, a quote or a line end. */
export function csvField(v, sep = ';') {
  const s = v == null ? '' : String(v);
  return s.includes(sep) || /["\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Records (arrays of values) as CSV text, CRLF after each. */
export function csvText(records, sep = ';', eol = '\r\n') {
  return records.map((r) => r.map((v) => csvField(v, sep)).join(sep) + eol).join('');
}

/** The physical lines a text spans beyond its first (CRLF, LF and a lone CR each end one). */
export function lineBreaks(s) {
  return (String(s ?? '').match(/\r\n|\r|\n/g) ?? []).length;
}

/**
 * psql without blocking: a long query run with the harness's psql (spawnSync)
 * would stall the event loop, and fetch would then reuse a kept-alive
 * connection the server closed meanwhile (connection_timeout).
 */
export async function psqlAsync(db, sql) {
  const r = await spawnCollect('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql],
    { timeoutMs: 300_000 });
  assert.equal(r.status, 0, `psql -d ${db}: ${r.stderr}`);
  return r.stdout.trim();
}

// --- the API -------------------------------------------------------------------------

/** POST /api/v1/imports with buf as the body; the raw answer. */
export function upload(c, guichet, filename, buf, { format } = {}) {
  const q = `guichet=${guichet}&filename=${encodeURIComponent(filename)}${format ? `&format=${format}` : ''}`;
  return c.req('POST', `/api/v1/imports?${q}`, Buffer.isBuffer(buf) ? buf : Buffer.from(buf));
}

/** Uploads and asserts 201; the import. */
export async function uploaded(c, guichet, filename, buf, opts) {
  const r = await upload(c, guichet, filename, buf, opts);
  assert.equal(r.status, 201, `upload ${filename}: ${r.text}`);
  assert.equal(r.json.state, 'uploaded');
  return r.json;
}

/** PATCH /api/v1/imports/{id}, asserting 200; the import. */
export async function patched(c, id, body) {
  const r = await c.req('PATCH', `/api/v1/imports/${id}`, body);
  assert.equal(r.status, 200, `PATCH import ${id} ${JSON.stringify(body)}: ${r.text}`);
  return r.json;
}

/** Waits until import id leaves 'checking'; onPoll(import) sees every state read on the way. */
export function settled(c, id, { timeoutMs = 30_000 * SLOW, intervalMs = 100, onPoll } = {}) {
  return waitFor(async () => {
    const g = await c.req('GET', `/api/v1/imports/${id}`);
    assert.equal(g.status, 200, g.text);
    onPoll?.(g.json);
    return g.json.state === 'checking' ? null : g.json;
  }, { timeoutMs, intervalMs, what: `import ${id} checked` });
}

/** POST …/check (202), then waits for the report; asserts state 'checked'. */
export async function checked(c, id, opts) {
  const r = await c.req('POST', `/api/v1/imports/${id}/check`);
  assert.equal(r.status, 202, `check import ${id}: ${r.text}`);
  assert.equal(r.json.state, 'checking');
  const done = await settled(c, id, opts);
  assert.equal(done.state, 'checked', `import ${id}: ${done.error}`);
  return done;
}

/** Every row of the report (pages of 1000), optionally of one status. */
export async function allRows(c, id, status) {
  const rows = [];
  for (let offset = 0; ; offset += 1000) {
    const r = await c.req('GET', `/api/v1/imports/${id}/rows?limit=1000&offset=${offset}${status ? `&status=${status}` : ''}`);
    assert.equal(r.status, 200, r.text);
    rows.push(...r.json.rows);
    if (r.json.rows.length < 1000) {
      assert.equal(rows.length, r.json.total, 'rows listed = total');
      return rows;
    }
  }
}

/** A row's problems as sorted "field:code" texts (field "-" when none). */
export const codes = (list) => list.map((p) => `${p.field ?? '-'}:${p.code}`).sort();

/** A row of the report as compared: {line, status, errors, warnings} with codes only. */
export const shape = (r) => ({ line: r.line, status: r.status, errors: codes(r.errors), warnings: codes(r.warnings) });

// --- the report's CSV ----------------------------------------------------------------

/** Parses a ';' CSV with CRLF line ends and quoted fields: arrays of fields. */
export function parseCsv(text, sep = ';') {
  const out = [];
  let rec = [];
  let f = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (q) {
      if (ch === '"' && text[i + 1] === '"') { f += '"'; i++; } else if (ch === '"') q = false;
      else f += ch;
    } else if (ch === '"' && f === '') q = true;
    else if (ch === sep) { rec.push(f); f = ''; } else if (ch === '\r' && text[i + 1] === '\n') {
      rec.push(f); out.push(rec); rec = []; f = ''; i++;
    } else f += ch;
  }
  assert.ok(!q, 'the report ends inside quotes');
  assert.deepEqual([rec, f], [[], ''], 'the report ends with CRLF');
  return out;
}

/**
 * GET …/report.csv as bytes (fetch's text() would drop the BOM): {status,
 * headers, body (Buffer), text (after the BOM, when there is one)}.
 */
export async function reportCsv(c, id) {
  const h = {};
  if (c.cookie) h.Cookie = c.cookie;
  const res = await fetch(`${c.base}/api/v1/imports/${id}/report.csv`, { headers: h });
  const body = Buffer.from(await res.arrayBuffer());
  const bom = body.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]));
  return { status: res.status, headers: res.headers, body, text: body.subarray(bom ? 3 : 0).toString('utf8') };
}
