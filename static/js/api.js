// api.js — the one way pages talk to the server: JSON in and out (and files
// out, for imports), the CSRF header on every state-changing request, and
// errors as Error objects that carry the server's {status, code, message,
// field}.

let csrf = null;

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `Erreur ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? 'http_error';
    this.field = body?.error?.field ?? null;
    this.body = body;
  }
}

// opts.headers adds request headers (If-Match for a versioned change).
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json', ...(opts.headers ?? {}) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (csrf && method !== 'GET') headers['X-CSRF-Token'] = csrf;
  const rep = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (rep.status === 204) return null;
  const data = await rep.json().catch(() => null);
  if (!rep.ok) throw new ApiError(rep.status, data);
  return data;
}

// Sends a file as the raw body of a POST (an import), with the CSRF header,
// calling onProgress(sent, total) as the bytes leave: fetch cannot tell
// that, XMLHttpRequest can. Resolves with the JSON answer; rejects with an
// ApiError, of status 0 (code network_error) when no answer came.
export function sendFile(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', path);
    x.setRequestHeader('Accept', 'application/json');
    x.setRequestHeader('Content-Type', 'application/octet-stream');
    if (csrf) x.setRequestHeader('X-CSRF-Token', csrf);
    x.upload.addEventListener('progress', (e) => onProgress?.(e.loaded, e.lengthComputable ? e.total : file.size));
    x.addEventListener('load', () => {
      let data = null;
      try {
        data = JSON.parse(x.responseText);
      } catch {
        data = null;
      }
      if (x.status >= 200 && x.status < 300) resolve(data);
      else reject(new ApiError(x.status, data));
    });
    const lost = () => reject(new ApiError(0, { error: { code: 'network_error',
      message: 'Le serveur n’a pas répondu : le fichier n’a pas pu être envoyé. Vérifiez la connexion et réessayez.' } }));
    x.addEventListener('error', lost);
    x.addEventListener('abort', lost);
    x.addEventListener('timeout', lost);
    x.send(file);
  });
}

// The signed-in identity, or null. Keeps its CSRF token for later calls.
export async function currentSession() {
  try {
    const s = await api('GET', '/api/v1/session');
    csrf = s.csrf_token ?? null;
    return s;
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

export function rememberCsrf(token) {
  csrf = token;
}

export async function logout() {
  await api('DELETE', '/api/v1/session');
  csrf = null;
}
