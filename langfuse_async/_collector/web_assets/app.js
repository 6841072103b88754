// The web view's script. Every page works without it (rows and chips are plain links, the
// filters a plain form); it adds the Live switch, selection without reloads and the keyboard.
"use strict";

// Where the trace list was last seen in this tab (its filters and page): the trace page's
// "Traces" link goes back there rather than to the unfiltered first page.
const LIST_KEY = "langfuse-async.list";

// The trace list's "Live" switch: while on (remembered in this browser), the results and the
// header's counts are fetched again every two seconds and swapped in; the filters stay as typed.
(function () {
  const results = document.getElementById("results");
  const live = document.getElementById("live");
  if (!results || !live) return;
  const key = "langfuse-async.live";
  let busy = false;
  window.sessionStorage.setItem(LIST_KEY, window.location.pathname + window.location.search);

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
// exactly, as the public API's do. A field cannot hold a line break: one left as the page
// filled it sends the value it was filled with (a user id with a line break, from a chip).
(function () {
  const form = document.querySelector("form.filters");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const field of form.querySelectorAll("input[name]")) {
      const given = field.defaultValue;
      const kept = field.value === given.replace(/[\r\n]/g, "") ? given : field.value;
      if (kept !== "") params.append(field.name, kept);
    }
    const query = params.toString();
    window.location.assign(form.getAttribute("action") + (query ? "?" + query : ""));
  });
})();

// The trace page without reloads: selecting a row (a click, or the arrow keys) swaps in its
// detail panel, rendered (and escaped) by the server, and adds the selection to the browser's
// history, so the URL can be shared or reloaded, and Back and Forward step through what was
// selected. A run of arrow-key moves is one step of history (Back returns to where it began).
(function () {
  const detail = document.getElementById("detail");
  const tree = document.querySelector(".timeline .tree");
  if (!detail || !tree) return;
  const traceTitle = document.title;
  let pending = null;
  let arrowRun = false; // true while the current entry of history is an arrow-key run's

  const crumb = document.querySelector(".crumbs > a");
  const list = window.sessionStorage.getItem(LIST_KEY);
  if (crumb && list && list.startsWith("/")) crumb.setAttribute("href", list);

  // The observation a URL selects ("" for the trace itself), or null for another page.
  function selectionOf(href) {
    const url = new URL(href, window.location.href);
    if (url.origin !== window.location.origin || url.pathname !== window.location.pathname) {
      return null;
    }
    return url.searchParams.get("observation") || "";
  }

  function rowOf(observationId) {
    for (const row of tree.querySelectorAll(".row")) {
      if (row.dataset.observationId === observationId) return row;
    }
    return null;
  }

  // Mark the row selected; only it is in the Tab order (Tab goes on to the panel, not through
  // every row), the arrow keys move between rows.
  function mark(row) {
    for (const other of tree.querySelectorAll(".row.selected")) {
      other.classList.remove("selected");
      other.querySelector("a.row-link").removeAttribute("aria-current");
    }
    for (const link of tree.querySelectorAll("a.row-link")) link.tabIndex = -1;
    if (!row) return;
    row.classList.add("selected");
    const link = row.querySelector("a.row-link");
    link.setAttribute("aria-current", "true");
    link.tabIndex = 0;
  }

  // The window's title (and so the entry's in the history menu) names the selection.
  function retitle(observationId) {
    const name = observationId && rowOf(observationId) ? detail.querySelector(".detail-head h2") : null;
    document.title = name ? name.textContent + " \u00b7 " + traceTitle : traceTitle;
  }

  // Show the selection of the current URL: its row marked at once (so a held arrow key moves
  // on from it before the panel arrives), then its panel.
  async function show() {
    const observationId = selectionOf(window.location.href);
    mark(rowOf(observationId));
    const controller = new AbortController();
    if (pending) pending.abort();
    pending = controller;
    detail.classList.add("loading");
    const url = new URL(window.location.href);
    url.hash = "";
    url.pathname = url.pathname.replace(/\/$/, "") + "/detail";
    try {
      const response = await fetch(url, { signal: controller.signal });
      if (!response.ok) throw new Error("HTTP " + response.status);
      detail.innerHTML = await response.text();
      detail.scrollTop = 0; // the new panel opens at its head, not where the last one was read
      retitle(observationId);
      return true;
    } catch (error) {
      if (error.name === "AbortError") return false;
      window.location.reload(); // let the server render the page instead
      return false;
    } finally {
      if (pending === controller) {
        pending = null;
        detail.classList.remove("loading");
      }
    }
  }

  // Select what `href` names, as a new entry of history; the arrow keys' moves after the first
  // of a run change the run's entry instead.
  async function select(href, byArrow) {
    const url = new URL(href, window.location.href);
    url.hash = "";
    if (url.href === window.location.href) return;
    if (byArrow && arrowRun) history.replaceState(null, "", url);
    else history.pushState(null, "", url);
    arrowRun = byArrow;
    const shown = await show();
    // A click on a row of a long timeline shows the panel below it; the arrow keys stay put.
    if (shown && !byArrow && detail.getBoundingClientRect().top > window.innerHeight) {
      detail.scrollIntoView({ behavior: "smooth", block: "start" });
    }
  }

  // Clicks on the rows, and on links to an observation of this trace elsewhere on the page (a
  // parent, a score's target). With a modifier a link opens as usual (a new tab, say).
  document.addEventListener("click", function (event) {
    const link = event.target.closest("a[href]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    if (event.altKey || link.target || selectionOf(link.href) === null) return;
    event.preventDefault();
    select(link.href, false);
  });

  // Back and Forward: show the selection the URL names, its row in view.
  window.addEventListener("popstate", function () {
    arrowRun = false;
    show();
    const row = tree.querySelector(".row.selected");
    if (row) row.scrollIntoView({ block: "nearest" });
  });

  // Keyboard: up and down move the selection through the timeline, and the focus with it (so
  // Enter and Tab go on from the selected row); Home and End, with the focus on a row, go to
  // the first and the last. With a modifier, in a field, or in the detail panel (which they
  // scroll), the keys keep their usual meaning.
  document.addEventListener("keydown", function (event) {
    if (event.target.closest("input, textarea, select, #detail")) return;
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const rows = Array.from(tree.querySelectorAll(".row"));
    const index = rows.findIndex((row) => row.classList.contains("selected"));
    let next;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      next = rows[index + (event.key === "ArrowDown" ? 1 : -1)];
    } else if ((event.key === "Home" || event.key === "End") && tree.contains(event.target)) {
      next = rows[event.key === "Home" ? 0 : rows.length - 1];
    }
    if (!next || next === rows[index]) return;
    event.preventDefault();
    const link = next.querySelector("a.row-link");
    link.focus({ preventScroll: true });
    next.scrollIntoView({ block: "nearest" });
    select(link.href, true);
  });

  // A shared or reloaded link: the selected row in view, and the only row in the Tab order.
  const selected = tree.querySelector(".row.selected");
  mark(selected);
  retitle(selectionOf(window.location.href));
  if (selected && selected.getBoundingClientRect().top > window.innerHeight) {
    selected.scrollIntoView({ block: "center" });
  }
})();
