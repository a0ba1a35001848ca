// Course pages: multiple-choice questions checked in the browser (the page carries a salted
// hash of the answer, not the answer; the score of each course is kept in localStorage), and
// live views whose focus can be stepped through the pre-rendered focus stack (or the API).
import { canonicalizeMicroscope, fmtPlain } from "./canon.js";
import { loadSite, locate, paramsFromPath } from "./data.js";
import { sha256Hex } from "./sha256.js";

const SCORE_PREFIX = "micro.quiz.";

function courseKey() {
  return SCORE_PREFIX + location.pathname.replace(/^.*\//, "").replace(/\.html$/, "");
}

function readScore() {
  try {
    const v = JSON.parse(localStorage.getItem(courseKey()) || "{}");
    return v && typeof v === "object" && !Array.isArray(v) ? v : {};
  } catch (e) {
    return {};
  }
}

function writeScore(score) {
  try {
    localStorage.setItem(courseKey(), JSON.stringify(score));
  } catch (e) {
    /* private mode or full: the score lasts for this visit only */
  }
}

function showScore(total) {
  const el = document.getElementById("quiz-score");
  if (!el) return;
  const s = Object.values(readScore());
  const first = s.filter((q) => q.first).length;
  const right = s.filter((q) => q.correct).length;
  el.textContent = s.length
    ? `${first} of ${total} right at the first try; ${right} of ${total} answered right so far (kept in this browser).`
    : `${total} questions on this page; your answers are kept in this browser only.`;
}

/** The index of the right option: the one whose salted hash the page carries. */
function rightOption(form) {
  const { salt, check } = form.dataset;
  const radios = [...form.querySelectorAll("input[type=radio]")];
  return radios.map((r) => r.value).find((v) => sha256Hex(`${salt}:${v}`) === check) ?? null;
}

function unseal(form, answer) {
  const sealed = atob(form.querySelector(".quiz-explain").dataset.sealed || "");
  const key = `${form.dataset.salt}:${answer}:explanation`;
  const bytes = new Uint8Array(sealed.length);
  let stream = [];
  for (let i = 0; i < sealed.length; i++) {
    if (i % 32 === 0) {
      const hex = sha256Hex(`${key}:${i / 32}`);
      stream = hex.match(/../g).map((h) => parseInt(h, 16));
    }
    bytes[i] = sealed.charCodeAt(i) ^ stream[i % 32];
  }
  return new TextDecoder().decode(bytes);
}

function reveal(form, answer) {
  const explain = form.querySelector(".quiz-explain");
  if (explain.hidden) {
    explain.innerHTML = unseal(form, answer);  // the build's own HTML, sealed by it
    explain.hidden = false;
  }
}

function wireQuiz(form, total) {
  const result = form.querySelector(".quiz-result");
  const answer = rightOption(form);
  const done = readScore()[form.id];
  if (done?.correct && answer !== null) {
    form.querySelector(`input[value="${answer}"]`).checked = true;
    result.textContent = "Correct (answered earlier).";
    result.className = "quiz-result ok";
    reveal(form, answer);
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const chosen = form.querySelector("input[type=radio]:checked");
    if (!chosen) {
      result.textContent = "Choose an answer first.";
      result.className = "quiz-result bad";
      return;
    }
    const right = chosen.value === answer;
    result.textContent = right ? "Correct." : "Not quite — try again, or read why:";
    result.className = `quiz-result ${right ? "ok" : "bad"}`;
    if (answer !== null) reveal(form, answer);
    const score = readScore();
    const q = score[form.id] || { first: right, correct: false };
    q.correct = q.correct || right;
    score[form.id] = q;
    writeScore(score);
    showScore(total);
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
  const quizzes = document.querySelectorAll("form.quiz");
  for (const form of quizzes) wireQuiz(form, quizzes.length);
  showScore(quizzes.length);
  document.getElementById("quiz-reset")?.addEventListener("click", () => {
    writeScore({});
    for (const form of quizzes) {
      form.reset();
      form.querySelector(".quiz-result").textContent = "";
      form.querySelector(".quiz-explain").hidden = true;
    }
    showScore(quizzes.length);
  });
  const views = document.querySelectorAll('figure.live-view[data-kind="microscope"]');
  if (!views.length) return;
  const data = await loadSite(document.body.dataset.root);
  for (const fig of views) wireView(fig, data);
}
