// The notebook panel shared by the lab and the imaging suite.
import { exportNotebook, favourites, importNotebook, notebook, removeEntry, updateEntry } from "./store.js";

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

export function renderNotebook(root, kind, status) {
  const ul = document.getElementById("notebook");
  const empty = document.getElementById("nb-empty");
  const entries = notebook().filter((e) => e.kind === kind);
  ul.replaceChildren();
  empty.hidden = entries.length > 0;
  for (const e of entries) {
    const note = el("textarea", { value: e.note || "", placeholder: "Notes: what do you see?" });
    note.setAttribute("aria-label", `Notes for ${e.label}`);
    note.addEventListener("change", () => updateEntry(e.id, { note: note.value }));
    const open = el("a", { href: `${root}${kind === "lab" ? "lab" : "imaging"}.html?${e.query}`, className: "button small", textContent: "Open" });
    const del = el("button", { type: "button", className: "small ghost", textContent: "Delete" });
    del.setAttribute("aria-label", `Delete ${e.label}`);
    del.addEventListener("click", () => {
      removeEntry(e.id);
      renderNotebook(root, kind, status);
    });
    ul.append(el("li", { className: "entry" }, el("p", { className: "small" }, el("strong", { textContent: e.label })),
      note, el("div", { className: "row" }, open, del)));
  }
  const favUl = document.getElementById("favourites");
  if (favUl) {
    favUl.replaceChildren();
    for (const f of favourites().filter((x) => x.kind === kind)) {
      favUl.append(el("li", {}, el("a", { href: `${root}lab.html?${f.query}`, textContent: f.label })));
    }
  }
}

export function wireNotebook(root, kind, status) {
  document.getElementById("export").addEventListener("click", () => {
    const blob = new Blob([exportNotebook()], { type: "application/json" });
    const a = el("a", { href: URL.createObjectURL(blob), download: "micro-notebook.json" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    status("Notebook exported as micro-notebook.json.");
  });
  const input = document.getElementById("import");
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    try {
      const { added, skipped } = importNotebook(await file.text());
      status(`Imported ${added} entr${added === 1 ? "y" : "ies"}${skipped ? `, skipped ${skipped} (duplicates or invalid)` : ""}.`);
      renderNotebook(root, kind, status);
    } catch (e) {
      status(`Import failed: ${e.message}.`, true);
    }
    input.value = "";
  });
  renderNotebook(root, kind, status);
}
