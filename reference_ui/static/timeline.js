// The journal as a timeline: one item per command, with its completion folded in.
//
// The admin API returns the journal as stored: commands (what the handler did) and
// notifications (completions and signals the server appended). A reader wants "step X
// returned Y", not two entries, so each completion is attached to the command that owns its
// completion id; signals (cancel, awakeables) stay items of their own. Durations are shown
// when the API gives entry timestamps (`appended_at` on a journal view); the last failure of a
// retrying invocation is shown on the command it names (`related_command_index`).

import { h, invocationHref, link } from "./dom.js";
import { fmtDuration, fmtJson, fmtResult, fmtTime, payloadOf, relative, shorten } from "./format.js";

const CANCEL_SIGNAL = 1;

function target(entry) {
  return [entry.service, entry.key, entry.handler].filter((p) => p !== undefined && p !== null).join("/");
}

function attachTarget(t) {
  if (!t) return "";
  if (t.invocation_id) return t.invocation_id;
  if (t.workflow_name) return `${t.workflow_name}/${t.workflow_key}`;
  return `${t.service}/${t.handler} (idempotency key ${t.idempotency_key})`;
}

// The headline and details of one command: [kind, title, details[]]
function describe(entry, completions) {
  const name = entry.name ? ` «${entry.name}»` : "";
  switch (entry.type) {
    case "input":
      return ["input", "Input", [fmtJson(entry.parameter?.value ?? entry.parameter)]];
    case "output":
      return ["output", "Output", []];
    case "run":
      return ["step", `Step${name || ` #${entry.completion_id}`}`, []];
    case "sleep": {
      const wake = entry.wake_up_time_ms;
      return ["timer", `Timer${name}`, [`wakes up at ${fmtTime(wake)} (${relative(wake)})`]];
    }
    case "get_promise":
      return ["promise", `Await promise «${entry.key}»`, []];
    case "peek_promise":
      return ["promise", `Peek promise «${entry.key}»`, []];
    case "complete_promise":
      return ["promise", `Complete promise «${entry.key}»`, [shorten(fmtResult(payloadOf(entry))?.text ?? "")]];
    case "call":
    case "send": {
      const idNote = completions.get(entry.invocation_id_completion_id);
      const callee = idNote?.result?.invocation_id;
      const when = entry.invoke_time_ms ? [`scheduled for ${fmtTime(entry.invoke_time_ms)}`] : [];
      const details = [
        callee ? h("span", {}, "callee ", link(invocationHref(callee), callee, { class: "mono callee" })) : "callee id pending",
        ...when,
      ];
      if (entry.parameter) details.push(`parameter ${shorten(fmtJson(entry.parameter.value ?? entry.parameter))}`);
      return ["call", `${entry.type === "call" ? "Call" : "Send"}${name} ${target(entry)}`, details];
    }
    case "attach_invocation":
    case "get_invocation_output": {
      const t = attachTarget(entry.target);
      const ref = entry.target?.invocation_id ? link(invocationHref(t), t, { class: "mono" }) : t;
      return ["call", entry.type === "attach_invocation" ? "Attach to" : "Get output of", [ref]];
    }
    case "get_state":
      return ["state", `Get state «${entry.key}»`, []];
    case "set_state":
      return ["state", `Set state «${entry.key}»`, [shorten(fmtJson(entry.parameter?.value ?? entry.parameter))]];
    case "clear_state":
      return ["state", `Clear state «${entry.key}»`, []];
    case "clear_all_state":
      return ["state", "Clear all state", []];
    case "get_state_keys":
      return ["state", "Get state keys", [fmtJson(entry.keys ?? [])]];
    case "send_signal": {
      const what = entry.signal_id === CANCEL_SIGNAL ? "Forward cancel" : `Send signal ${entry.signal_id}`;
      const to = entry.target_invocation_id;
      return ["signal", `${what} to`, [to ? link(invocationHref(to), to, { class: "mono" }) : ""]];
    }
    case "complete_awakeable":
      return ["signal", "Complete awakeable", [entry.awakeable_id, shorten(fmtResult(payloadOf(entry))?.text ?? "")]];
    default:
      return ["other", entry.type, [shorten(fmtJson(entry))]];
  }
}

// -> list of items {index, kind, type, title, details, result, state, durationMs, error}
export function buildTimeline(inv) {
  const journal = inv.journal || [];
  const completions = new Map();
  for (const v of journal) {
    if (v.type === "completion") completions.set(v.entry.completion_id, v);
  }
  const failure = inv.status !== "completed" ? inv.last_failure : null;
  const items = [];
  for (const v of journal) {
    if (v.type === "completion") continue;
    const e = v.entry || {};
    if (v.type === "signal") {
      const cancel = e.signal_id === CANCEL_SIGNAL;
      items.push({
        index: v.index,
        kind: cancel ? "cancel" : "signal",
        type: v.type,
        title: cancel ? "Cancel requested" : `Signal ${e.signal_id} (awakeable)`,
        details: [],
        result: cancel ? null : fmtResult(v.result),
        state: "done",
      });
      continue;
    }
    const [kind, title, details] = describe(e, completions);
    const mainId = e.completion_id ?? e.invocation_id_completion_id;
    const note = mainId !== undefined ? completions.get(mainId) : undefined;
    let result = null;
    let state = "done";
    if (mainId !== undefined) {
      result = note ? fmtResult(note.result) : null;
      state = note ? "done" : "waiting";
      if (e.type === "send") {
        result = null; // a send completes with the callee's id only
        state = "done";
      }
    } else if (e.type === "output" || e.type === "get_state") {
      result = fmtResult(v.result ?? payloadOf(e));
    }
    if (result && result.kind === "failure") state = "failed";
    const item = { index: v.index, kind, type: v.type, title, details, result, state };
    if (note) item.completedAt = note.index;
    if (v.appended_at && note?.appended_at) item.durationMs = Date.parse(note.appended_at) - Date.parse(v.appended_at);
    if (failure && failure.related_command_index === v.index) {
      item.error = failure;
      item.state = "retrying";
    }
    items.push(item);
  }
  if (failure && !items.some((i) => i.error)) {
    items.push({ index: null, kind: "retry", type: "error", title: "Attempt failed", details: [], state: "retrying", error: failure });
  }
  return items;
}

function itemView(item, retryCount) {
  const marker = h("span", { class: `marker kind-${item.kind}` });
  const meta = [
    item.index !== null ? h("span", { class: "idx mono" }, `#${item.index}`) : null,
    h("span", { class: `state state-${item.state}` }, item.state),
    item.completedAt !== undefined ? h("span", { class: "muted" }, `completed at #${item.completedAt}`) : null,
    item.durationMs !== undefined ? h("span", { class: "duration" }, fmtDuration(item.durationMs)) : null,
  ];
  const body = [h("div", { class: "title" }, item.title), h("div", { class: "meta" }, meta)];
  for (const d of item.details) body.push(h("div", { class: "detail" }, d));
  if (item.result) {
    body.push(h("div", { class: `result result-${item.result.kind}` }, "→ ", shorten(item.result.text, 400)));
  }
  if (item.error) {
    const e = item.error;
    const at = e.related_command_type ? ` (at ${e.related_command_type}${e.related_command_name ? ` «${e.related_command_name}»` : ""})` : "";
    body.push(
      h(
        "div",
        { class: "retry" },
        `Retrying — ${retryCount} failed attempt(s)${at}. Last error ${e.code ?? ""}: ${e.message ?? ""}`,
      ),
    );
  }
  return h(
    "li",
    { class: `tl-item tl-${item.kind} tl-state-${item.state}`, dataset: { index: item.index ?? "", kind: item.kind, type: item.type } },
    marker,
    h("div", { class: "tl-body" }, body),
  );
}

export function renderTimeline(inv) {
  const items = buildTimeline(inv);
  if (!items.length) return h("p", { class: "muted" }, "The journal is empty (the invocation has not started yet).");
  return h("ol", { id: "timeline", class: "timeline" }, items.map((i) => itemView(i, inv.retry_count ?? 0)));
}
