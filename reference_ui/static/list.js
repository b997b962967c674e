// The invocations list: status filter, search by service / key / id, refreshed every few seconds.
// The filter and the search live in the URL hash (#/invocations?status=failed&q=Alice) so a
// filtered view can be bookmarked and shared.

import { listInvocations } from "./api.js";
import { add, clear, errorBox, h, invocationHref, link } from "./dom.js";
import { fmtTime } from "./format.js";
import { FILTERS, displayStatus, findFilter, matchesFilter, matchesSearch } from "./status.js";

const REFRESH_MS = 2000;
const LIMIT = 1000;

export function statusBadge(inv) {
  const s = displayStatus(inv);
  const f = inv.last_failure;
  const title = f ? `last error ${f.code ?? ""}: ${f.message ?? ""}` : undefined;
  return h("span", { class: `badge status-${s}`, "data-status": s, title }, s);
}

function row(inv) {
  return h(
    "tr",
    { dataset: { id: inv.id, status: displayStatus(inv) } },
    h("td", {}, link(invocationHref(inv.id), inv.id, { class: "mono" })),
    h("td", {}, inv.target),
    h("td", {}, statusBadge(inv)),
    h("td", { class: "num" }, inv.retry_count ? String(inv.retry_count) : ""),
    h("td", { class: "num" }, String(inv.journal_length ?? "")),
    h("td", {}, fmtTime(inv.created_at)),
    h("td", {}, fmtTime(inv.modified_at)),
  );
}

export function renderList(root, params, navigate) {
  let filter = findFilter(params.get("status") || "all");
  let query = params.get("q") || "";
  const select = h(
    "select",
    { id: "status-filter", "aria-label": "status" },
    FILTERS.map((f) => h("option", { value: f.id, selected: f.id === filter.id }, f.label)),
  );
  const search = h("input", {
    id: "search",
    type: "search",
    placeholder: "search service, key or id",
    value: query,
    "aria-label": "search",
  });
  const count = h("span", { id: "count", class: "muted" });
  const body = h("tbody");
  const status = h("div", { id: "list-status" });
  const update = () => {
    const next = new URLSearchParams();
    if (select.value !== "all") next.set("status", select.value);
    if (search.value.trim()) next.set("q", search.value.trim());
    const qs = next.toString();
    // Rewrite the URL without re-rendering, so the search box keeps its focus.
    navigate(`#/invocations${qs ? `?${qs}` : ""}`, { replace: true, silent: true });
    filter = findFilter(select.value);
    query = search.value;
    load();
  };
  select.addEventListener("change", update);
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  });
  search.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && /^inv_[0-9A-Za-z]+$/.test(search.value.trim())) {
      navigate(invocationHref(search.value.trim()));
    }
  });

  add(clear(root), 
    h("h1", {}, "Invocations"),
    h("div", { class: "toolbar" }, h("label", {}, "Status ", select), h("label", {}, "Search ", search), count),
    status,
    h(
      "table",
      { id: "invocations", class: "grid" },
      h(
        "thead",
        {},
        h("tr", {}, ["id", "target", "status", "retries", "journal", "created", "modified"].map((c) => h("th", {}, c))),
      ),
      body,
    ),
  );

  let alive = true;
  let generation = 0;
  const load = async () => {
    const seq = ++generation;
    try {
      const answer = await listInvocations({ status: filter.api, limit: String(LIMIT) });
      if (!alive || seq !== generation) return; // a newer load (other filter) owns the table
      const rows = (answer.invocations || [])
        .filter((inv) => matchesFilter(inv, filter) && matchesSearch(inv, query))
        .sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
      clear(status);
      add(clear(body), ...rows.map(row));
      if (!rows.length) add(body, h("tr", { class: "empty" }, h("td", { colspan: "7" }, "No invocations match.")));
      count.textContent = `${rows.length} shown`;
      root.dataset.loaded = "true";
    } catch (err) {
      if (alive && seq === generation) add(clear(status), errorBox(err));
    }
  };
  load();
  const interval = setInterval(load, REFRESH_MS);
  return () => {
    alive = false;
    clearInterval(interval);
    clearTimeout(timer);
  };
}
