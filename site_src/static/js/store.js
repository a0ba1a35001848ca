// Browser storage: last view, favourites and the lab notebook (export and import as JSON).

const NOTEBOOK = "micro.notebook";
const FAVOURITES = "micro.favourites";

function read(key, fallback) {
  try {
    const text = localStorage.getItem(key);
    return text ? JSON.parse(text) : fallback;
  } catch (e) {
    return fallback;
  }
}

function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch (e) {
    return false;
  }
}

export const lastView = {
  get: (kind) => read(`micro.${kind}.last`, null),
  set: (kind, query) => write(`micro.${kind}.last`, query),
};

export function notebook() {
  const list = read(NOTEBOOK, []);
  return Array.isArray(list) ? list : [];
}

export function addEntry(entry) {
  const list = notebook();
  const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const full = { id, created: new Date().toISOString(), note: "", ...entry };
  list.unshift(full);
  write(NOTEBOOK, list);
  return full;
}

export function updateEntry(id, changes) {
  write(NOTEBOOK, notebook().map((e) => (e.id === id ? { ...e, ...changes } : e)));
}

export function removeEntry(id) {
  write(NOTEBOOK, notebook().filter((e) => e.id !== id));
}

export function exportNotebook() {
  return JSON.stringify({ format: "micro-notebook", version: 1, exported: new Date().toISOString(), entries: notebook() }, null, 2);
}

function validEntry(e) {
  return e && typeof e === "object" && typeof e.id === "string" && typeof e.query === "string"
    && (e.kind === "lab" || e.kind === "imaging") && typeof (e.label ?? "") === "string" && typeof (e.note ?? "") === "string";
}

/** Merge a notebook file; returns {added, skipped} or throws with a one-line reason. */
export function importNotebook(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error("not a JSON file");
  }
  if (!doc || doc.format !== "micro-notebook" || !Array.isArray(doc.entries)) {
    throw new Error("not a MICRO notebook (expected {\"format\": \"micro-notebook\", \"entries\": [...]})");
  }
  const list = notebook();
  const ids = new Set(list.map((e) => e.id));
  let added = 0;
  let skipped = 0;
  for (const e of doc.entries) {
    if (!validEntry(e) || ids.has(e.id)) {
      skipped++;
      continue;
    }
    list.push({ id: e.id, created: String(e.created || ""), kind: e.kind, query: e.query, path: String(e.path || ""), label: String(e.label || ""), note: String(e.note || "") });
    ids.add(e.id);
    added++;
  }
  write(NOTEBOOK, list);
  return { added, skipped };
}

export function favourites() {
  const list = read(FAVOURITES, []);
  return Array.isArray(list) ? list : [];
}

export function toggleFavourite(fav) {
  const list = favourites();
  const i = list.findIndex((f) => f.query === fav.query);
  if (i >= 0) list.splice(i, 1);
  else list.unshift(fav);
  write(FAVOURITES, list);
  return i < 0;
}

export function isFavourite(query) {
  return favourites().some((f) => f.query === query);
}
