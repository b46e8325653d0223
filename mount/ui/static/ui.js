// The dashboard's only script: no framework, no build step, loaded with `defer`.
// It adds comfort to pages that work without it: live countdowns, copy buttons,
// the credential dialog as a modal, a filter for the users picker, confirmations.
"use strict";

function announce(text) {
  const region = document.getElementById("announcer");
  if (region) {
    region.textContent = "";
    // A new text node each time, so that screen readers announce a repeated message.
    window.setTimeout(() => { region.textContent = text; }, 50);
  }
}

function formatRemaining(seconds) {
  if (seconds <= 0) return "expired";
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  if (h > 0) return `${h}h ${m}m ${s}s left`;
  if (m > 0) return `${m}m ${s}s left`;
  return `${s}s left`;
}

// Thresholds (seconds left) at which a lease's nearing expiry is announced once.
const ANNOUNCE_AT = [300, 60, 0];

function startCountdowns() {
  const cells = Array.from(document.querySelectorAll("time.countdown[data-expires]"));
  if (cells.length === 0) return;
  const announced = new Map();
  function tick() {
    const now = Date.now() / 1000;
    for (const cell of cells) {
      const left = Math.round(Number(cell.dataset.expires) - now);
      const out = document.querySelector(`[data-remaining-for="${CSS.escape(cell.dataset.lease)}"]`);
      if (out) out.textContent = `(${formatRemaining(left)})`;
      const done = announced.get(cell.dataset.lease) ?? Infinity;
      for (const mark of ANNOUNCE_AT) {
        if (left <= mark && mark < done) {
          announced.set(cell.dataset.lease, mark);
          if (done !== Infinity || mark === 0) {
            announce(mark === 0 ? `Lease ${cell.dataset.lease} expired.`
              : `Lease ${cell.dataset.lease} expires in ${formatRemaining(left)}.`);
          }
          break;
        }
      }
    }
  }
  tick();
  window.setInterval(tick, 1000);
}

function copyText(input) {
  const value = input.value;
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(value);
  }
  input.select();
  return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy"));
}

function startCopyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", () => {
      const input = document.getElementById(button.dataset.copy);
      const status = document.getElementById("copy-status");
      const label = input && input.labels && input.labels[0] ? input.labels[0].textContent : "Value";
      copyText(input).then(
        () => { if (status) status.textContent = `${label} copied.`; },
        () => { if (status) status.textContent = `${label} could not be copied: select it and copy by hand.`; }
      );
    });
  }
}

function startDialog() {
  const dialog = document.querySelector("dialog[data-show-modal]");
  if (!dialog || typeof dialog.showModal !== "function") return;
  // Rendered open (so it shows without script); reopened as a modal: focus moves into
  // it, the page behind is inert, and Escape closes it.
  // (Removing the attribute, unlike close(), fires no close event.)
  dialog.removeAttribute("open");
  dialog.showModal();
  dialog.addEventListener("close", () => {
    // The credential leaves the page once the dialog is closed.
    dialog.remove();
    const heading = document.getElementById("leases-heading");
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
  });
}

function startFilters() {
  for (const input of document.querySelectorAll("input[data-filter-target]")) {
    const list = document.getElementById(input.dataset.filterTarget);
    if (!list) continue;
    input.addEventListener("input", () => {
      const wanted = input.value.trim().toLowerCase();
      let shown = 0;
      for (const item of list.querySelectorAll("li[data-filter-text]")) {
        const match = item.dataset.filterText.toLowerCase().includes(wanted);
        item.hidden = !match;
        if (match) shown += 1;
      }
      announce(`${shown} users shown.`);
    });
  }
}

function startConfirmations() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

function startCustomTtl() {
  const custom = document.getElementById("custom_ttl");
  const radio = document.getElementById("ttl-custom");
  if (custom && radio) custom.addEventListener("input", () => { radio.checked = true; });
}

function localTimes() {
  // The server writes ISO times in its own zone; the reader gets them in theirs.
  for (const cell of document.querySelectorAll("time[datetime]")) {
    const when = new Date(cell.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime())) cell.textContent = when.toLocaleString();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  startCountdowns();
  startCopyButtons();
  startDialog();
  startFilters();
  startConfirmations();
  startCustomTtl();
});
