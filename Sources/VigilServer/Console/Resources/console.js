// Vigil console: the few things a page cannot do without script. Everything works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Ask before actions that refund or cancel.
  for (const button of document.querySelectorAll("button[data-confirm]")) {
    button.addEventListener("click", (event) => {
      if (!window.confirm(button.dataset.confirm)) event.preventDefault();
    });
  }
  // Live countdowns: <time data-deadline="ISO"> shows the time left, updated each minute.
  const clocks = document.querySelectorAll("[data-deadline]");
  const tick = () => {
    for (const el of clocks) {
      const left = (Date.parse(el.dataset.deadline) - Date.now()) / 1000;
      if (Number.isNaN(left)) continue;
      if (left <= 0) { el.textContent = "deadline passed"; continue; }
      const d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600), m = Math.floor(left % 3600 / 60);
      el.textContent = (d ? d + " d " + h + " h" : h ? h + " h " + m + " min" : Math.max(m, 1) + " min") + " left";
    }
  };
  if (clocks.length) { tick(); setInterval(tick, 60000); }
});
