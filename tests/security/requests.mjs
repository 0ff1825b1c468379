// The requests that sqlmap replays: one per route of the route table
// (`guichet routes`), and one per guichet for the routes that take a form's
// attributes, with a '*' injection marker after the value of every
// parameter — path, query and JSON body members, each attribute of the
// forms — typed from the OpenAPI description (enumerations, integers,
// booleans) so that the request without payload is one the server accepts.
// Nothing here talks to the server: scan.mjs gathers the context (ids of
// records made for the scan, the session) and runs the requests.

/** A value carrying an injection marker where it is serialised. */
class Mark {
  constructor(value, name) { this.value = value; this.name = name; }
}

/**
 * Serialises v as JSON, each Mark as its value followed by '*' (inside the
 * quotes for a string, after the literal otherwise); names (in order) the
 * marked members in points.
 */
function markedJson(v, points) {
  if (v instanceof Mark) {
    points.push(v.name);
    return typeof v.value === 'string' ? JSON.stringify(`${v.value}*`) : `${JSON.stringify(v.value)}*`;
  }
  if (Array.isArray(v)) return `[${v.map((x) => markedJson(x, points)).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${markedJson(x, points)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Marks every leaf of a JSON value (arrays: their first element), naming each by its path. */
function markLeaves(v, name) {
  if (Array.isArray(v)) return v.map((x, i) => (i === 0 ? markLeaves(x, `${name}[0]`) : x));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, markLeaves(x, `${name}.${k}`)]));
  return new Mark(v, name);
}

/** digits followed by the Luhn key that makes them a valid SIREN or SIRET. */
export function luhn(digits) {
  for (let d = 0; d <= 9; d++) {
    const s = `${digits}${d}`;
    let sum = 0;
    for (let i = 0; i < s.length; i++) {
      let n = Number(s[s.length - 1 - i]) * (i % 2 ? 2 : 1);
      if (n > 9) n -= 9;
      sum += n;
    }
    if (sum % 10 === 0) return s;
  }
  throw new Error('no key');
}

// Values of text fields that have a pattern or a meaning, by field name.
const FIELD_TEXT = {
  adresse_numero: '12', code_postal: '31000', type_bpe: 'A101', code_voie: 'A123', suffixe: 'bis',
  cad_parcelles: '31555000AB0001', voie_nom: 'Rue du Taur', nature: 'Stade', toponyme: 'Stade de la cible',
  libelle: 'Salle de la cible',
};

/** Attributes of a form that pass its rules: every field filled. */
export function formAttributes(form) {
  const out = {};
  for (const f of form.fields) {
    const first = f.values?.[0]?.value;
    switch (f.type) {
      case 'enum': out[f.name] = first; break;
      case 'enum_list': out[f.name] = [first]; break;
      case 'boolean': out[f.name] = true; break;
      case 'integer': out[f.name] = Math.max(f.min ?? 0, Math.min(f.max ?? 100, 12)); break;
      case 'siret': out[f.name] = luhn('7328293200007'); break;
      case 'insee_commune': out[f.name] = '31555'; break;
      default: out[f.name] = (FIELD_TEXT[f.name] ?? 'Cible').slice(0, f.max_length ?? 200);
    }
  }
  // ERP: a hotel (a type with beds) of a category that fits its capacity.
  if (form.guichet === 'erp') {
    Object.assign(out, { categorie: '2', type_principal: 'O', capacite_d_accueil_du_public: 1000, capacite_d_hebergement: 300 });
  }
  return out;
}

/** The OpenAPI schema of a parameter of a route, or {}. */
function schemaOf(openapi, route, p) {
  const op = openapi.paths?.[route.path]?.[route.method.toLowerCase()];
  if (!op) return {};
  if (p.in === 'body') {
    return op.requestBody?.content?.['application/json']?.schema?.properties?.[p.name] ?? {};
  }
  return op.parameters?.find((q) => q.name === p.name && q.in === p.in)?.schema ?? {};
}

/**
 * The value of parameter p of route for the request without payload: the
 * context's value for this route (a function of the guichet where it
 * depends on it), then for this name, then one of its kind (the first
 * choice of an enumeration).
 */
function sample(ctx, route, p, schema, guichet) {
  const key = `${route.method} ${route.path}`;
  const own = ctx.byRoute[key];
  if (own && p.name in own) return typeof own[p.name] === 'function' ? own[p.name](guichet ?? 'erp') : own[p.name];
  if (p.name in ctx.byName) return ctx.byName[p.name];
  const choices = schema.enum ?? schema.items?.enum;
  switch (p.kind) {
    case 'integer': return schema.minimum > 1 ? schema.minimum : 1;
    case 'boolean': return false;
    case 'enum': return choices?.[0] ?? 'json';
    case 'enums': return [choices?.[0] ?? 'read'];
    case 'email': return 'cible@guichet.test';
    case 'secret': return 'pas-le-mot-de-passe';
    case 'departements': return ['31'];
    case 'communes': return ['31555'];
    case 'ids': return [1];
    case 'json': return {};
    default: return 'texte';
  }
}

/**
 * One request: {name, method, target (path and query, markers in place),
 * headers, body (text or null), points: [{place, name}]} where place is
 * 'URI', 'BODY' or 'HEADER' as sqlmap numbers its custom points (#1, #2…
 * in order, per place).
 */
function request(ctx, route, { guichet, extraBody, headerMark, omit = [], only = null, n = 0 } = {}) {
  const points = [];
  let target = route.path;
  const query = [];
  const body = {};
  for (const p of route.params) {
    if (omit.includes(p.name)) continue;
    // A request for a header, or for some members, marks them only.
    const plain = headerMark || (only && !only.includes(p.name));
    const mark = (s) => (plain ? s : `${s}*`);
    const schema = schemaOf(ctx.openapi, route, p);
    let v = p.name === 'guichet' && guichet ? guichet : sample(ctx, route, p, schema, guichet);
    if (p.in === 'path') {
      target = target.replace(`{${p.name}}`, mark(encodeURIComponent(v)));
      if (!plain) points.push({ place: 'URI', name: `path ${p.name}` });
    } else if (p.in === 'query') {
      query.push(`${encodeURIComponent(p.name)}=${mark(encodeURIComponent(v))}`);
      if (!plain) points.push({ place: 'URI', name: `query ${p.name}` });
    } else {
      if (p.name === 'attributes' && guichet) v = formAttributes(ctx.forms[guichet]);
      if (p.name === 'geometry' && guichet) v = ctx.geometry[guichet];
      // A JSON member: each of its leaves is a point (the forms' fields).
      const whole = ['json', 'enums', 'departements', 'communes', 'ids'].includes(p.kind);
      body[p.name] = plain ? v : whole ? markLeaves(v, p.name) : new Mark(v, p.name);
    }
  }
  // Members the route table does not declare are ignored: none is added,
  // except what the context says the handler reads as a whole (csp-report).
  Object.assign(body, extraBody ?? {});
  if (query.length) target += `?${query.join('&')}`;
  const headers = { Accept: 'application/json' };
  let text = null;
  if (Object.keys(body).length) {
    const names = [];
    text = markedJson(body, names);
    for (const n of names) points.push({ place: 'BODY', name: `body ${n}` });
    headers['Content-Type'] = ctx.bodyTypes[`${route.method} ${route.path}`] ?? 'application/json';
  } else if (route.body_max > 0 && ctx.rawBodies[`${route.method} ${route.path}`]) {
    text = ctx.rawBodies[`${route.method} ${route.path}`];
    headers['Content-Type'] = 'application/octet-stream';
  }
  // The session as a browser sends it; or, for one route each, the
  // session cookie, the CSRF header or a bearer token as the point.
  if (headerMark === 'bearer') headers.Authorization = `Bearer ${ctx.token}*`;
  else headers.Cookie = `${ctx.cookieName}=${ctx.cookie}${headerMark === 'cookie' ? '*' : ''}`;
  if (headerMark === 'idem') headers['Idempotency-Key'] = `${ctx.idempotencyKey}-${n}*`;
  if (!['GET', 'HEAD'].includes(route.method) && headerMark !== 'bearer') {
    headers['X-CSRF-Token'] = `${ctx.csrf}${headerMark === 'csrf' ? '*' : ''}`;
  }
  // sqlmap's name for the header's point, which -p must name: it ignores
  // a parameter that looks like a session or CSRF token below level 4.
  let sqlmapParam = null;
  if (headerMark) {
    const header = { cookie: 'Cookie', csrf: 'X-CSRF-Token', bearer: 'Authorization', idem: 'Idempotency-Key' }[headerMark];
    points.push({ place: 'HEADER', name: header });
    sqlmapParam = `${header} #1*`;
  }
  let name = `${route.method} ${route.path}`;
  if (guichet && route.path.includes('{guichet}')) name += ` [${guichet}]`;
  if (only) name += ` [${only.join(', ')}]`;
  if (headerMark) name += ` [${headerMark}]`;
  const expect = only ? 'its value serves one request only' : ctx.expect?.[name] ?? ctx.expect?.[`${route.method} ${route.path}`] ?? null;
  return { name, method: route.method, target, headers, body: text, points, only: sqlmapParam, expect, route: `${route.method} ${route.path}` };
}

