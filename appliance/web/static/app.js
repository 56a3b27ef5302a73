// The admin page's behaviour: sortable tables, live refresh, confirmations. No inline code.
"use strict";

document.documentElement.classList.add("js");

function setupMenu() {
  const button = document.getElementById("menu-toggle");
  if (!button) return;
  const top = button.closest(".top");
  button.addEventListener("click", () => {
    const open = top.classList.toggle("open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });
}

function cellValue(row, index) {
  const cell = row.cells[index];
  if (!cell) return "";
  const marked = cell.querySelector("[data-sort]");
  return (marked ? marked.getAttribute("data-sort") : cell.textContent).trim();
}

function sortTable(table, index, descending) {
  const header = table.tHead.rows[0].cells[index];
  const numeric = header.getAttribute("data-type") === "number";
  const body = table.tBodies[0];
  const rows = Array.from(body.rows).filter((r) => r.cells.length > 1);
  rows.sort((a, b) => {
    const x = cellValue(a, index), y = cellValue(b, index);
    const result = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0)
      : x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
    return descending ? -result : result;
  });
  rows.forEach((r) => body.appendChild(r));
  Array.from(table.tHead.rows[0].cells).forEach((th) => th.removeAttribute("aria-sort"));
  header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  table.dataset.sortIndex = String(index);
  table.dataset.sortDesc = descending ? "1" : "";
}

function resort(table) {
  if (table.dataset.sortIndex !== undefined) {
    sortTable(table, Number(table.dataset.sortIndex), Boolean(table.dataset.sortDesc));
  }
}

function setupSorting() {
  document.querySelectorAll("table.sortable").forEach((table) => {
    if (!table.tHead) return;
    Array.from(table.tHead.rows[0].cells).forEach((th, index) => {
      th.tabIndex = 0;
      const go = () => sortTable(table, index, th.getAttribute("aria-sort") === "ascending");
      th.addEventListener("click", go);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
    });
  });
}

function setupLive() {
  document.querySelectorAll("[data-live]").forEach((box) => {
    const url = box.getAttribute("data-live");
    const seconds = Number(box.getAttribute("data-interval") || "5");
    const refresh = async () => {
      if (document.hidden) return;
      try {
        const response = await fetch(url, { headers: { "X-Live": "1" }, credentials: "same-origin" });
        if (response.status === 401) { window.location.reload(); return; }
        if (!response.ok) throw new Error(String(response.status));
        box.innerHTML = await response.text();
        box.classList.remove("stale");
        const table = box.closest("table");
        if (table) resort(table);
      } catch (err) {
        box.classList.add("stale");
      }
    };
    window.setInterval(refresh, seconds * 1000);
  });
}

function setupConfirm() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupMenu();
  setupSorting();
  setupLive();
  setupConfirm();
});
