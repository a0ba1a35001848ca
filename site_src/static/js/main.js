// Entry point of every page: loads the page's module (the lab, the imaging suite, a course).
const MODULES = { lab: "./lab.js", imaging: "./imaging.js", course: "./course.js" };

const page = document.body.dataset.page;
if (document.getElementById("drawer-toggle")) import("./drawer.js").then((m) => m.wireDrawer());
if (MODULES[page]) {
  import(MODULES[page])
    .then((m) => m.start())
    .catch((e) => {
      const s = document.getElementById("status");
      if (s) {
        s.textContent = `This page could not start: ${e.message}`;
        s.classList.add("error");
      }
    });
}
