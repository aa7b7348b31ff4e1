// Brygga's only script besides htmx. Kept out of the HTML so a strict CSP can forbid inline code.
document.addEventListener("modal:close", () => {
  document.querySelectorAll("#modal dialog").forEach((d) => d.close());
  const modal = document.getElementById("modal");
  if (modal) modal.innerHTML = "";
});

// A dialog fragment swapped into #modal opens as a real modal (focus trap, Esc to close).
document.addEventListener("htmx:afterSwap", (event) => {
  const dialog = event.detail.target.querySelector && event.detail.target.querySelector("dialog[data-modal]");
  if (dialog && !dialog.open) dialog.showModal();
});

document.addEventListener("click", (event) => {
  const closer = event.target.closest("[data-close-dialog]");
  if (!closer) return;
  const dialog = closer.closest("dialog");
  if (dialog) {
    event.preventDefault();
    dialog.close();
    dialog.remove();
  }
});

// Confirm before destructive actions, without inline onclick handlers.
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
}, true);
