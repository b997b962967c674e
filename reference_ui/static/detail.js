// One invocation: summary, cancel / kill / purge, last failure, output, the journal timeline
// and the state of its object or workflow. Refreshed while the invocation is not completed,
// so a waiting workflow's timers, reminders and state can be watched live.

import { controlInvocation, getInvocation, getState } from "./api.js";
import { add, clear, errorBox, h, invocationHref, kv, link, serviceHref } from "./dom.js";
import { fmtDuration, fmtResult, fmtStateValue, fmtTime } from "./format.js";
import { statusBadge } from "./list.js";
import { isFinished } from "./status.js";
import { renderTimeline } from "./timeline.js";

const REFRESH_MS = 1000;

function summary(inv) {
  return kv([
    ["target", link(serviceHref(inv.service), inv.target)],
    ["status", statusBadge(inv)],
    ["service type", inv.service_ty],
    ["key", inv.key],
    ["idempotency key", inv.idempotency_key],
    ["invoked by", inv.invoked_by ? link(invocationHref(inv.invoked_by), inv.invoked_by, { class: "mono" }) : null],
    ["created", fmtTime(inv.created_at)],
    ["modified", fmtTime(inv.modified_at)],
    ["scheduled at", inv.scheduled_at ? fmtTime(inv.scheduled_at) : null],
    ["completed", inv.completed_at ? fmtTime(inv.completed_at) : null],
    [inv.completed_at ? "took" : "running for", fmtDuration(Date.parse(inv.completed_at || new Date().toISOString()) - Date.parse(inv.created_at))],
    ["failed attempts", inv.retry_count ? String(inv.retry_count) : null],
    ["journal entries", String(inv.journal_length ?? 0)],
  ]);
}

function outputBox(inv) {
  if (!inv.output) return null;
  const r = fmtResult(inv.output);
  return h("section", { id: "output" }, h("h2", {}, "Output"), h("pre", { class: `result result-${r.kind}` }, r.text));
}

function failureBox(inv) {
  const f = inv.last_failure;
  if (!f || isFinished(inv)) return null;
  return h(
    "div",
    { id: "last-failure", class: "warning", role: "status" },
    h("strong", {}, `Backing off after ${inv.retry_count ?? 0} failed attempt(s). `),
    `Last error ${f.code ?? ""}: ${f.message ?? ""}`,
    f.related_command_index !== undefined ? ` (journal #${f.related_command_index})` : "",
  );
}

async function stateBox(inv) {
  if (inv.service_ty === "Service" || inv.key === undefined) return null;
  const box = h("section", { id: "state" }, h("h2", {}, inv.service_ty === "Workflow" ? "Workflow state" : "Object state"));
  try {
    const answer = await getState(inv.service, inv.key);
    const entries = Object.entries(answer.state || {});
    if (!entries.length) add(box, h("p", { class: "muted" }, `No state stored for ${inv.service}/${inv.key}.`));
    else {
      add(box, 
        h(
          "table",
          { class: "grid state" },
          h("thead", {}, h("tr", {}, h("th", {}, "key"), h("th", {}, "value"))),
          h("tbody", {}, entries.map(([k, v]) => h("tr", { dataset: { key: k } }, h("td", { class: "mono" }, k), h("td", { class: "mono" }, fmtStateValue(v))))),
        ),
      );
    }
  } catch (err) {
    add(box, errorBox(err));
  }
  return box;
}

function actions(inv, onDone, message) {
  const act = (action, confirmText) => async () => {
    if (confirmText && !window.confirm(confirmText)) return;
    try {
      const answer = await controlInvocation(inv.id, action);
      add(clear(message), h("div", { class: "notice", role: "status" }, `${action}: ${answer.status}`));
    } catch (err) {
      add(clear(message), errorBox(err));
    }
    onDone();
  };
  const done = isFinished(inv);
  return h(
    "div",
    { class: "actions" },
    h("button", { id: "cancel", type: "button", disabled: done, onclick: act("cancel") }, "Cancel"),
    h(
      "button",
      { id: "kill", type: "button", class: "danger", disabled: done, onclick: act("kill", `Kill ${inv.id}? No compensation will run.`) },
      "Kill",
    ),
    h("button", { id: "purge", type: "button", disabled: !done, onclick: act("purge", `Purge ${inv.id}?`) }, "Purge"),
  );
}

export function renderDetail(root, id) {
  const message = h("div", { id: "action-message" });
  let alive = true;
  let last = "";
  let timer = null;
  const load = async () => {
    clearTimeout(timer);
    let inv;
    try {
      inv = await getInvocation(id);
    } catch (err) {
      if (!alive) return;
      add(clear(root), h("h1", {}, "Invocation"), h("p", { class: "mono" }, id), errorBox(err), message);
      timer = setTimeout(load, REFRESH_MS * 3);
      return;
    }
    if (!alive) return;
    const state = await stateBox(inv);
    if (!alive) return;
    const fingerprint = JSON.stringify([inv, state ? state.textContent : null]);
    if (fingerprint !== last) {
      last = fingerprint;
      add(clear(root), 
        h("p", { class: "crumbs" }, link("#/invocations", "Invocations"), " / ", h("span", { class: "mono" }, inv.id)),
        h("h1", {}, inv.target, " ", statusBadge(inv)),
        actions(inv, load, message),
        message,
        failureBox(inv),
        h("div", { class: "columns" },
          h("section", { id: "journal" }, h("h2", {}, "Journal"), renderTimeline(inv)),
          h("aside", {}, h("section", { id: "summary" }, h("h2", {}, "Summary"), summary(inv)), outputBox(inv), state),
        ),
        h("details", { class: "raw" }, h("summary", {}, "Raw JSON"), h("pre", {}, JSON.stringify(inv, null, 2))),
      );
      root.dataset.loaded = "true";
      root.dataset.status = inv.status;
    }
    // Keep polling until the invocation is completed *and* its journal is all there: the
    // summary can run ahead of the journal for a moment (the row before its entries commit).
    const settled = isFinished(inv) && (inv.journal || []).length >= (inv.journal_length || 0);
    if (!settled) timer = setTimeout(load, REFRESH_MS);
  };
  load();
  return () => {
    alive = false;
    clearTimeout(timer);
  };
}
