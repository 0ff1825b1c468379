// Turns the statements one request made PostgreSQL run into a pgbench
// script, so that the reference side of a pair runs exactly that SQL.
//
// Reads PostgreSQL's log (log_statement = 'all', the default
// log_line_prefix '%m [%p] ') from stdin and keeps, of backend PID, the
// statements from the last one matching TO (a regular expression) back to
// the closest one before it matching FROM. Each becomes one line of the script, its
// parameters written in as the literals the log shows ('…' or NULL), as
// PostgreSQL received them for a custom plan. Options:
//
//   --point HEX          the EWKB of the request's point (SRID 4326): it
//                        becomes ST_SetSRID(ST_MakePoint(:lon, :lat), 4326),
//                        with \set lines picking lon/lat in --box
//   --box W,S,E,N        where the points are drawn (default Occitanie's middle)
//   --id N               the id the request created: it becomes
//                        (SELECT currval('submissions_id_seq')), the id the script's
//                        own INSERT made
//
// pgbench reads ":name" as a variable: a literal holding ':' is written
// E'…\072…' instead, the same constant.
//
//   --pid PID            the backend (default: the one that ran the last
//                        statement matching TO)
//
//   node bench/pgbench-script.mjs --from '^SELECT u\.id' --to "'uid', s\.uid" < postgresql.log
import fs from 'node:fs';

const args = process.argv.slice(2);
const opt = (name, dflt = null) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
let pid = opt('pid');
const from = new RegExp(opt('from', '.'));
const to = new RegExp(opt('to', '.'));
const point = opt('point');
const id = opt('id');
const [W, S, E, N] = (opt('box', '1.3,43.4,3.3,44.0')).split(',').map(Number);

// Log records: a line starting with the timestamp opens one; the others
// (a tab first) continue it.
const records = [];
for (const line of fs.readFileSync(0, 'utf8').split('\n')) {
  const m = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \w+ \[(\d+)\] (\w+):  (.*)$/.exec(line);
  if (m) records.push({ pid: m[1], level: m[2], text: m[3] });
  else if (records.length && line.startsWith('\t')) records.at(-1).text += `\n${line.slice(1)}`;
}

// Without --pid, the backend that ran the last statement matching TO.
const STMT = /^(?:execute [^:]+|statement): ([\s\S]*)$/;
if (!pid) {
  pid = records.filter((r) => r.level === 'LOG' && STMT.test(r.text) && to.test(STMT.exec(r.text)[1])).at(-1)?.pid;
}

// The statements of the backend, each with the parameters of its DETAIL.
const stmts = [];
for (const r of records) {
  if (r.pid !== pid) continue;
  const st = STMT.exec(r.text);
  if (r.level === 'LOG' && st) stmts.push({ sql: st[1], params: [] });
  else if (r.level === 'DETAIL' && r.text.startsWith('parameters: ') && stmts.length) {
    stmts.at(-1).params = parseParams(r.text.slice('parameters: '.length));
  }
}

// "$1 = 'a''b', $2 = NULL" → ["'a''b'", 'NULL'] (literals kept quoted).
function parseParams(s) {
  const out = [];
  const re = /\$(\d+) = (NULL|'(?:[^']|'')*')(?:, |$)/y;
  let m;
  while ((m = re.exec(s)) !== null) out[Number(m[1]) - 1] = m[2];
  if (re.lastIndex !== s.length && out.length === 0) throw new Error(`unreadable parameters: ${s.slice(0, 80)}`);
  return out;
}

// The last statement matching TO, and the last one matching FROM before
// it: the backend may have served other requests before.
let last = -1;
stmts.forEach((x, i) => { if (to.test(x.sql)) last = i; });
let first = -1;
stmts.forEach((x, i) => { if (i <= last && from.test(x.sql)) first = i; });
if (first < 0 || last < first) {
  console.error(`pgbench-script: no statements of ${pid} from /${from.source}/ to /${to.source}/`);
  process.exit(1);
}

// A parameter as the script writes it.
const literal = (v) => (point && v?.toUpperCase() === `'${point.toUpperCase()}'`
  ? 'ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)'
  : id !== null && v === `'${id}'` ? "(SELECT currval('submissions_id_seq'))" : v);
const lines = [];
if (point) {
  lines.push(`\\set lon ${W} + random(0, 1000000) * ${(E - W) / 1e6}`);
  lines.push(`\\set lat ${S} + random(0, 1000000) * ${(N - S) / 1e6}`);
}
for (const x of stmts.slice(first, last + 1)) {
  // Parameters in, from the highest number down ($12 before $1).
  let sql = x.sql;
  for (let i = x.params.length; i >= 1; i--) {
    sql = sql.replace(new RegExp(`\\$${i}(?!\\d)`, 'g'), () => literal(x.params[i - 1]));
  }
  // ':' inside literals, then one statement per line.
  sql = sql.replace(/(E?)'((?:[^']|'')*)'/g, (all, e, body) => {
    if (!body.includes(':')) return all;
    const b = e ? body : body.replace(/\\/g, '\\\\');
    return `E'${b.replace(/:/g, '\\072')}'`;
  });
  lines.push(`${sql.replace(/\n/g, ' ')};`);
}
process.stdout.write(`${lines.join('\n')}\n`);
