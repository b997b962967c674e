// Formatting of times, durations and tagged payloads ({value} | {value_bytes} | {void} | {failure}).

export function fmtTime(value) {
  if (value === undefined || value === null) return "";
  const d = typeof value === "number" ? new Date(value) : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toISOString().replace("T", " ").replace("Z", " UTC");
}

export function fmtDuration(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return "";
  const sign = ms < 0 ? "-" : "";
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1000).toFixed(abs < 10_000 ? 2 : 1)} s`;
  const units = [["d", 86_400], ["h", 3_600], ["min", 60], ["s", 1]];
  let rest = Math.round(abs / 1000);
  const parts = [];
  for (const [name, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n || parts.length) parts.push(`${n} ${name}`);
  }
  return sign + parts.slice(0, 2).join(" ");
}

export function relative(ms, now = Date.now()) {
  const delta = ms - now;
  return delta >= 0 ? `in ${fmtDuration(delta)}` : `${fmtDuration(-delta)} ago`;
}

export function fmtJson(v) {
  if (typeof v === "string") return JSON.stringify(v);
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

// A tagged result -> { kind: "value" | "bytes" | "void" | "failure" | "invocation", text }
export function fmtResult(result) {
  if (!result || typeof result !== "object") return null;
  if ("failure" in result) {
    const f = result.failure || {};
    return { kind: "failure", text: `failure ${f.code ?? ""}: ${f.message ?? ""}`.trim() };
  }
  if ("value" in result) return { kind: "value", text: fmtJson(result.value) };
  if ("value_bytes" in result) return { kind: "bytes", text: `bytes (base64) ${result.value_bytes}` };
  if ("invocation_id" in result) return { kind: "invocation", text: result.invocation_id };
  if ("void" in result) return { kind: "void", text: "void" };
  return { kind: "value", text: fmtJson(result) };
}

export function payloadOf(entry) {
  for (const k of ["value", "value_bytes", "void", "failure"]) if (k in entry) return { [k]: entry[k] };
  return null;
}

export function shorten(text, max = 160) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// A state value as the admin API returns it: a tagged payload ({value} or {value_bytes}),
// shown as its JSON value; anything else as raw JSON.
export function fmtStateValue(v) {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === "value") return fmtJson(v.value);
    if (keys.length === 1 && keys[0] === "value_bytes") return `bytes (base64) ${v.value_bytes}`;
  }
  return fmtJson(v);
}
