// The trace list's "Live" switch: while on (remembered in this browser), the results and the
// header's counts are fetched again every two seconds and swapped in; the filters stay as typed.
(function () {
  const results = document.getElementById("results");
  const live = document.getElementById("live");
  if (!results || !live) return;
  const key = "langfuse-async.live";
  let busy = false;

  async function refresh() {
    if (!live.checked || busy || document.hidden) return;
    busy = true;
    try {
      const response = await fetch(window.location.href, { cache: "no-store" });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      const freshResults = fresh.getElementById("results");
      const freshStats = fresh.querySelector("header .stats");
      if (freshResults) results.innerHTML = freshResults.innerHTML;
      const stats = document.querySelector("header .stats");
      if (freshStats && stats) stats.innerHTML = freshStats.innerHTML;
    } catch (error) {
      // The server is restarting or gone: try again on the next tick.
    } finally {
      busy = false;
    }
  }

  live.checked = window.localStorage.getItem(key) === "on";
  live.addEventListener("change", function () {
    window.localStorage.setItem(key, live.checked ? "on" : "off");
    refresh();
  });
  window.setInterval(refresh, 2000);
})();

// The filters' form: an empty field is no filter, so it is left out of the URL (the server
// reads "?name=" as no filter too). A value is sent as typed, spaces included: filters match
// exactly, as the public API's do.
(function () {
  const form = document.querySelector("form.filters");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value !== "") params.append(key, value);
    const query = params.toString();
    window.location.assign(form.getAttribute("action") + (query ? "?" + query : ""));
  });
})();

// The trace page without reloads: a click on a timeline row swaps in that row's detail panel,
// rendered (and escaped) by the server. Without this script the rows are plain links.
"use strict";

(function () {
  const detail = document.getElementById("detail");
  const tree = document.querySelector(".timeline .tree");
  if (!detail || !tree) return;
  let pending = null;
  let byArrow = false; // true while the arrow keys click a row

  function fragmentUrl(href) {
    const url = new URL(href, window.location.href);
    url.hash = "";
    url.pathname = url.pathname.replace(/\/$/, "") + "/detail";
    return url;
  }

  tree.addEventListener("click", async function (event) {
    const link = event.target.closest("a.row-link");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    const fromArrow = byArrow;
    byArrow = false;
    // Selected at once, so a held arrow key moves on from here before the panel arrives.
    const row = link.closest(".row");
    for (const other of tree.querySelectorAll(".row.selected")) other.classList.remove("selected");
    row.classList.add("selected");
    const url = new URL(link.href);
    url.hash = "";
    history.replaceState(null, "", url);
    const controller = new AbortController();
    if (pending) pending.abort();
    pending = controller;
    detail.classList.add("loading");
    try {
      const response = await fetch(fragmentUrl(link.href), { signal: controller.signal });
      if (!response.ok) throw new Error("HTTP " + response.status);
      detail.innerHTML = await response.text();
      detail.scrollTop = 0; // the new panel opens at its head, not where the last one was read
    } catch (error) {
      if (error.name === "AbortError") return;
      window.location.href = link.href; // let the server render the page instead
      return;
    } finally {
      if (pending === controller) {
        pending = null;
        detail.classList.remove("loading");
      }
    }
    // A click on a row of a long timeline shows the panel below it; the arrow keys stay put.
    if (!fromArrow && detail.getBoundingClientRect().top > window.innerHeight) {
      detail.scrollIntoView({ behavior: "smooth", block: "start" });
    }
  });

  // Keyboard: up and down move the selection through the timeline, and the focus with it (so
  // Enter and Tab go on from the selected row). With a modifier they keep their usual meaning.
  document.addEventListener("keydown", function (event) {
    if (event.target.closest("input, textarea, select")) return;
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const rows = Array.from(tree.querySelectorAll(".row"));
    const index = rows.findIndex((row) => row.classList.contains("selected"));
    const next = rows[index + (event.key === "ArrowDown" ? 1 : -1)];
    if (!next) return;
    event.preventDefault();
    const link = next.querySelector("a.row-link");
    byArrow = true;
    link.click();
    link.focus({ preventScroll: true });
    next.scrollIntoView({ block: "nearest" });
  });
})();