/**
 * Every request of the scan, and the routes left out with the reason.
 * ctx: {openapi, forms {guichet: form}, geometry {guichet: GeoJSON},
 * byRoute {"METHOD path": {param: value}}, byName {param: value},
 * extraBodies, bodyTypes and rawBodies {"METHOD path": …}, cookieName, cookie, csrf,
 * token, skip {"METHOD path": reason}, apart {"METHOD path": [members
 * tested in a request of their own]}, headerRoutes {cookie|csrf|bearer:
 * "METHOD path"}, idempotencyKey, expect {request name or "METHOD path":
 * why its request without payload is refused}}. A route that takes an Idempotency-Key
 * (route.idempotent) gets a request for that header.
 */
export function buildRequests(routes, ctx) {
  const out = [];
  const skipped = [];
  for (const route of routes) {
    const key = `${route.method} ${route.path}`;
    if (ctx.skip[key]) { skipped.push({ route: key, why: ctx.skip[key] }); continue; }
    const perForm = route.params.some((p) => p.name === 'attributes') && route.path.includes('{guichet}');
    const extraBody = ctx.extraBodies[key];
    const rawBody = route.body_max > 0 && ctx.rawBodies[key];
    // Members whose value is spent by the request that carries it (a
    // version) have a request of their own, first: the others stay
    // acceptable.
    const apart = ctx.apart[key] ?? [];
    if (perForm) {
      if (apart.length) out.push(request(ctx, route, { guichet: 'erp', only: apart }));
      for (const g of Object.keys(ctx.forms)) out.push(request(ctx, route, { guichet: g, omit: apart }));
    } else if (route.params.length || extraBody || rawBody) {
      out.push(request(ctx, route, { extraBody: extraBody && markLeaves(extraBody, Object.keys(extraBody)[0]) }));
    }
    const headers = Object.entries(ctx.headerRoutes).filter(([, where]) => where === key).map(([mark]) => mark);
    // The same Idempotency-Key with another body is refused: the routes
    // that take one have a request for it alone.
    if (route.idempotent) headers.push('idem');
    for (const mark of headers) out.push(request(ctx, route, { guichet: perForm ? 'erp' : undefined, headerMark: mark, n: out.length }));
    if (!route.params.length && !extraBody && !rawBody && !headers.length) skipped.push({ route: key, why: 'no parameter' });
  }
  return { requests: out, skipped };
}

/** The raw HTTP request sqlmap reads with -r. */
export function rawRequest(req, host) {
  const lines = [`${req.method} ${req.target} HTTP/1.1`, `Host: ${host}`];
  for (const [k, v] of Object.entries(req.headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n${req.body ?? ''}`;
}
