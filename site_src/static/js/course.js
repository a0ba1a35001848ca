// Course pages: multiple-choice questions checked in the browser, and live views whose focus
// can be stepped through the pre-rendered focus stack (or the render API).
import { canonicalizeMicroscope, fmtPlain } from "./canon.js";
import { loadSite, locate, paramsFromPath } from "./data.js";

function wireQuiz(form) {
  const result = form.querySelector(".quiz-result");
  const explain = form.querySelector(".quiz-explain");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const chosen = form.querySelector("input[type=radio]:checked");
    if (!chosen) {
      result.textContent = "Choose an answer first.";
      result.className = "quiz-result bad";
      return;
    }
    const right = chosen.value === form.dataset.answer;
    result.textContent = right ? "Correct." : "Not quite — try again, or read why:";
    result.className = `quiz-result ${right ? "ok" : "bad"}`;
    explain.hidden = false;
  });
}

function wireView(fig, data) {
  const img = fig.querySelector("img");
  const out = fig.querySelector(".focus-out");
  const box = fig.querySelector(".focus-step");
  if (!box) return;
  const base = paramsFromPath(data, fig.dataset.path);
  if (!base) return;
  let current;
  try {
    current = canonicalizeMicroscope(base, data.ctx).params;
  } catch (e) {
    return;
  }
  const t = data.site.focus_steps[current.instrument]?.[fmtPlain(current.objective)];
  const step = (t && (t[current.view] || Object.values(t)[0])) || 1;
  const z0 = current.focus_um;
  let k = 0;
  const pathAt = (i) => {
    try {
      return canonicalizeMicroscope({ ...base, focus_um: z0 + i * step }, data.ctx).path;
    } catch (e) {
      return null;
    }
  };
  const update = () => {
    out.textContent = `focus ${fmtPlain(z0 + k * step)} µm`;
    for (const b of box.querySelectorAll("button")) {
      const p = pathAt(k + Number(b.dataset.focus));
      b.disabled = !p || !locate(data, p);
    }
  };
  box.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-focus]");
    if (!b || b.disabled) return;
    const p = pathAt(k + Number(b.dataset.focus));
    const where = p && locate(data, p);
    if (!where) return;
    k += Number(b.dataset.focus);
    img.src = where.url;
    img.alt = `${img.alt.replace(/ \(focus [^)]*\)$/, "")} (focus ${fmtPlain(z0 + k * step)} µm)`;
    update();
  });
  box.hidden = false;
  update();
}

export async function start() {
  for (const form of document.querySelectorAll("form.quiz")) wireQuiz(form);
  const views = document.querySelectorAll('figure.live-view[data-kind="microscope"]');
  if (!views.length) return;
  const data = await loadSite(document.body.dataset.root);
  for (const fig of views) wireView(fig, data);
}
