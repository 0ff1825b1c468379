// territoire.js — the territory codes the open-data widget takes, checked
// by the server's rule (app/territory.c): a département is two characters,
// 01 to 95 (20 excepted) or 2A/2B, or three, 971 to 976; a commune is five,
// its département's code then digits (2A004, 31555, 97411).

export function departementOk(code) {
  if (/^(0[1-9]|1\d|2[1-9]|[3-8]\d|9[0-5])$/.test(code)) return true;
  return code === '2A' || code === '2B' || /^97[1-6]$/.test(code);
}

export function communeOk(code) {
  if (code.length !== 5) return false;
  const n = code.startsWith('97') ? 3 : 2;
  return departementOk(code.slice(0, n)) && /^\d+$/.test(code.slice(n));
}

// 'departement', 'commune', or null when the code is neither.
export function territoryKind(code) {
  if (departementOk(code)) return 'departement';
  if (communeOk(code)) return 'commune';
  return null;
}

// The collections of /ogc, their guichet (the form) and their French name,
// whole and short (a narrow map's title).
export const THEMES = [
  { id: 'erp', guichet: 'erp', label: 'Établissements recevant du public (ERP)', short: 'ERP' },
  { id: 'equipco', guichet: 'equipco', label: 'Équipements collectifs', short: 'Équipements collectifs' },
  { id: 'adresses', guichet: 'adresse', label: 'Adresses', short: 'Adresses' },
];
