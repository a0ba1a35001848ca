// Small DOM helpers shared by the lab and the imaging suite.

export function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

export function fillSelect(sel, items, value) {
  sel.replaceChildren(...items.map(([v, t]) => option(v, t)));
  sel.value = value;
}

export function notice(text) {
  document.getElementById("notice").hidden = !text;
  document.getElementById("notice-text").textContent = text || "";
}
