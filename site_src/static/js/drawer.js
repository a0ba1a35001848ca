// Phones: the controls open in a drawer over the lower part of the screen while the image
// stays in view (sticky, site.css), and hints name touch gestures instead of keys.

const NARROW = "(max-width: 40rem)";

/** True on a device whose main pointer is a finger. */
export function touchFirst() {
  return window.matchMedia("(pointer: coarse)").matches;
}

export function wireDrawer() {
  const toggle = document.getElementById("drawer-toggle");
  const drawer = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
  if (drawer) {
    const set = (open) => {
      drawer.classList.toggle("open", open);
      document.body.classList.toggle("drawer-open", open);
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = open ? "Close controls" : "Controls";
    };
    toggle.addEventListener("click", () => set(!drawer.classList.contains("open")));
    drawer.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && drawer.classList.contains("open") && window.matchMedia(NARROW).matches) {
        set(false);
        toggle.focus();
      }
    });
  }
  if (touchFirst()) {
    for (const el of document.querySelectorAll("[data-touch-hint]")) el.textContent = el.dataset.touchHint;
  }
}
