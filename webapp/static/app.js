// Brygga's only script besides htmx. Kept out of the HTML so a strict CSP can forbid inline code.
document.addEventListener("modal:close", () => {
  document.querySelectorAll("#modal dialog").forEach((d) => d.close());
  const modal = document.getElementById("modal");
  if (modal) modal.innerHTML = "";
});

// A dialog fragment that htmx brings in opens as a real modal (focus trap, Esc to close),
// also when a form inside it is re-rendered with its errors.
document.addEventListener("htmx:load", (event) => {
  const el = event.detail.elt;
  const dialogs = el.matches("dialog[data-modal]") ? [el] : el.querySelectorAll("dialog[data-modal]");
  dialogs.forEach((dialog) => {
    if (!dialog.open) dialog.showModal();
    dialog.addEventListener("close", () => dialog.remove(), { once: true });
  });
});

document.addEventListener("click", (event) => {
  const closer = event.target.closest("[data-close-dialog]");
  if (!closer) return;
  const dialog = closer.closest("dialog");
  if (dialog) {
    event.preventDefault();
    dialog.close();
  }
});

// Confirm before destructive actions, without inline onclick handlers.
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
}, true);

// A polling fragment ([data-poll], hx-trigger "load delay:1s, poll") asks nothing while its tab
// is hidden, and asks at once when the tab is shown again.
document.addEventListener("htmx:beforeRequest", (event) => {
  const el = event.detail.elt;
  if (!document.hidden || !el.matches("[data-poll]")) return;
  event.preventDefault();
  document.addEventListener("visibilitychange", () => htmx.trigger(el, "poll"), { once: true });
});

// Only an answer that replaces the fragment arms its next poll: after a failed one (a restart, a
// dropped connection) it asks again a little later, as `every 1s` polling would have.
document.addEventListener("htmx:afterRequest", (event) => {
  const el = event.detail.elt;
  if (event.detail.successful || !el.matches("[data-poll]")) return;
  setTimeout(() => { if (el.isConnected) htmx.trigger(el, "poll"); }, 2000);
});

// An error an htmx request met is shown in #htmx-error (webapp/main/errors.py); the next
// request starts without it.
document.addEventListener("htmx:beforeRequest", () => {
  const region = document.getElementById("htmx-error");
  if (region) region.innerHTML = "";
});
