// Client of the admin JSON API (spec/06-admin.md) on the page's own origin.
// Every call returns the parsed JSON body or throws an ApiError carrying the server's
// {"code", "message"} error body, so views can show the server's own words.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const enc = encodeURIComponent;

async function request(method, path) {
  let response;
  try {
    response = await fetch(path, { method, headers: { accept: "application/json" } });
  } catch (err) {
    throw new ApiError(0, `cannot reach the admin API: ${err.message}`);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { message: text };
  }
  if (!response.ok) {
    const message = body && typeof body.message === "string" ? body.message : response.statusText;
    throw new ApiError(response.status, `${response.status}: ${message}`);
  }
  return body;
}

export function listInvocations(params) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") query.set(k, v);
  return request("GET", `/invocations?${query}`);
}
export const getInvocation = (id) => request("GET", `/invocations/${enc(id)}`);
export const controlInvocation = (id, action) => request("PATCH", `/invocations/${enc(id)}/${action}`);
export const getState = (service, key) => request("GET", `/services/${enc(service)}/state/${enc(key)}`);
export const listServices = () => request("GET", "/services");
export const getService = (name) => request("GET", `/services/${enc(name)}`);
export const listDeployments = () => request("GET", "/deployments");
export const getDeployment = (id) => request("GET", `/deployments/${enc(id)}`);
export const health = () => request("GET", "/health");
