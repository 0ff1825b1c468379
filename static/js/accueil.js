// Home page: shows whether the server reaches its database (GET /healthz).
const etat = document.getElementById('etat');

async function verifier() {
  try {
    const rep = await fetch('/healthz', { headers: { Accept: 'application/json' } });
    const corps = await rep.json();
    if (rep.ok) {
      etat.textContent = `En service — PostGIS ${corps.postgis}`;
      etat.className = 'ok';
    } else {
      etat.textContent = `Indisponible : ${corps.reason ?? 'raison inconnue'}`;
      etat.className = 'ko';
    }
  } catch {
    etat.textContent = 'Serveur injoignable.';
    etat.className = 'ko';
  }
}

verifier();
