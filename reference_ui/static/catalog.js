// Deployments and services: what is registered, where it runs, its handlers and retry
// policies; a keyed service's page can look up the state of one key.

import { getDeployment, getService, getState, listDeployments, listServices } from "./api.js";
import { add, clear, deploymentHref, errorBox, h, kv, link, serviceHref } from "./dom.js";
import { fmtJson, fmtStateValue, fmtTime } from "./format.js";

function retryText(p) {
  if (!p) return "";
  return Object.entries(p).map(([k, v]) => `${k}=${v}`).join(", ");
}

function servicesTable(services) {
  return h(
    "table",
    { id: "services", class: "grid" },
    h("thead", {}, h("tr", {}, ["name", "type", "handlers", "deployment", "revision", "public"].map((c) => h("th", {}, c)))),
    h(
      "tbody",
      {},
      services.map((s) =>
        h(
          "tr",
          { dataset: { name: s.name } },
          h("td", {}, link(serviceHref(s.name), s.name)),
          h("td", {}, s.ty),
          h("td", {}, (s.handlers || []).map((x) => x.name).join(", ")),
          h("td", {}, link(deploymentHref(s.deployment_id), s.deployment_id, { class: "mono" })),
          h("td", { class: "num" }, String(s.revision ?? "")),
          h("td", {}, s.public === false ? "no" : "yes"),
        ),
      ),
    ),
  );
}

export async function renderServices(root) {
  add(clear(root), h("h1", {}, "Services"));
  try {
    const answer = await listServices();
    const services = (answer.services || []).sort((a, b) => a.name.localeCompare(b.name));
    add(root, services.length ? servicesTable(services) : h("p", { class: "muted" }, "No services: register a deployment first."));
  } catch (err) {
    add(root, errorBox(err));
  }
  root.dataset.loaded = "true";
}

function stateLookup(svc) {
  const input = h("input", { id: "state-key", type: "text", placeholder: "key", "aria-label": "key" });
  const out = h("div", { id: "state-result" });
  const lookup = async (ev) => {
    ev.preventDefault();
    clear(out);
    try {
      const answer = await getState(svc.name, input.value);
      const entries = Object.entries(answer.state || {});
      add(out, 
        entries.length
          ? h("table", { class: "grid state" }, h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("td", { class: "mono" }, k), h("td", { class: "mono" }, fmtStateValue(v))))))
          : h("p", { class: "muted" }, "No state for this key."),
      );
    } catch (err) {
      add(out, errorBox(err));
    }
  };
  return h(
    "section",
    {},
    h("h2", {}, "State"),
    h("form", { class: "toolbar", onsubmit: lookup }, input, h("button", { type: "submit" }, "Look up")),
    out,
  );
}

export async function renderService(root, name) {
  add(clear(root), h("p", { class: "crumbs" }, link("#/services", "Services"), " / ", name));
  try {
    const svc = await getService(name);
    add(root, 
      h("h1", {}, svc.name, " ", h("span", { class: "badge" }, svc.ty)),
      kv([
        ["deployment", link(deploymentHref(svc.deployment_id), svc.deployment_id, { class: "mono" })],
        ["revision", String(svc.revision ?? "")],
        ["public", svc.public === false ? "no" : "yes"],
        ["retry policy", retryText(svc.retry_policy)],
        ["documentation", svc.documentation],
        ["invocations", link(`#/invocations?q=${encodeURIComponent(svc.name)}`, "show")],
      ]),
      h("h2", {}, "Handlers"),
      h(
        "table",
        { id: "handlers", class: "grid" },
        h("thead", {}, h("tr", {}, ["name", "type", "input", "output", "retry policy"].map((c) => h("th", {}, c)))),
        h(
          "tbody",
          {},
          (svc.handlers || []).map((x) =>
            h(
              "tr",
              {},
              h("td", {}, x.name),
              h("td", {}, x.ty ?? ""),
              h("td", { class: "mono" }, x.input_json_schema ? fmtJson(x.input_json_schema) : x.input_content_type ?? ""),
              h("td", { class: "mono" }, x.output_json_schema ? fmtJson(x.output_json_schema) : x.output_content_type ?? ""),
              h("td", {}, retryText(x.retry_policy)),
            ),
          ),
        ),
      ),
      svc.ty === "Service" ? null : stateLookup(svc),
    );
  } catch (err) {
    add(root, errorBox(err));
  }
  root.dataset.loaded = "true";
}

export async function renderDeployments(root) {
  add(clear(root), h("h1", {}, "Deployments"));
  try {
    const answer = await listDeployments();
    const deps = answer.deployments || [];
    add(root, 
      deps.length
        ? h(
            "table",
            { id: "deployments", class: "grid" },
            h("thead", {}, h("tr", {}, ["id", "uri", "protocol", "created", "services"].map((c) => h("th", {}, c)))),
            h(
              "tbody",
              {},
              deps.map((d) =>
                h(
                  "tr",
                  { dataset: { id: d.id } },
                  h("td", {}, link(deploymentHref(d.id), d.id, { class: "mono" })),
                  h("td", { class: "mono" }, d.uri),
                  h("td", {}, `v${d.min_protocol_version ?? "?"}–v${d.max_protocol_version ?? "?"}`),
                  h("td", {}, fmtTime(d.created_at)),
                  h("td", {}, (d.services || []).map((s, i) => [i ? ", " : "", link(serviceHref(s.name), s.name)])),
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, "No deployments. Register one with `durable deployments register URI`."),
    );
  } catch (err) {
    add(root, errorBox(err));
  }
  root.dataset.loaded = "true";
}

export async function renderDeployment(root, id) {
  add(clear(root), h("p", { class: "crumbs" }, link("#/deployments", "Deployments"), " / ", h("span", { class: "mono" }, id)));
  try {
    const d = await getDeployment(id);
    add(root, 
      h("h1", {}, "Deployment ", h("span", { class: "mono" }, d.id)),
      kv([
        ["uri", d.uri],
        ["protocol mode", d.protocol_mode],
        ["protocol versions", `${d.min_protocol_version ?? "?"}–${d.max_protocol_version ?? "?"}`],
        ["created", fmtTime(d.created_at)],
        ["additional headers", d.additional_headers ? Object.keys(d.additional_headers).join(", ") : null],
      ]),
      h("h2", {}, "Services"),
      servicesTable(d.services || []),
    );
  } catch (err) {
    add(root, errorBox(err));
  }
  root.dataset.loaded = "true";
}
