// Reading what the scans leave: sqlmap's console log, wapiti's JSON report
// and the server's access log.

const PLACE_ORDER = ['BODY', 'HEADER', 'URI'];	// the order sqlmap tests custom points in

/**
 * What one sqlmap run says about its points: {tested: [names],
 * injectable: [names], rejected (candidates its false-positive check
 * refuted), ignored: [names], fatal: [messages]}. sqlmap names
 * a custom point by its place and number ("(custom) POST parameter 'JSON
 * #3*'", "URI parameter 'JSON #1*'", "(custom) HEADER parameter 'Cookie
 * #1*'"), the place being the method's name for methods other than GET
 * and POST; it tests the body's points, then the headers', then the URI's.
 * Our name is the n-th point of that place in points.
 */
export function sqlmapOutcome(text, points) {
  const tested = new Set();
  const injectable = new Set();
  const ignored = new Set();
  const fatal = [];
  const taken = Object.fromEntries(PLACE_ORDER.map((p) => [p, new Set()]));
  const count = (place) => points.filter((p) => p.place === place).length;
  const nameOf = (type, param) => {
    const m = /#(\d+)\*$/.exec(param);
    if (!m) return `${type} ${param}`.trim();
    const n = Number(m[1]);
    let place = /\(custom\) POST/.test(type) ? 'BODY' : /HEADER/.test(type) ? 'HEADER' : /URI/.test(type) ? 'URI' : null;
    place ??= PLACE_ORDER.find((p) => n <= count(p) && !taken[p].has(n)) ?? 'URI';
    taken[place].add(n);
    return points.filter((p) => p.place === place)[n - 1]?.name ?? `${type} ${param}`;
  };
  let current = null;
  let rejected = 0;	// "appears to be injectable", then refuted by sqlmap's false-positive check
  for (const [, level, msg] of text.matchAll(/^\[[0-9:]+\] \[(\w+)\] (.*)$/gm)) {
    let m;
    if ((m = /^testing for SQL injection on (.*?)parameter '(.+)'$/.exec(msg))) {
      current = nameOf(m[1].trim(), m[2]);
    } else if (/parameter '.+' does not seem to be injectable/.test(msg) && current) {
      // Also what sqlmap says after its false-positive check rejected an
      // "appears to be injectable".
      tested.add(current);
      injectable.delete(current);
    } else if (/parameter '.+' (?:is|appears to be) '.*' injectable|parameter '.+' is vulnerable/.test(msg) && current) {
      tested.add(current);
      injectable.add(current);
    } else if (/^false positive or unexploitable injection point detected/.test(msg)) {
      rejected++;
    } else if ((m = /^(?:ignoring|skipping) (.*?)parameter '(.+)'$/.exec(msg))) {
      ignored.add(`${m[1]}${m[2]}`);
    } else if (level === 'CRITICAL' && !/^all tested parameters do not appear to be injectable/.test(msg)) {
      fatal.push(msg);
    }
  }
  // sqlmap's own conclusion, whatever the reading above made of the lines.
  if (/sqlmap identified the following injection point/.test(text) && injectable.size === 0) {
    injectable.add('(see the log)');
  }
  return { tested: [...tested], injectable: [...injectable], rejected, ignored: [...ignored], fatal };
}

const SEVERITY = ['info', 'low', 'medium', 'high', 'critical'];

/**
 * Wapiti's findings (vulnerabilities, anomalies, additional information)
 * by severity: {bySeverity: {critical, high, medium, low, info}, list:
 * [{severity, kind, category, method, path, parameter, info}]} — the list
 * holds every finding of low severity and above, and the others once per
 * category.
 */
export function wapitiFindings(report) {
  const bySeverity = Object.fromEntries(SEVERITY.map((s) => [s, 0]));
  const list = [];
  const seen = new Set();
  for (const kind of ['vulnerabilities', 'anomalies', 'additionals']) {
    for (const [category, items] of Object.entries(report[kind] ?? {})) {
      for (const it of items) {
        const severity = SEVERITY[Number(it.level)] ?? 'info';
        bySeverity[severity]++;
        const key = `${kind} ${category} ${severity}`;
        if (SEVERITY.indexOf(severity) >= 1 || !seen.has(key)) {
          seen.add(key);
          list.push({ severity, kind, category, method: it.method, path: it.path, parameter: it.parameter || null, info: it.info });
        }
      }
    }
  }
  return { bySeverity, list };
}

/**
 * The server's access log (its stderr), from its skip-th request on:
 * {requests, first (the status of the first request for `first`, "METHOD
 * /path"), byClass {'2xx': n…}, errors: ['METHOD path status' for each 5xx,
 * distinct]}.
 */
export function accessStats(text, skip = 0, firstOf = null) {
  const byClass = {};
  const errors = new Set();
  let requests = 0;
  let seen = 0;
  let first = null;
  for (const [, method, target, status] of text.matchAll(/ access \S+ (\S+) "([^"]*)" (\d{3}|-)/g)) {
    if (seen++ < skip) continue;
    requests++;
    if (firstOf === `${method} ${target.split('?')[0]}`) first ??= status;
    const k = status === '-' ? 'refused' : `${status[0]}xx`;
    byClass[k] = (byClass[k] ?? 0) + 1;
    if (status[0] === '5') errors.add(`${method} ${target.split('?')[0]} ${status}`);
  }
  return { requests, first, byClass, errors: [...errors] };
}
