// Entry point: a hash router (#/invocations, #/invocations/ID, #/services, #/services/NAME,
// #/deployments, #/deployments/ID). Hash routes need no server-side routing, so the admin
// server only has to serve index.html at "/" and the modules under "/ui/".

import { health } from "./api.js";
import { renderDeployment, renderDeployments, renderService, renderServices } from "./catalog.js";
import { renderDetail } from "./detail.js";
import { renderList } from "./list.js";

const view = document.getElementById("view");
let cleanup = null;

export function navigate(hash, { replace = false, silent = false } = {}) {
  if (silent) {
    history.replaceState(null, "", hash);
    return;
  }
  if (replace) location.replace(hash);
  else location.hash = hash;
}

function parse() {
  const raw = location.hash.replace(/^#/, "") || "/invocations";
  const [path, qs] = raw.split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(qs || "") };
}

function route() {
  if (cleanup) cleanup();
  cleanup = null;
  delete view.dataset.loaded;
  const { parts, params } = parse();
  const [section, id] = parts;
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === (section || "invocations"));
  view.dataset.page = id ? `${section}-detail` : section || "invocations";
  let result;
  if (section === "services") result = id ? renderService(view, id) : renderServices(view);
  else if (section === "deployments") result = id ? renderDeployment(view, id) : renderDeployments(view);
  else if (section === "invocations" && id) result = renderDetail(view, id);
  else result = renderList(view, params, navigate);
  cleanup = typeof result === "function" ? result : null;
  document.title = `durable · ${section || "invocations"}${id ? ` · ${id}` : ""}`;
}

async function checkHealth() {
  const el = document.getElementById("health");
  try {
    const answer = await health();
    el.textContent = `admin ${answer.status} · v${answer.version}`;
    el.className = "health ok";
  } catch (err) {
    el.textContent = "admin unreachable";
    el.className = "health bad";
  }
}

window.addEventListener("hashchange", route);
route();
checkHealth();
setInterval(checkHealth, 10_000);
