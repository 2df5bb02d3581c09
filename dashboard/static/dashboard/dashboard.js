// Model Zoo dashboard: refresh the live panels without reloading the page, and warn
// before a selection that would not fit. Everything here is an enhancement: the page
// is complete without it.
"use strict";

(function () {
  const seconds = Number(document.body.dataset.refreshSeconds || 5);

  // Panels marked data-refresh are replaced by the same panels of a fresh copy of the
  // page; a panel the user is working in (focus inside) is left alone this time.
  async function refresh() {
    try {
      const response = await fetch(window.location.href, {
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
      });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      document.querySelectorAll("[data-refresh][id]").forEach((panel) => {
        if (panel.contains(document.activeElement)) return;
        const replacement = fresh.getElementById(panel.id);
        if (replacement && replacement.innerHTML !== panel.innerHTML) {
          panel.innerHTML = replacement.innerHTML;
        }
      });
      document.querySelectorAll("form.task").forEach((form) => {
        const task = form.querySelector("input[name=task_type]").value;
        const now = fresh.querySelector(`#select-${CSS.escape(task)}`)?.closest("form");
        const shown = form.querySelector("[data-selected]");
        const fromServer = now?.querySelector("[data-selected]");
        if (shown && fromServer) shown.textContent = fromServer.textContent;
      });
    } catch (error) {
      // The server is restarting or the network blinked: try again next time.
    }
  }
  window.setInterval(refresh, seconds * 1000);

  // Validate before select: an option that would not fit says why before submitting,
  // and submitting it then counts as "select anyway".
  document.querySelectorAll("form.task").forEach((form) => {
    const select = form.querySelector("select");
    const warning = form.querySelector(".warning");
    const button = form.querySelector("button[type=submit]");
    function show() {
      const reason = select.selectedOptions[0]?.dataset.warning || "";
      warning.hidden = !reason;
      warning.textContent = reason ? `Would not fit: ${reason}.` : "";
      if (button) button.textContent = reason ? "Select anyway" : "Select";
    }
    select.addEventListener("change", show);
    form.addEventListener("submit", () => {
      if (select.selectedOptions[0]?.dataset.warning) {
        const confirm = document.createElement("input");
        confirm.type = "hidden";
        confirm.name = "confirm";
        confirm.value = "1";
        form.appendChild(confirm);
      }
    });
  });
})();
