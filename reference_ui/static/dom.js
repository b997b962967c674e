// Tiny DOM helpers. Everything the server sends is inserted as text (never as HTML),
// so journal payloads and error messages cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

// Append children, skipping null / undefined / false (the DOM's own append would print "null").
export function add(el, ...children) {
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export const link = (href, text, attrs = {}) => h("a", { href, ...attrs }, text);
export const invocationHref = (id) => `#/invocations/${encodeURIComponent(id)}`;
export const serviceHref = (name) => `#/services/${encodeURIComponent(name)}`;
export const deploymentHref = (id) => `#/deployments/${encodeURIComponent(id)}`;

export function errorBox(err) {
  return h("div", { class: "error", role: "alert" }, err && err.message ? err.message : String(err));
}

export function kv(rows) {
  return h(
    "dl",
    { class: "kv" },
    rows.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
  );
}
